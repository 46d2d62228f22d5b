#!/usr/bin/env node
// A scripted WebSocket client for the mephisto-io tests.
//
//   node ws-client.js URL STEP...
//
// Steps run in order:
//   send:TEXT      send TEXT as one text message
//   frag:TEXT      send TEXT as a message in three fragments
//   bin:TEXT       send TEXT as a binary message
//   recv:N         wait until N messages in all have been received
//   wait:MS        sleep MS milliseconds
//   close          close the socket and stop
// Every message received is printed on its own line.  Exits 0 when the
// steps are done, 1 on a connection error or when a recv step times out
// (after --timeout MS, default 5000, given before the URL).
"use strict";
const WebSocket = require("ws");

let args = process.argv.slice(2);
let timeout = 5000;
if (args[0] === "--timeout") {
  timeout = Number(args[1]);
  args = args.slice(2);
}
const url = args.shift();
const steps = args;
const received = [];
let waiter = null;

const ws = new WebSocket(url);
ws.on("message", (data) => {
  const text = data.toString();
  received.push(text);
  process.stdout.write(text + "\n");
  if (waiter) waiter();
});
ws.on("error", (e) => {
  process.stderr.write("ws-client: error: " + e.message + "\n");
  process.exit(1);
});
ws.on("close", (code) => {
  if (waiter) {
    process.stderr.write("ws-client: closed (" + code + ") while waiting\n");
    process.exit(1);
  }
});

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function recv(n) {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (received.length >= n) {
        waiter = null;
        clearTimeout(t);
        resolve();
      }
    };
    const t = setTimeout(() => {
      waiter = null;
      reject(new Error("timed out waiting for " + n + " messages"));
    }, timeout);
    waiter = check;
    check();
  });
}

async function run() {
  for (const step of steps) {
    const i = step.indexOf(":");
    const verb = i < 0 ? step : step.slice(0, i);
    const arg = i < 0 ? "" : step.slice(i + 1);
    if (verb === "send") ws.send(arg);
    else if (verb === "bin") ws.send(Buffer.from(arg), { binary: true });
    else if (verb === "frag") {
      const a = Math.floor(arg.length / 3), b = Math.floor((2 * arg.length) / 3);
      ws.send(arg.slice(0, a), { fin: false });
      ws.send(arg.slice(a, b), { fin: false });
      ws.send(arg.slice(b), { fin: true });
    } else if (verb === "recv") await recv(Number(arg));
    else if (verb === "wait") await sleep(Number(arg));
    else if (verb === "close") break;
    else throw new Error("unknown step " + step);
  }
  ws.close();
  await sleep(50);
  process.exit(0);
}

ws.on("open", () =>
  run().catch((e) => {
    process.stderr.write("ws-client: error: " + e.message + "\n");
    process.exit(1);
  })
);
