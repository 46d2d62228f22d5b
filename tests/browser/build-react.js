#!/usr/bin/env node
// Bundle react-task/app.jsx (React 18 + mephisto-task 2.0.4) into OUT.
"use strict";
const path = require("path");
const esbuild = require("esbuild");

const out = process.argv[2];
if (!out) {
  process.stderr.write("usage: build-react.js OUT\n");
  process.exit(2);
}
esbuild
  .build({
    entryPoints: [path.join(__dirname, "react-task", "app.jsx")],
    bundle: true,
    outfile: out,
    minify: true,
    jsx: "automatic",
    loader: { ".js": "jsx" },
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
  })
  .catch(() => process.exit(1));
