#!/usr/bin/env node
// Run one browser scenario against a running mephisto-io, in headless
// Debian chromium with a fresh profile.
//
//   node run.js SCENARIO BASE_URL [ARG...]
//
// SCENARIO names tests/browser/scenarios/SCENARIO.js, which exports
// async function (page, ctx); ctx has baseUrl, args, log(text) and
// expect(cond, message).  What the scenario logs goes to stdout; a
// failure prints "run.js: error: ..." (with the page's console) and
// exits 1.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.MEPHISTO_CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = Number(process.env.BROWSER_TIMEOUT_MS || 30000);

async function main() {
  const [name, baseUrl, ...args] = process.argv.slice(2);
  if (!name || !baseUrl) {
    process.stderr.write("usage: run.js SCENARIO BASE_URL [ARG...]\n");
    process.exit(2);
  }
  const scenario = require(path.join(__dirname, "scenarios", name + ".js"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "mph-chromium-"));
  const consoleLines = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // Tests of a TLS proxy use a self-signed certificate.
      ignoreHTTPSErrors: Boolean(process.env.MEPHISTO_BROWSER_INSECURE),
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    context.setDefaultTimeout(TIMEOUT_MS);
    const page = context.pages()[0] || (await context.newPage());
    page.on("console", (m) => consoleLines.push(m.type() + ": " + m.text()));
    page.on("pageerror", (e) => consoleLines.push("pageerror: " + e.message));
    page.on("dialog", (d) => {
      consoleLines.push("dialog: " + d.message());
      d.dismiss().catch(() => {});
    });
    const ctx = {
      baseUrl: baseUrl.replace(/\/$/, ""),
      args,
      console: consoleLines,
      log: (text) => process.stdout.write(text + "\n"),
      expect: (cond, message) => {
        if (!cond) throw new Error(message);
      },
      // Hand-shakes with the bats test driving the scenario.
      touch: (file) => fs.writeFileSync(file, ""),
      waitForFile: async (file, ms = TIMEOUT_MS) => {
        const end = Date.now() + ms;
        while (!fs.existsSync(file)) {
          if (Date.now() > end) throw new Error("no file " + file);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    };
    await scenario(page, ctx);
  } catch (e) {
    process.stderr.write("run.js: error: " + (e.stack || e) + "\n");
    for (const line of consoleLines) process.stderr.write("  " + line + "\n");
    process.exitCode = 1;
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main();
