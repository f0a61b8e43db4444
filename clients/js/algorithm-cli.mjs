#!/usr/bin/env node
// Command line for the JavaScript port of initw-v1 (./algorithm.mjs): tensor bytes as hex.
//
//   node clients/js/algorithm-cli.mjs '{"seed": 0, "tensor": {"name": "weight", "shape": [2, 3], "scheme": {"name": "normal"}}}'
//   echo '[{...}, {...}]' | node clients/js/algorithm-cli.mjs
//
// A request is {"seed", "tensor", "start"?, "stop"?}: "tensor" is a canonical tensor spec as in
// tests/golden/v1.json ({name, shape, dtype, layout, scheme: {name, ...params}, fan_in?, fan_out?});
// seeds may be JSON integers up to 2^64 - 1 (read exactly) or decimal strings. For each request,
// one line: the stored little-endian bytes of elements [start, stop) as lowercase hex, or
// "error: <message>" if the algorithm refuses it. Exit status 0 if every request succeeded, else 1.

import { readFileSync } from "node:fs";

import { generate } from "./algorithm.mjs";

const text = process.argv[2] ?? readFileSync(0, "utf8");
// 2^64 - 1 is not a binary64: read every "seed" integer as a string before JSON.parse.
const parsed = JSON.parse(text.replace(/("seed"\s*:\s*)(\d+)/g, '$1"$2"'));
const requests = Array.isArray(parsed) ? parsed : [parsed];
let failed = false;
const lines = requests.map(({ seed, tensor, start = 0, stop }) => {
  try {
    return Buffer.from(generate(tensor, seed, start, stop ?? undefined)).toString("hex");
  } catch (error) {
    failed = true;
    return `error: ${String(error.message).replace(/\s+/g, " ")}`;
  }
});
process.stdout.write(lines.join("\n") + "\n");
process.exitCode = failed ? 1 : 0;
