// Tests of the JavaScript client: node --test clients/js/test/client.test.mjs
//
// The safetensors reader on hand-made files, the retry and integrity logic against small
// node:http servers made here, and, when INITW_URL names a running initw (python -m service
// serve), the real thing: a mixed request, its digest, its metadata and its values.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";

import {
  InitwClient,
  IntegrityError,
  NetworkError,
  ProblemError,
  requestJson,
  retryAfterMs,
} from "../client.mjs";
import {
  decodeBFloat16,
  decodeFloat16,
  parse,
  SafetensorsError,
  toFloat32,
} from "../safetensors.mjs";

const URL_ = process.env.INITW_URL;

// ----------------------------------------------------------------------------- helpers

/** A safetensors file from a header object (or its JSON text) and the data section. */
function build(header, data = new Uint8Array(0), { pad = 0 } = {}) {
  const text = (typeof header === "string" ? header : JSON.stringify(header)) + " ".repeat(pad);
  const json = new TextEncoder().encode(text);
  const file = new Uint8Array(8 + json.length + data.length);
  new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
  file.set(json, 8);
  file.set(data, 8 + json.length);
  return file;
}

function bytesOf(typedArray) {
  return new Uint8Array(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();
const reprDigest = (bytes) => `sha-256=:${sha256(bytes).toString("base64")}:`;

function stats(values) {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return { mean, std: Math.sqrt(squares / values.length), min: Math.min(...values), max: Math.max(...values) };
}

/** A node:http server answering with handler(request, response, count); count starts at 1. */
async function fakeServer(handler) {
  let count = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => handler(request, response, ++count));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get count() {
      return count;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A small valid artifact: what the fake servers send.
const WEIGHT = new Float32Array([0.5, -1.25, 3, 0.125, -0.75, 2]);
const ARTIFACT = build(
  { __metadata__: { format: "pt" }, weight: { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] } },
  bytesOf(WEIGHT),
  { pad: 6 },
);

function sendArtifact(response, body = ARTIFACT, { digestOf = body, length = body.length } = {}) {
  response.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(length),
    "repr-digest": reprDigest(digestOf),
    etag: '"fake"',
  });
  response.end(body);
}

function sendProblem(response, status, headers = {}) {
  response.writeHead(status, { "content-type": "application/problem+json", ...headers });
  response.end(JSON.stringify({ type: "https://initw.dev/problems/busy", title: "busy", status, detail: "try later" }));
}

/** Headers and the first `sent` bytes of a `body.length`-byte artifact, then the connection is cut. */
function sendTruncated(response, sent = 20, body = ARTIFACT) {
  response.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(body.length),
    "repr-digest": reprDigest(body),
  });
  response.write(body.subarray(0, sent), () => setTimeout(() => response.socket.destroy(), 20));
}

const fast = { retries: 2, backoffMs: 1, maxWaitMs: 50, timeoutMs: 5000 };

// ----------------------------------------------------------------------------- the reader

