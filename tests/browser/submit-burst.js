#!/usr/bin/env node
// Workers over real HTTP while the pool is killed: N mock workers each
// take a unit, then submit, 16 at a time; after KILL_AFTER "Submitted!"
// answers the pool (POOL_PIDFILE) gets SIGKILL.  Every submission that
// was not answered "Submitted!" is retried until it is.
//
//   node submit-burst.js BASE_URL N KILL_AFTER POOL_PIDFILE OUT_DIR
//
// Writes OUT_DIR/acked (agent ids answered "Submitted!" in the burst),
// OUT_DIR/failed (the others, with the answer), OUT_DIR/retried.
"use strict";
const fs = require("fs");
const path = require("path");

const [base, nArg, killArg, pidfile, out] = process.argv.slice(2);
const n = Number(nArg), killAfter = Number(killArg);
const CONCURRENCY = 16;

async function post(url, body) {
  try {
    const r = await fetch(base + url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20000),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { code: r.status, json, text };
  } catch (e) {
    return { code: 0, json: null, text: String(e) };
  }
}

async function register(i) {
  const name = "burst-" + i;
  for (;;) {
    const r = await post("/request_agent", {
      provider_data: { worker_name: name, agent_registration_id: "a-" + name,
        assignment_id: "a", provider_type: "mock" },
      client_timestamp: Date.now() / 1000,
    });
    if (r.code === 200 && r.json && r.json.data && r.json.data.agent_id)
      return r.json.data.agent_id;
    if (r.code !== 503) throw new Error("register " + name + ": " + r.code + " " + r.text);
    await new Promise((res) => setTimeout(res, 100));
  }
}

function submit(agent) {
  return post("/submit_task", {
    USED_AGENT_ID: agent,
    final_data: { answer: "from " + agent },
    client_timestamp: Date.now() / 1000,
  });
}

const submitted = (r) => r.code === 200 && r.json && r.json.status === "Submitted!";

async function main() {
  const agents = [];
  for (let i = 0; i < n; i++) agents.push(await register(i));
  const acked = [], failed = [];
  let killed = false, next = 0;
  // CONCURRENCY workers submit one after another, so when the kill lands
  // some submissions are in flight and the rest not yet sent.
  async function lane() {
    while (next < agents.length) {
      const a = agents[next++];
      const r = await submit(a);
      if (submitted(r)) {
        acked.push(a);
        if (!killed && acked.length >= killAfter) {
          killed = true;
          process.kill(Number(fs.readFileSync(pidfile, "utf8")), "SIGKILL");
        }
      } else {
        failed.push(a + " " + r.code + " " + r.text.replace(/\s+/g, " "));
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  fs.writeFileSync(path.join(out, "acked"), acked.join("\n") + "\n");
  fs.writeFileSync(path.join(out, "failed"), failed.join("\n") + "\n");
  const retried = [];
  for (const line of failed) {
    const a = line.split(" ")[0];
    for (let tries = 0; ; tries++) {
      const r = await submit(a);
      if (submitted(r)) break;
      if (tries > 300) throw new Error("retry of " + a + " never succeeded: " + r.text);
      await new Promise((res) => setTimeout(res, 100));
    }
    retried.push(a);
  }
  fs.writeFileSync(path.join(out, "retried"), retried.join("\n") + "\n");
}

main().catch((e) => {
  process.stderr.write("submit-burst.js: error: " + (e.stack || e) + "\n");
  process.exit(1);
});
