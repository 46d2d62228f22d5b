#!/usr/bin/env node
// Bundle react-task/app.jsx, or ENTRY (React 18 + mephisto-task 2.0.4,
// from this folder's node_modules) into OUT.
//
//   node build-react.js OUT [ENTRY]
"use strict";
const path = require("path");
const esbuild = require("esbuild");

const out = process.argv[2];
const entry = process.argv[3] || path.join(__dirname, "react-task", "app.jsx");
if (!out) {
  process.stderr.write("usage: build-react.js OUT\n");
  process.exit(2);
}
esbuild
  .build({
    entryPoints: [entry],
    nodePaths: [path.join(__dirname, "node_modules")],
    bundle: true,
    outfile: out,
    minify: true,
    jsx: "automatic",
    loader: { ".js": "jsx" },
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
  })
  .catch(() => process.exit(1));
