// The JavaScript port of initw-v1 (clients/js/algorithm.mjs) against the known answers of
// tests/golden/v1.json, byte for byte: for every case of a scheme the port implements, the
// SHA-256 of the whole stored tensor and the first eight stored values' bit patterns must equal
// the committed ones. Cases of the matrix schemes (§11.4-11.11) are skipped, by name, and counted.
//
//   node --test clients/js/test/

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  AS241,
  DTYPES,
  InitError,
  MATRIX_SCHEMES,
  Phi,
  SUPPORTED_SCHEMES,
  deriveKey,
  generate,
  hexFloat,
  logV1,
  ndtriV1,
  numel,
  philox4x64,
  phi,
  pow2,
  rint,
  roundDecimal,
  roundTo,
  roundedExponents,
  truncatedStd,
  words,
} from "../algorithm.mjs";

const ROOT = new URL("../../../", import.meta.url);
const DOC = readFileSync(new URL("docs/ALGORITHM.md", ROOT), "utf8");

/** v1.json with seeds kept exact: 2^64 - 1 is not a binary64, so seeds are read as strings. */
function loadGolden() {
  const text = readFileSync(new URL("tests/golden/v1.json", ROOT), "utf8");
  return JSON.parse(text.replace(/"seed": (\d+)/g, '"seed": "$1"'));
}

const golden = loadGolden();
const cases = Object.entries(golden.cases);

test("the golden file is initw-v1", () => {
  assert.equal(golden.algorithm, "initw-v1");
  assert.ok(cases.length > 0);
});

// ---- known answers of the building blocks --------------------------------------------------

const hex64 = (out) =>
  Array.from({ length: 4 }, (_, i) => out[2 * i].toString(16).padStart(8, "0") + out[2 * i + 1].toString(16).padStart(8, "0")).join(" ");
const halves = (words64) => words64.flatMap((w) => [parseInt(w.slice(0, 8), 16), parseInt(w.slice(8), 16)]);

test("Philox4x64-10 reproduces the Random123 known answers (§3)", () => {
  const F = "ffffffffffffffff";
  const rows = [
    [["0", "0", "0", "0"], ["0", "0"], "16554d9eca36314c db20fe9d672d0fdc d7e772cee186176b 7e68b68aec7ba23b"],
    [[F, F, F, F], [F, F], "87b092c3013fe90b 438c3c67be8d0224 9cc7d7c69cd777b6 a09caebf594f0ba0"],
    [
      ["243f6a8885a308d3", "13198a2e03707344", "a4093822299f31d0", "082efa98ec4e6c89"],
      ["452821e638d01377", "be5466cf34e90c6c"],
      "a528f45403e61d95 38c72dbd566e9788 a5a1610e72fd18b5 57bd43b5e52b7fe6",
    ],
  ];
  for (const [counter, key, expected] of rows) {
    const pad = (w) => w.padStart(16, "0");
    assert.equal(hex64(philox4x64(halves(counter.map(pad)), halves(key.map(pad)))), expected);
  }
});

test("the key of seed 0, name 'weight' is the spec's test vector (§2)", () => {
  const key = deriveKey(0n, "weight");
  assert.equal(key.k0, 0x4b69917ee885030en);
  assert.equal(key.k1, 0xb7c8f377d62d3834n);
});

test("word addressing: any range of words equals the same range of the whole stream (§3)", () => {
  const key = deriveKey(12345n, "w");
  const all = words(key, 0, 37);
  for (const [start, stop] of [[0, 1], [3, 4], [5, 11], [13, 37], [36, 37]]) {
    assert.deepEqual(words(key, start, stop), all.slice(2 * start, 2 * stop));
  }
});

test("the constants of the port are the hexadecimal literals of the spec (§5, §6)", () => {
  const HEX = /`(-?0x[0-9a-f.]+p[+-]\d+)`/g;
  const row = (label) => {
    const line = DOC.split("\n").find((l) => l.startsWith(`| ${label} |`));
    assert.ok(line, `row ${label} in docs/ALGORITHM.md`);
    return [...line.matchAll(HEX)].map((m) => hexFloat(m[1]));
  };
  for (const label of "ACE") assert.deepEqual(AS241[label], row(label));
  for (const label of "BDF") assert.deepEqual(AS241[label], [...row(label), 1]);
  assert.equal(hexFloat("0x1.8p+1"), 3);
  assert.equal(hexFloat("-0x1.6c16c16bebd93p-9"), -0.0027777777777015593);
});

