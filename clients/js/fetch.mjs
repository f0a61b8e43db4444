#!/usr/bin/env node
// Download one initw artifact to a file, verified (Content-Length, Repr-Digest), with retries.
//
//   node clients/js/fetch.mjs URL BODY OUTPUT
//
// URL: the service, e.g. http://127.0.0.1:8000; BODY: the POST /init request as JSON text, @file
// to read it from a file, or - for standard input (sent as written, so seeds above 2^53 stay
// exact); OUTPUT: the safetensors file to write (written next to itself first, renamed once
// verified). Prints {"path", "size", "sha256", "etag", "attempts"} as JSON. Exit status: 0 done, 1 the service refused (its RFC 9457 problem
// on stderr), 2 usage, 3 integrity or network failure after the retries.

import { readFile } from "node:fs/promises";
import process, { argv, stderr, stdin, stdout } from "node:process";

import { InitwClient, IntegrityError, NetworkError, ProblemError } from "./client.mjs";

async function readBody(text) {
  if (text === "-") {
    const chunks = [];
    for await (const chunk of stdin) chunks.push(chunk);
    return Buffer.concat(chunks).toString("utf8");
  }
  if (text.startsWith("@")) return readFile(text.slice(1), "utf8");
  return text;
}

async function main() {
  const [url, bodyText, output] = argv.slice(2);
  if (argv.length !== 5) {
    stderr.write("usage: node fetch.mjs URL BODY_JSON|@file|- OUTPUT\n");
    return 2;
  }
  let body;
  try {
    body = await readBody(bodyText);
    JSON.parse(body); // checked, but sent as written: JSON.parse would round seeds above 2^53
  } catch (error) {
    stderr.write(`the body is not JSON: ${error.message}\n`);
    return 2;
  }
  try {
    const done = await new InitwClient(url).initToFile(body, output);
    stdout.write(JSON.stringify(done) + "\n");
    return 0;
  } catch (error) {
    if (error instanceof ProblemError) {
      const { status, type, title, detail, errors } = error;
      stderr.write(JSON.stringify({ status, type, title, detail, errors }) + "\n");
      return 1;
    }
    if (error instanceof IntegrityError || error instanceof NetworkError) {
      stderr.write(`${error.name} after ${error.attempts} attempt(s): ${error.message}\n`);
      return 3;
    }
    throw error;
  }
}

process.exitCode = await main();