describe("safetensors reader", () => {
  test("reads every tensor with its dtype, shape and values", () => {
    const f32 = new Float32Array([1.5, -2]);
    const f64 = new Float64Array([Math.PI]);
    const i64 = new BigInt64Array([-5n, 1n << 40n]);
    const u16 = new Uint16Array([65535, 7]);
    const i8 = new Int8Array([-128, 127, 0]);
    const data = concat(bytesOf(f32), bytesOf(f64), bytesOf(i64), bytesOf(u16), bytesOf(i8));
    const file = build(
      {
        __metadata__: { note: "hand-made" },
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F64", shape: [1, 1], data_offsets: [8, 16] },
        c: { dtype: "I64", shape: [2], data_offsets: [16, 32] },
        d: { dtype: "U16", shape: [2, 1], data_offsets: [32, 36] },
        e: { dtype: "I8", shape: [3], data_offsets: [36, 39] },
        empty: { dtype: "F32", shape: [0, 4], data_offsets: [39, 39] },
      },
      data,
      { pad: 4 },
    );
    const { metadata, tensors } = parse(file);
    assert.deepEqual(metadata, { note: "hand-made" });
    assert.deepEqual([...tensors.keys()], ["a", "b", "c", "d", "e", "empty"]);
    assert.ok(tensors.get("a").data instanceof Float32Array);
    assert.deepEqual([...tensors.get("a").data], [1.5, -2]);
    assert.deepEqual(tensors.get("b").shape, [1, 1]);
    assert.equal(tensors.get("b").data[0], Math.PI);
    assert.deepEqual([...tensors.get("c").data], [-5n, 1n << 40n]);
    assert.deepEqual([...tensors.get("d").data], [65535, 7]);
    assert.deepEqual([...tensors.get("e").data], [-128, 127, 0]);
    assert.equal(tensors.get("empty").data.length, 0);
  });

  test("copies unaligned tensors (and on request), views aligned ones", () => {
    const values = new Float64Array([1 / 3, -7]);
    // A 9-byte data offset: the F64 data starts at an odd address within the file.
    const data = concat(new Uint8Array([42]), bytesOf(values));
    const header = { x: { dtype: "U8", shape: [1], data_offsets: [0, 1] }, y: { dtype: "F64", shape: [2], data_offsets: [1, 17] } };
    const file = build(header, data, { pad: (8 - ((JSON.stringify(header).length + 8) % 8)) % 8 });
    const { tensors } = parse(file);
    const y = tensors.get("y");
    assert.deepEqual([...y.data], [1 / 3, -7]);
    assert.notEqual(y.data.buffer, file.buffer, "unaligned: a copy");
    assert.equal(tensors.get("x").data.buffer, file.buffer, "bytes: a view");
    const copied = parse(file, { copy: true }).tensors.get("x");
    assert.notEqual(copied.data.buffer, file.buffer);
  });

  test("F16 and BF16: raw bytes and exact decoders to Float32Array", () => {
    const halves = new Uint16Array([0x3c00, 0xc000, 0x7c00, 0xfc00, 0x0001, 0x8000, 0x3555, 0x7bff]);
    const brains = new Uint16Array([0x3f80, 0xbf80, 0x4049, 0x0000]);
    const file = build(
      { h: { dtype: "F16", shape: [8], data_offsets: [0, 16] }, b: { dtype: "BF16", shape: [2, 2], data_offsets: [16, 24] } },
      concat(bytesOf(halves), bytesOf(brains)),
    );
    const { tensors } = parse(file);
    assert.ok(tensors.get("h").data instanceof Uint8Array);
    assert.equal(tensors.get("h").data.byteLength, 16);
    const h = toFloat32(tensors.get("h"));
    assert.deepEqual([...h], [1, -2, Infinity, -Infinity, 2 ** -24, -0, 0.333251953125, 65504]);
    assert.ok(Object.is(h[5], -0));
    assert.ok(Number.isNaN(decodeFloat16(new Uint16Array([0x7e00]))[0]));
    assert.deepEqual([...toFloat32(tensors.get("b"))], [1, -1, 3.140625, 0]);
    assert.deepEqual([...decodeBFloat16(new Uint8Array([0x80, 0x3f]))], [1]);
    // Every finite half converts to a float32 that converts back (via Math.fround) to itself.
    const all = new Uint16Array(65536).map((_, i) => i);
    const decoded = decodeFloat16(all);
    for (let i = 0; i < 65536; i++) {
      const exponent = (i >> 10) & 0x1f;
      if (exponent === 0x1f) continue;
      const mantissa = i & 0x3ff;
      const magnitude = exponent === 0 ? mantissa * 2 ** -24 : (1 + mantissa / 1024) * 2 ** (exponent - 15);
      assert.ok(Object.is(decoded[i], i & 0x8000 ? -magnitude : magnitude), `half 0x${i.toString(16)}`);
    }
  });

  const bad = {
    "fewer than 8 bytes": new Uint8Array(5),
    "a header length past the end": (() => {
      const file = build({}, new Uint8Array(0));
      new DataView(file.buffer).setBigUint64(0, 1000n, true);
      return file;
    })(),
    "a header length of 2^64 - 1": (() => {
      const file = build({});
      new DataView(file.buffer).setBigUint64(0, (1n << 64n) - 1n, true);
      return file;
    })(),
    "a header that is not JSON": build("{not json"),
    "a header that is not UTF-8": (() => {
      const file = build('{"a":1}');
      file[10] = 0xff;
      return file;
    })(),
    "a header that is a list": build("[]"),
    "metadata that is not strings": build({ __metadata__: { n: 1 } }),
    "an unknown dtype": build({ w: { dtype: "F12", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
    "a negative dimension": build({ w: { dtype: "U8", shape: [-1], data_offsets: [0, 0] } }),
    "a fractional dimension": build({ w: { dtype: "U8", shape: [1.5], data_offsets: [0, 1] } }, new Uint8Array(1)),
    "an extra key": build({ w: { dtype: "U8", shape: [1], data_offsets: [0, 1], extra: 1 } }, new Uint8Array(1)),
    "a missing key": build({ w: { dtype: "U8", shape: [1] } }, new Uint8Array(1)),
    "offsets that end before they begin": build({ w: { dtype: "U8", shape: [0], data_offsets: [1, 0] } }, new Uint8Array(1)),
    "a size that is not dtype x shape": build({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)),
    "offsets past the data": build({ w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
    "a gap at the start": build({ w: { dtype: "U8", shape: [2], data_offsets: [2, 4] } }, new Uint8Array(4)),
    "a gap between tensors": build(
      { a: { dtype: "U8", shape: [2], data_offsets: [0, 2] }, b: { dtype: "U8", shape: [2], data_offsets: [3, 5] } },
      new Uint8Array(5),
    ),
    "overlapping tensors": build(
      { a: { dtype: "U8", shape: [4], data_offsets: [0, 4] }, b: { dtype: "U8", shape: [4], data_offsets: [2, 6] } },
      new Uint8Array(6),
    ),
    "two tensors on the same bytes": build(
      { a: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, b: { dtype: "I32", shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(4),
    ),
    "trailing bytes": build({ w: { dtype: "U8", shape: [2], data_offsets: [0, 2] } }, new Uint8Array(3)),
    "an element count past 2^53": build(
      { w: { dtype: "F32", shape: [2 ** 31, 2 ** 31, 4], data_offsets: [0, 4] } },
      new Uint8Array(4),
    ),
  };
  for (const [what, file] of Object.entries(bad)) {
    test(`refuses ${what}`, () => {
      assert.throws(() => parse(file), SafetensorsError);
    });
  }
});

// ----------------------------------------------------------------------------- retries and integrity

describe("retries and integrity (fake servers)", () => {
  test("503 with Retry-After: 0, then 200: retried, and the answer is verified and parsed", async () => {
    const server = await fakeServer((request, response, count) => {
      if (count === 1) sendProblem(response, 503, { "retry-after": "0" });
      else sendArtifact(response);
    });
    try {
      const answer = await new InitwClient(server.url, fast).init({ seed: 0 });
      assert.equal(server.count, 2);
      assert.equal(answer.attempts, 2);
      assert.equal(answer.etag, '"fake"');
      assert.equal(answer.sha256, sha256(ARTIFACT).toString("hex"));
      assert.deepEqual(answer.bytes, ARTIFACT);
      assert.deepEqual(answer.tensors.get("weight").shape, [2, 3]);
      assert.deepEqual([...answer.tensors.get("weight").data], [...WEIGHT]);
      assert.deepEqual(answer.metadata, { format: "pt" });
    } finally {
      await server.close();
    }
  });

  test("a truncated body is an IntegrityError, retried, then thrown", async () => {
    const server = await fakeServer((request, response) => sendTruncated(response));
    try {
      await assert.rejects(new InitwClient(server.url, fast).init({}), (error) => {
        assert.ok(error instanceof IntegrityError, `${error}`);
        assert.match(error.message, /broke off after 20 of \d+ bytes/);
        assert.equal(error.attempts, 3);
        return true;
      });
      assert.equal(server.count, 3);
    } finally {
      await server.close();
    }
  });

  test("a body that disagrees with Repr-Digest, or has none, is an IntegrityError", async () => {
    const corrupt = ARTIFACT.slice();
    corrupt[corrupt.length - 1] ^= 1;
    const server = await fakeServer((request, response, count) => {
      if (count === 1) sendArtifact(response, corrupt, { digestOf: ARTIFACT });
      else {
        response.writeHead(200, { "content-length": String(ARTIFACT.length) });
        response.end(ARTIFACT);
      }
    });
    try {
      const client = new InitwClient(server.url, { ...fast, retries: 0 });
      await assert.rejects(client.init({}), (error) => error instanceof IntegrityError && /Repr-Digest says/.test(error.message));
      await assert.rejects(client.init({}), (error) => error instanceof IntegrityError && /no Repr-Digest/.test(error.message));
    } finally {
      await server.close();
    }
  });

  test("a verified body that is not a valid safetensors file is an IntegrityError", async () => {
    const lying = build({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
    const server = await fakeServer((request, response) => sendArtifact(response, lying));
    try {
      await assert.rejects(new InitwClient(server.url, { ...fast, retries: 0 }).init({}), (error) => {
        assert.ok(error instanceof IntegrityError);
        assert.ok(error.cause instanceof SafetensorsError);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  test("other 4xx are never retried; 502/503/504 are, up to `retries` times", async () => {
    for (const [status, expected] of [[400, 1], [404, 1], [408, 3], [422, 1], [429, 3], [500, 1], [502, 3], [503, 3], [504, 3]]) {
      const server = await fakeServer((request, response) => sendProblem(response, status, { "retry-after": "0" }));
      try {
        await assert.rejects(new InitwClient(server.url, fast).init({}), (error) => {
          assert.ok(error instanceof ProblemError);
          assert.equal(error.status, status);
          assert.equal(error.type, "https://initw.dev/problems/busy");
          assert.equal(error.detail, "try later");
          assert.equal(error.attempts, expected);
          return true;
        });
        assert.equal(server.count, expected, `status ${status}`);
      } finally {
        await server.close();
      }
    }
  });

  test("Retry-After is honoured but capped at maxWaitMs; backoff doubles with jitter", async () => {
    const server = await fakeServer((request, response, count) => {
      if (count === 1) sendProblem(response, 503, { "retry-after": "3600" });
      else sendArtifact(response);
    });
    try {
      const started = Date.now();
      const answer = await new InitwClient(server.url, { ...fast, maxWaitMs: 100 }).init({});
      assert.equal(answer.attempts, 2);
      assert.ok(Date.now() - started < 3000);
    } finally {
      await server.close();
    }
    const client = new InitwClient("http://unused", { backoffMs: 100, maxWaitMs: 30_000 });
    const busy = (ms) => new ProblemError({ status: 503, title: "busy", retryAfterMs: ms });
    for (let i = 0; i < 50; i++) {
      const wait = client.waitMs(3, new IntegrityError("x"));
      assert.ok(wait >= 200 && wait <= 600, `${wait}`);
    }
    assert.equal(client.waitMs(1, busy(5000)), 5000);
    assert.equal(new InitwClient("http://unused", { maxWaitMs: 700 }).waitMs(1, busy(5000)), 700);
    assert.equal(retryAfterMs("7"), 7000);
    assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:10 GMT", Date.parse("2026-01-01T00:00:00Z")), 10_000);
    assert.equal(retryAfterMs("soon"), null);
    assert.equal(retryAfterMs(null), null);
  });

  test("request bodies: BigInt seeds are exact JSON integers; an inexact Number seed is refused unsent", async () => {
    assert.equal(requestJson({ seed: 2n ** 64n - 1n, shape: [2] }), '{"seed":18446744073709551615,"shape":[2]}');
    assert.equal(requestJson('{"seed": 18446744073709551615}'), '{"seed": 18446744073709551615}');
    assert.equal(requestJson({ seed: 5, scheme: { name: "constant", value: 1e300 } }), '{"seed":5,"scheme":{"name":"constant","value":1e+300}}');
    const server = await fakeServer((request, response) => sendArtifact(response));
    try {
      await assert.rejects(new InitwClient(server.url, fast).init({ seed: 2 ** 64 }), TypeError);
      assert.equal(server.count, 0);
    } finally {
      await server.close();
    }
  });

  test("a refused connection is a NetworkError after every retry", async () => {
    const server = await fakeServer(() => {});
    const url = server.url;
    await server.close();
    await assert.rejects(new InitwClient(url, fast).init({}), (error) => {
      assert.ok(error instanceof NetworkError, `${error}`);
      assert.equal(error.attempts, 3);
      return true;
    });
  });

  test("a server that goes silent mid-body times out (timeoutMs between chunks)", async () => {
    const server = await fakeServer((request, response) => {
      response.writeHead(200, { "content-length": String(ARTIFACT.length), "repr-digest": reprDigest(ARTIFACT) });
      response.write(ARTIFACT.subarray(0, 10)); // and nothing more
    });
    try {
      const client = new InitwClient(server.url, { ...fast, retries: 0, timeoutMs: 200 });
      await assert.rejects(client.init({}), (error) => error instanceof IntegrityError && /no data for 200 ms/.test(error.message));
    } finally {
      await server.close();
    }
  });

  test("initToFile: a broken first try is retried from scratch; a failure leaves no file", async () => {
    const big = build({ w: { dtype: "U8", shape: [300000], data_offsets: [0, 300000] } }, new Uint8Array(300000).map((_, i) => i % 251));
    const server = await fakeServer((request, response, count) => {
      if (count === 1) sendTruncated(response, 200000, big);
      else if (count === 2) sendArtifact(response, big);
      else sendTruncated(response, 100, big);
    });
    const directory = await mkdtemp(join(tmpdir(), "initw-js-"));
    try {
      const target = join(directory, "w.safetensors");
      const done = await new InitwClient(server.url, fast).initToFile({}, target);
      assert.equal(done.attempts, 2);
      assert.equal(done.size, big.length);
      assert.deepEqual(new Uint8Array(await readFile(target)), big);
      assert.equal(done.sha256, sha256(big).toString("hex"));

      const other = join(directory, "x.safetensors");
      await assert.rejects(new InitwClient(server.url, { ...fast, retries: 0 }).initToFile({}, other), IntegrityError);
      assert.deepEqual(await readdir(directory), ["w.safetensors"]);
    } finally {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});

// ----------------------------------------------------------------------------- a live server

const MIXED = {
  seed: 2024,
  tensors: [
    { name: "enc.q.weight", shape: [16, 32], scheme: "orthogonal" },
    { name: "enc.q.bias", shape: [16], scheme: "zeros" },
    {
      name: "enc.ff.weight",
      shape: [64, 32],
      scheme: { name: "truncated_normal", mean: 0.1, std: 0.5, a: -0.9, b: 1.1 },
      dtype: "float16",
    },
    { name: "enc.ff.bias", shape: [64], scheme: { name: "normal", std: 0.02 }, dtype: "bfloat16" },
    { name: "head.weight", shape: [128, 64], scheme: { name: "normal", std: 0.05 } },
    { name: "head.k", shape: [10, 20], scheme: "kaiming_uniform", dtype: "float64" },
  ],
};
const DTYPE = { float32: "F32", float64: "F64", float16: "F16", bfloat16: "BF16" };

describe("a live server (INITW_URL)", { skip: URL_ ? false : "INITW_URL is not set" }, () => {
  let client;
  let answer;
  before(async () => {
    client = new InitwClient(URL_, { retries: 2, backoffMs: 100, timeoutMs: 20_000 });
    answer = await client.init(MIXED);
  });

  test("POST /init: every tensor with its shape and dtype, and a digest that holds", () => {
    // In file order: the safetensors convention, widest dtype first, then by name.
    assert.deepEqual([...answer.tensors.keys()], ["head.k", "enc.q.bias", "enc.q.weight", "head.weight", "enc.ff.bias", "enc.ff.weight"]);
    for (const spec of MIXED.tensors) {
      const tensor = answer.tensors.get(spec.name);
      assert.deepEqual(tensor.shape, spec.shape, spec.name);
      assert.equal(tensor.dtype, DTYPE[spec.dtype ?? "float32"], spec.name);
    }
    assert.ok(answer.tensors.get("head.k").data instanceof Float64Array);
    assert.ok(answer.tensors.get("head.weight").data instanceof Float32Array);
    assert.equal(answer.sha256, sha256(answer.bytes).toString("hex"));
    assert.match(answer.etag, /^"[0-9a-f]{40}"$/);
    assert.equal(answer.attempts, 1);
  });

  test("the file's metadata states the canonical request, and its diagnostics match the values", () => {
    const { metadata } = answer;
    assert.equal(metadata.algorithm, "initw-v1");
    assert.equal(metadata.seed, "2024");
    const request = JSON.parse(metadata.request);
    assert.equal(request.seed, 2024);
    assert.deepEqual(
      request.tensors.map((t) => [t.name, t.shape, t.dtype, typeof t.scheme === "object" ? t.scheme.name : t.scheme]),
      MIXED.tensors.map((t) => [t.name, t.shape, t.dtype ?? "float32", typeof t.scheme === "object" ? t.scheme.name : t.scheme]),
    );
    const truncated = request.tensors.find((t) => t.name === "enc.ff.weight").scheme;
    assert.deepEqual([truncated.mean, truncated.std, truncated.a, truncated.b], [0.1, 0.5, -0.9, 1.1]);
    const diagnostics = JSON.parse(metadata.diagnostics);
    for (const spec of MIXED.tensors) {
      const values = toFloat32(answer.tensors.get(spec.name));
      const measured = stats(spec.dtype === "float64" ? answer.tensors.get(spec.name).data : values);
      const stated = diagnostics[spec.name];
      assert.equal(measured.min, stated.min, `${spec.name} min`);
      assert.equal(measured.max, stated.max, `${spec.name} max`);
      assert.ok(Math.abs(measured.mean - stated.mean) <= 1e-9 + 1e-6 * Math.abs(stated.mean), `${spec.name} mean`);
      assert.ok(Math.abs(measured.std - stated.std) <= 1e-9 + 1e-6 * stated.std, `${spec.name} std`);
    }
  });

  test("the values are what the schemes promise", () => {
    const t = (name) => answer.tensors.get(name);
    // zeros are zero
    assert.ok(t("enc.q.bias").data.every((v) => Object.is(v, 0)));
    // float32 normal: finite, mean about 0, std about 0.05 (8192 values: sampling error about 0.8%)
    const normal = stats(t("head.weight").data);
    assert.ok(t("head.weight").data.every(Number.isFinite));
    assert.ok(Math.abs(normal.std / 0.05 - 1) < 0.05, `std ${normal.std}`);
    assert.ok(Math.abs(normal.mean) < 0.005, `mean ${normal.mean}`);
    // bfloat16 normal, std 0.02
    const bias = toFloat32(t("enc.ff.bias"));
    assert.ok(bias.every(Number.isFinite));
    assert.ok(Math.abs(stats(bias).std / 0.02 - 1) < 0.35);
    // float16 truncated normal: inside [a, b], mean near 0.1
    const truncated = toFloat32(t("enc.ff.weight"));
    assert.ok(truncated.every((v) => v >= -0.9 && v <= 1.1));
    assert.ok(Math.abs(stats(truncated).mean - 0.1) < 0.05);
    // orthogonal 16 x 32: orthonormal rows
    const q = t("enc.q.weight").data;
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let k = 0; k < 32; k++) dot += q[i * 32 + k] * q[j * 32 + k];
        assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-5, `rows ${i}, ${j}: ${dot}`);
      }
    }
    // float64 kaiming_uniform (torch defaults: a = 0, fan_in = 20, leaky_relu): U(+-sqrt(6 / 20))
    const bound = Math.sqrt(6 / 20);
    const k = t("head.k").data;
    assert.ok(k.every((v) => Math.abs(v) <= bound));
    assert.ok(Math.max(...k.map(Math.abs)) > 0.8 * bound);
  });

  test("the same body gives the same bytes; a tensor's bytes do not depend on the others", async () => {
    const again = await client.init(MIXED);
    assert.equal(again.sha256, answer.sha256);
    assert.equal(again.etag, answer.etag);
    const alone = await client.init({ seed: 2024, tensors: [MIXED.tensors[4]] });
    assert.deepEqual(alone.tensors.get("head.weight").bytes, answer.tensors.get("head.weight").bytes);
  });

  test("seeds up to 2^64 - 1, as BigInt", async () => {
    const body = { seed: 2n ** 64n - 1n, shape: [8, 8], scheme: "xavier_uniform" };
    const big = await client.init(body);
    assert.equal(big.metadata.seed, "18446744073709551615");
    const text = await client.init('{"seed": 18446744073709551615, "shape": [8, 8], "scheme": "xavier_uniform"}');
    assert.equal(text.sha256, big.sha256);
  });

  test("initToFile writes the same verified bytes", async () => {
    const directory = await mkdtemp(join(tmpdir(), "initw-js-"));
    try {
      const target = join(directory, "mixed.safetensors");
      const done = await client.initToFile(MIXED, target);
      assert.equal(done.sha256, answer.sha256);
      assert.equal(done.etag, answer.etag);
      assert.deepEqual(new Uint8Array(await readFile(target)), answer.bytes);
      assert.deepEqual(await readdir(directory), ["mixed.safetensors"]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  test("a 422 is a ProblemError with the field path, sent once", async () => {
    const body = { seed: 0, tensors: [{ name: "w", shape: [4, 4], scheme: { name: "normal", std: -1 } }] };
    await assert.rejects(client.init(body), (error) => {
      assert.ok(error instanceof ProblemError, `${error}`);
      assert.equal(error.status, 422);
      assert.equal(error.type, "https://initw.dev/problems/invalid-request");
      assert.equal(error.title, "Unprocessable Entity");
      assert.match(error.detail, /tensors\.0\.scheme\.std/);
      assert.deepEqual(error.fields, ["tensors.0.scheme.std"]);
      assert.equal(error.errors[0].pointer, "/tensors/0/scheme/std");
      assert.equal(error.attempts, 1);
      return true;
    });
  });

  test("schemes() and diagnostics()", async () => {
    const schemes = await client.schemes();
    const names = schemes.map((s) => s.name);
    for (const name of ["orthogonal", "truncated_normal", "kaiming_uniform", "zeros"]) assert.ok(names.includes(name), name);
    const keras = await client.schemes({ dialect: "keras" });
    assert.ok(keras.some((w) => w.name === "keras.HeNormal" && w.aliases.includes("keras.he_normal")));
    assert.ok(keras.every((w) => w.dialect === "keras"));
    const word = await client.scheme("keras.HeNormal");
    assert.deepEqual(word, keras.find((w) => w.name === "keras.HeNormal"));
    assert.equal((await client.scheme("msra")).name, "kaiming_normal");
    await assert.rejects(client.schemes({ dialect: "tensorflow" }), (error) => error instanceof ProblemError && error.status === 422);
    const report = await client.diagnostics({ seed: 0, shape: [64, 64], scheme: "zeros" });
    assert.equal(report.algorithm, "initw-v1");
    assert.equal(report.diagnostics.weight.verdict, "fail");
    assert.ok(report.diagnostics.weight.verdicts.some((v) => v.check === "symmetry"));
  });
});