test("Math.sqrt is correctly rounded (checked exactly with BigInt)", () => {
  // s is the correctly rounded √x iff (s - ulp/2)² < x < (s + ulp/2)² (ties cannot occur).
  const exact = (v) => {
    // v = m · 2^e exactly, with m an integer below 2^53
    let e = 0;
    let m = v;
    while (!Number.isInteger(m)) {
      m *= 2;
      e -= 1;
    }
    while (m > 2 ** 53) {
      m /= 2;
      e += 1;
    }
    return { m: BigInt(m), e };
  };
  let state = 0x2545f491;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
  for (let i = 0; i < 3000; i++) {
    const x = (next() * 2 ** 21 + (next() >>> 11)) * 2 ** (-53 + ((next() % 200) - 100));
    if (x === 0) continue;
    const s = Math.sqrt(x);
    const { m: sm, e: se } = exact(s);
    const { m: xm, e: xe } = exact(x);
    // compare (2 sm ± 1)² · 2^(2 se - 2) with xm · 2^xe, all scaled to a common power of two
    const shift = Math.min(2 * se - 2, xe);
    const lhs = (k) => k * k * (1n << BigInt(2 * se - 2 - shift));
    const rhs = xm * (1n << BigInt(xe - shift));
    assert.ok(lhs(2n * sm - 1n) < rhs && rhs < lhs(2n * sm + 1n), `sqrt(${x})`);
  }
});

test("log_v1 and ndtri_v1 behave as the spec describes (§5, §6)", () => {
  assert.equal(logV1(1), 0);
  assert.equal(logV1(2), hexFloat("0x1.62e42fefa39efp-1")); // ln 2, correctly rounded
  assert.throws(() => logV1(0));
  assert.throws(() => logV1(pow2(-1030)));
  // exact antisymmetry: the complemented word gives 1 - uopen(w), and ndtri(1 - p) = -ndtri(p)
  for (const k of [0, 1, 12345, 2 ** 40 + 7, 2 ** 50 - 3, 2 ** 51 - 1]) {
    const p = (2 * k + 1) * 2 ** -53; // an output of uopen: 1 - p is exact
    assert.equal(ndtriV1(1 - p), -ndtriV1(p));
  }
  assert.equal(ndtriV1(0.5), 0);
});

test("exact scalars: Φ, φ and the truncated std of §7", () => {
  assert.equal(Phi(0), 0.5);
  assert.equal(Phi(-Infinity), 0);
  assert.equal(Phi(Infinity), 1);
  assert.equal(Phi(-39), 0);
  assert.equal(Phi(39), 1);
  assert.equal(phi(39), 0);
  assert.equal(Phi(-2), 0.02275013194817921); // 0.0227501319481792072002826371665...
  assert.equal(Phi(2), 0.9772498680518208);
  assert.equal(phi(0), 0.3989422804014327); // 1/√(2π) = 0.398942280401432677939946...
  assert.equal(Phi(-38) > 0 && Phi(-38) < pow2(-1022), true); // a subnormal
  // Keras' constant: the std of N(0, 1) truncated to [-2, 2]
  assert.equal(truncatedStd(-2, 2), hexFloat("0x1.c25e4b6dba981p-1"));
  assert.equal(truncatedStd(-Infinity, Infinity), 1);
  assert.equal(truncatedStd(-50, 50), 1);
});

test("§7 erratum: the exponents are rounded to 28 significant digits, ties to even", () => {
  assert.deepEqual(roundDecimal(25n, 10n, 1), { c: 2n, e: 0n }); // 2.5 -> 2
  assert.deepEqual(roundDecimal(35n, 10n, 1), { c: 4n, e: 0n }); // 3.5 -> 4
  assert.deepEqual(roundDecimal(9996n, 1n, 3), { c: 100n, e: 2n }); // 9996 -> 1.00E+4
  assert.deepEqual(roundDecimal(1n, 3n, 28), { c: 3333333333333333333333333333n, e: -28n });
  // x = 1001/2^16: x·x = 0.000233296537771821022033691406250 has 29 digits, a tie: s' ends in 2
  const { z, s, s2, series } = roundedExponents(1001 / 65536);
  assert.deepEqual(s2, { c: 2332965377718210220336914062n, e: -31n });
  assert.equal(z.c.toString().length, 100);
  assert.equal(s.c.toString().length <= 28, true);
  assert.equal(series, true);
  // the series for z <= 3, i.e. x·x <= 18: 4.242640687119285 is the last binary64 below 3√2
  assert.equal(roundedExponents(4.242640687119285).series, true);
  assert.equal(roundedExponents(4.242640687119286).series, false);
  // The std on [3, 3.001] is the reference's 0x1.2eb29f66856e2p-12, not the correctly rounded
  // 0x1.2eb29f66856f3p-12 of the exact functions; [2, 2.000001] likewise.
  assert.equal(truncatedStd(3, 3.001), hexFloat("0x1.2eb29f66856e2p-12"));
  assert.equal(truncatedStd(1, 1.0001), hexFloat("0x1.e45106b350b92p-16"));
  assert.equal(truncatedStd(2, 2.000001), hexFloat("0x1.35f66cf275b9fp-22"));
  // Narrower still, m2 - m1^2 <= 0: refused (§8), with or without correct_variance
  assert.throws(() => truncatedStd(-20, -19.99999999), InitError);
  const tensor = (params) => ({ name: "w", shape: [2, 2], dtype: "float64", scheme: { name: "truncated_normal", bounds: "sigma", ...params } });
  assert.throws(() => generate(tensor({ a: -20, b: -19.99999999 }), 0n), InitError);
  assert.throws(() => generate(tensor({ a: 19.99999999, b: 20, correct_variance: true }), 0n), InitError);
});

test("§7: the moments of [α, β] as written; the mirror only where unresolved and α > 0", () => {
  // Φ(x >= 0) is dec₁₀₀(1 - Q): the upper tail's mass keeps only the digits above 10^-100, and the
  // std of [20, 21] is the reference's, not the mirror's 0x1.9694437ec04dcp-5 (nor the exact one)
  assert.equal(truncatedStd(19, 20), hexFloat("0x1.aba403dcfef96p-5"));
  assert.equal(truncatedStd(20, 21), hexFloat("0x1.969445e7a3404p-5"));
  assert.equal(truncatedStd(-21, -20), hexFloat("0x1.9694437ec04dcp-5"));
  assert.equal(truncatedStd(21, 21.5), hexFloat("0x1.54598e7987a50p-2"));
  // Z = 0 on [22, 23] (Φ(22) = Φ(23) = 1 at 100 digits): the mirror's std
  for (const [a, b] of [[21.5, 22], [22, 23], [25, 30], [30, 45]]) assert.equal(truncatedStd(a, b), truncatedStd(-b, -a));
  // α <= 0: never mirrored; a bound at 0 resolves (α⁰ = 1)
  assert.throws(() => truncatedStd(-20, -19.99999999), InitError);
  assert.equal(truncatedStd(0, 2), truncatedStd(-2, 0));
  // bounds one binary64 step apart: Φ(b') - Φ(a') = 0 in binary64, served (every p is pa)
  const spec = { name: "w", shape: [4], scheme: { name: "truncated_normal", a: 0.1, b: 0.10000000000000002, bounds: "sigma" }, dtype: "float64" };
  assert.equal(generate(spec, 0n).length, 32);
});

test("rounding to 16-bit formats is the IEEE rounding (§9)", () => {
  assert.equal(rint(2.5), 2);
  assert.equal(rint(-3.5), -4);
  assert.ok(Object.is(rint(-0.25), -0));
  assert.equal(roundTo("float16", 65519), 65504);
  assert.equal(roundTo("float16", 65520), Infinity);
  assert.equal(roundTo("float16", 2 ** -25), 0); // a tie between 0 and the least subnormal: even
  assert.equal(roundTo("float16", 2 ** -25 * 1.5), 2 ** -24);
  assert.equal(roundTo("bfloat16", 1 + 2 ** -8), 1);
  assert.equal(roundTo("bfloat16", 1 + 3 * 2 ** -8), 1 + 2 ** -6);
  const bytes = (dtype, value) => Buffer.from(generate({ name: "c", shape: [1], scheme: { name: "constant", value }, dtype }, 0n)).toString("hex");
  assert.equal(bytes("float16", -0.3), "cdb4"); // 0xb4cd
  assert.equal(bytes("bfloat16", -0.3), "9abe"); // 0xbe9a
  assert.equal(bytes("float16", 1e6), "007c");
  // float8 (§9): ties to even at the edge, overflow to e4m3fn's NaN and e5m2's infinity, subnormals
  assert.equal(bytes("float8_e4m3fn", -464), "fe"); // the tie between 448 and 480 (NaN's code): 448
  assert.equal(bytes("float8_e4m3fn", 464.00000000000006), "7f");
  assert.equal(bytes("float8_e4m3fn", -1e6), "ff");
  assert.equal(bytes("float8_e5m2", 61439.99999999999), "7b");
  assert.equal(bytes("float8_e5m2", 61440), "7c");
  assert.equal(bytes("float8_e4m3fn", 2 ** -10), "00"); // half the least subnormal: the even 0
  assert.equal(bytes("float8_e4m3fn", 3 * 2 ** -10), "02");
  assert.equal(bytes("float8_e5m2", -(2 ** -16)), "81");
  assert.equal(bytes("float8_e4m3fn", -0.3), "aa"); // -0.3 -> -0.3125 = -1.010b * 2^-2: 1 0101 010
  assert.ok(Number.isNaN(roundTo("float8_e4m3fn", 500)));
  assert.equal(roundTo("float8_e5m2", 500), 512);
  assert.equal(bytes("float32", -0.3), "9a9999be");
  // int64 holds integral constants only (layer presets' num_batches_tracked)
  assert.equal(bytes("int64", -2), "feffffffffffffff");
  assert.throws(() => bytes("int64", 0.5), /int64/);
  assert.throws(() => generate({ name: "w", shape: [2], scheme: "normal", dtype: "int64" }, 0n), /int64/);
});

test("a slice is the same bytes as the same slice of the whole tensor (§3)", () => {
  for (const dtype of ["float64", "float32", "float16", "bfloat16"]) {
    const spec = { name: "w", shape: [7, 9], scheme: "truncated_normal", params: { a: -1, b: 0.5 }, dtype };
    const whole = generate(spec, 99n);
    const size = DTYPES[dtype].itemsize;
    for (const [start, stop] of [[0, 63], [1, 2], [5, 41], [62, 63], [63, 63]]) {
      assert.deepEqual(generate(spec, 99n, start, stop), whole.slice(start * size, stop * size));
    }
  }
});

// ---- the golden vectors -------------------------------------------------------------------

const BITS_WIDTH = { float64: 16, float32: 8, float16: 4, bfloat16: 4, float8_e4m3fn: 2, float8_e5m2: 2, complex64: 16 };

function firstBits(bytes, dtype, count) {
  const size = DTYPES[dtype].itemsize;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  for (let i = 0; i < Math.min(count, bytes.length / size); i++) {
    const hex =
      size === 8
        ? view.getBigUint64(8 * i, true).toString(16)
        : size === 4
          ? view.getUint32(4 * i, true).toString(16)
          : size === 2
            ? view.getUint16(2 * i, true).toString(16)
            : view.getUint8(i).toString(16);
    out.push(`0x${hex.padStart(BITS_WIDTH[dtype], "0")}`);
  }
  return out;
}

const covered = new Map(); // "scheme/dtype" -> count
const skipped = new Map();
const tally = (map, key) => map.set(key, (map.get(key) ?? 0) + 1);

for (const [id, answer] of cases) {
  const { tensor } = answer;
  const scheme = tensor.scheme.name;
  const label = `${scheme}/${tensor.dtype}`;
  if (!SUPPORTED_SCHEMES.has(scheme)) {
    assert.ok(MATRIX_SCHEMES.has(scheme), `${id}: ${scheme} is neither implemented nor a known matrix scheme`);
    tally(skipped, label);
    test(`golden ${id}`, { skip: `${scheme} is a matrix scheme (§11.4-11.11), not elementwise` }, () => {});
    continue;
  }
  tally(covered, label);
  test(`golden ${id}`, () => {
    const bytes = generate(tensor, answer.seed);
    assert.equal(bytes.length, numel(tensor.shape) * DTYPES[tensor.dtype].itemsize);
    assert.deepEqual(firstBits(bytes, tensor.dtype, 8), answer.first_bits, `${id}: first values`);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), answer.sha256, `${id}: SHA-256 of the stored bytes`);
  });
}

test("every golden case of an elementwise scheme is covered", (t) => {
  const sum = (map) => [...map.values()].reduce((a, b) => a + b, 0);
  assert.equal(sum(covered) + sum(skipped), cases.length);
  for (const scheme of SUPPORTED_SCHEMES) {
    if (["zeros", "ones", "constant"].includes(scheme)) continue;
    assert.ok([...covered.keys()].some((k) => k.startsWith(`${scheme}/`)), `${scheme} has golden cases`);
  }
  t.diagnostic(`golden cases covered: ${sum(covered)}, skipped (matrix schemes): ${sum(skipped)}, of ${cases.length}`);
  t.diagnostic(`covered: ${[...covered].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  t.diagnostic(`skipped: ${[...skipped].map(([k, v]) => `${k} ${v}`).join(", ")}`);
});
