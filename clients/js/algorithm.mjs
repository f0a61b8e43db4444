// initw-v1 in JavaScript: an independent implementation of docs/ALGORITHM.md for Node.js 20.
//
//   import { generate } from "./algorithm.mjs";
//   const bytes = generate({ name: "weight", shape: [256, 784], scheme: "xavier_uniform", dtype: "float32" }, 0n);
//   // bytes: Uint8Array, little-endian, C order: exactly the stored bytes of the service's tensor
//
// Written from the spec, section by section (§n below is section n of docs/ALGORITHM.md), with no
// dependency beyond node:crypto (SHA-256 for the key). It covers the elementwise schemes (§8, §11.1
// to §11.3): zeros, ones, constant, uniform, normal, truncated_normal, xavier_*, kaiming_*, lecun_*,
// variance_scaling, in float64, float32, float16, bfloat16, float8_e4m3fn and float8_e5m2 (and
// int64 for integral constants).
// The matrix schemes (§11.4 to §11.11) are not implemented and throw.
//
// Arithmetic (§1): a JavaScript Number is an IEEE-754 binary64 and every + - * / is rounded once,
// to nearest, ties to even, with no contraction into fused multiply-adds (ECMAScript forbids it),
// so the formulas of the spec are written here literally, in the order the spec writes them.
// Math.sqrt is the correctly rounded square root on every engine we know of (V8 emits sqrtsd /
// fsqrt); the test suite checks it against exact BigInt arithmetic. No other Math function is in a
// value path: Math.log and Math.exp are not pinned, §5 defines the logarithm. Constants are parsed
// from the spec's hexadecimal literals (decimal literals of more than 20 digits need not be
// correctly rounded by an ECMAScript engine). Words are 64-bit: they are kept as (hi, lo) pairs of
// unsigned 32-bit integers, and Philox's 64x64 -> 128-bit products are done in 16-bit limbs.
// The exact scalars of §7 (the normal CDF and truncated-normal moments) use BigInt fixed point, and
// BigInt decimals for the roundings to 28 and 100 significant digits that §7's errata make part of v1.

import { createHash } from "node:crypto";

export const ALGORITHM = "initw-v1";

// ---------------------------------------------------------------------------------------------
// Binary64 helpers: bit access, exact powers of two, hexadecimal literals, rint (§1)
// ---------------------------------------------------------------------------------------------

const scratch = new DataView(new ArrayBuffer(8));

/** The binary64 whose bit pattern is (hi, lo) (unsigned 32-bit halves). */
export function fromBits(hi, lo) {
  scratch.setUint32(0, lo >>> 0, true);
  scratch.setUint32(4, hi >>> 0, true);
  return scratch.getFloat64(0, true);
}

/** The (hi, lo) unsigned 32-bit halves of the bit pattern of the binary64 x. */
export function toBits(x) {
  scratch.setFloat64(0, x, true);
  return [scratch.getUint32(4, true), scratch.getUint32(0, true)];
}

/** 2^k exactly, for -1074 <= k <= 1023 (built from its bits, not with Math.pow). */
export function pow2(k) {
  if (!Number.isInteger(k) || k < -1074 || k > 1023) throw new RangeError(`2^${k} is not a binary64`);
  if (k >= -1022) return fromBits((k + 1023) << 20, 0); // normal: exponent field k + 1023, mantissa 0
  const bit = k + 1074; // subnormal: the single mantissa bit 2^(k + 1074) of 2^-1074
  return bit >= 32 ? fromBits(2 ** (bit - 32), 0) : fromBits(0, 2 ** bit);
}

/** x * 2^k exactly (ldexp), when the result is a binary64 (split so 2^k itself never overflows). */
export function ldexp(x, k) {
  while (k > 1023) {
    x *= pow2(1023);
    k -= 1023;
  }
  while (k < -1022) {
    x *= pow2(-1022);
    k += 1022;
  }
  return x * pow2(k);
}

/** The binary64 of a hexadecimal floating-point literal such as "0x1.8p+1" or "-0x1.6c16c16bebd93p-9", exactly. */
export function hexFloat(literal) {
  const match = /^(-?)0x([0-9a-f]+)(?:\.([0-9a-f]*))?p([+-]?\d+)$/i.exec(literal);
  if (!match) throw new SyntaxError(`not a hexadecimal float: ${literal}`);
  const [, sign, whole, fraction = "", exponent] = match;
  const mantissa = BigInt(`0x${whole}${fraction}`);
  if (mantissa >= 1n << 53n) throw new RangeError(`more than 53 bits: ${literal}`);
  const value = ldexp(Number(mantissa), Number(exponent) - 4 * fraction.length); // Number(m) exact below 2^53
  return sign ? -value : value;
}

const TWO52 = 2 ** 52;

/** Round to integer, ties to even (C's rint in the default rounding mode); exact. */
export function rint(x) {
  const a = Math.abs(x);
  if (!(a < TWO52)) return x; // already an integer (or not finite)
  const r = a + TWO52 - TWO52; // the addition rounds to nearest-even at the units place
  return x < 0 || Object.is(x, -0) ? -r : r;
}

// ---------------------------------------------------------------------------------------------
// §2 Keys
// ---------------------------------------------------------------------------------------------

const TWO64 = 1n << 64n;

/** A seed as a BigInt in 0 ... 2^64 - 1, from a BigInt, a safe integer Number or a decimal string. */
export function parseSeed(seed) {
  let value;
  if (typeof seed === "bigint") value = seed;
  else if (typeof seed === "number" && Number.isSafeInteger(seed)) value = BigInt(seed);
  else if (typeof seed === "string" && /^\d+$/.test(seed)) value = BigInt(seed);
  else throw new TypeError(`seed must be an integer in 0 ... 2^64 - 1 (BigInt, safe integer or decimal string), got ${seed}`);
  if (value < 0n || value >= TWO64) throw new RangeError(`seed ${value} is outside 0 ... 2^64 - 1`);
  return value;
}

/**
 * The Philox key of a tensor (§2): SHA-256("initw-v1" || 0x00 || seed as 8 bytes LE || name UTF-8),
 * its first 16 bytes read little-endian; k0 the low 64 bits, k1 the high. Returned as 32-bit
 * halves { k0hi, k0lo, k1hi, k1lo }, plus k0 and k1 as BigInt for display.
 */
export function deriveKey(seed, name) {
  const seedBytes = Buffer.alloc(8);
  seedBytes.writeBigUInt64LE(parseSeed(seed));
  const message = Buffer.concat([Buffer.from(ALGORITHM, "ascii"), Buffer.from([0]), seedBytes, Buffer.from(name, "utf8")]);
  const digest = createHash("sha256").update(message).digest();
  return {
    k0lo: digest.readUInt32LE(0),
    k0hi: digest.readUInt32LE(4),
    k1lo: digest.readUInt32LE(8),
    k1hi: digest.readUInt32LE(12),
    k0: digest.readBigUInt64LE(0),
    k1: digest.readBigUInt64LE(8),
  };
}

// ---------------------------------------------------------------------------------------------
// §3 Random words: Philox4x64-10
// ---------------------------------------------------------------------------------------------

// The multipliers and Weyl key increments as 16-bit limbs / 32-bit halves.
const M0 = [0x6c93, 0xe14c, 0x470e, 0xd2e7]; // 0xD2E7470EE14C6C93, least significant limb first
const M1 = [0x1157, 0x9512, 0x8263, 0xca5a]; // 0xCA5A826395121157
const W0_HI = 0x9e3779b9,
  W0_LO = 0x7f4a7c15; // 0x9E3779B97F4A7C15
const W1_HI = 0xbb67ae85,
  W1_LO = 0x84caa73b; // 0xBB67AE8584CAA73B

const mulOut = new Uint32Array(4); // [hi.hi, hi.lo, lo.hi, lo.lo] of the last mulhilo

/**
 * The 128-bit product m * (hi, lo) into mulOut as four 32-bit words, most significant first.
 * Schoolbook multiplication in 16-bit limbs: every partial sum is below 2^36, exact in binary64.
 */
function mulhilo(m, hi, lo) {
  const [m0, m1, m2, m3] = m;
  const b0 = lo & 0xffff,
    b1 = lo >>> 16,
    b2 = hi & 0xffff,
    b3 = hi >>> 16;
  let v = m0 * b0;
  let c = Math.floor(v / 65536);
  const r0 = v - c * 65536;
  v = m0 * b1 + m1 * b0 + c;
  c = Math.floor(v / 65536);
  const r1 = v - c * 65536;
  v = m0 * b2 + m1 * b1 + m2 * b0 + c;
  c = Math.floor(v / 65536);
  const r2 = v - c * 65536;
  v = m0 * b3 + m1 * b2 + m2 * b1 + m3 * b0 + c;
  c = Math.floor(v / 65536);
  const r3 = v - c * 65536;
  v = m1 * b3 + m2 * b2 + m3 * b1 + c;
  c = Math.floor(v / 65536);
  const r4 = v - c * 65536;
  v = m2 * b3 + m3 * b2 + c;
  c = Math.floor(v / 65536);
  const r5 = v - c * 65536;
  v = m3 * b3 + c; // below 2^32: the product fits in 128 bits
  mulOut[0] = v;
  mulOut[1] = r5 * 65536 + r4;
  mulOut[2] = r3 * 65536 + r2;
  mulOut[3] = r1 * 65536 + r0;
}

/** (hi, lo) + (addHi, addLo) mod 2^64, as [hi, lo]. */
function add64(hi, lo, addHi, addLo) {
  const l = lo + addLo;
  const carry = l >= 0x100000000 ? 1 : 0;
  return [(hi + addHi + carry) >>> 0, l >>> 0];
}

/**
 * Philox4x64-10 of the counter (c0, c1, c2, c3) under the key (k0, k1), each 64-bit word given as
 * its 32-bit halves: counter = [c0hi, c0lo, c1hi, c1lo, c2hi, c2lo, c3hi, c3lo], key likewise
 * [k0hi, k0lo, k1hi, k1lo]. Writes the four output words into out in the same layout.
 */
export function philox4x64(counter, key, out = new Uint32Array(8)) {
  let [c0h, c0l, c1h, c1l, c2h, c2l, c3h, c3l] = counter;
  let [k0h, k0l, k1h, k1l] = key;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      // before rounds 2 ... 10: k0 += 0x9E3779B97F4A7C15, k1 += 0xBB67AE8584CAA73B (mod 2^64)
      [k0h, k0l] = add64(k0h, k0l, W0_HI, W0_LO);
      [k1h, k1l] = add64(k1h, k1l, W1_HI, W1_LO);
    }
    mulhilo(M0, c0h, c0l); // (hi0, lo0) = mulhilo(0xD2E7470EE14C6C93, c0)
    const hi0h = mulOut[0],
      hi0l = mulOut[1],
      lo0h = mulOut[2],
      lo0l = mulOut[3];
    mulhilo(M1, c2h, c2l); // (hi1, lo1) = mulhilo(0xCA5A826395121157, c2)
    const hi1h = mulOut[0],
      hi1l = mulOut[1],
      lo1h = mulOut[2],
      lo1l = mulOut[3];
    // (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    const n0h = (hi1h ^ c1h ^ k0h) >>> 0,
      n0l = (hi1l ^ c1l ^ k0l) >>> 0;
    const n2h = (hi0h ^ c3h ^ k1h) >>> 0,
      n2l = (hi0l ^ c3l ^ k1l) >>> 0;
    c0h = n0h;
    c0l = n0l;
    c1h = lo1h;
    c1l = lo1l;
    c2h = n2h;
    c2l = n2l;
    c3h = lo0h;
    c3l = lo0l;
  }
  out[0] = c0h;
  out[1] = c0l;
  out[2] = c1h;
  out[3] = c1l;
  out[4] = c2h;
  out[5] = c2l;
  out[6] = c3h;
  out[7] = c3l;
  return out;
}

/**
 * Words start ... stop - 1 of stream 0 (§3, word addressing): word j is lane j mod 4 of the block
 * whose counter is b = floor(j / 4) (c0 = b, c1 = c2 = c3 = 0). Returns a Uint32Array of
 * (hi, lo) pairs. Element i of a tensor takes word i.
 */
export function words(key, start, stop) {
  const n = stop - start;
  const out = new Uint32Array(2 * n);
  const keyWords = [key.k0hi, key.k0lo, key.k1hi, key.k1lo];
  const counter = [0, 0, 0, 0, 0, 0, 0, 0];
  const block = new Uint32Array(8);
  for (let b = Math.floor(start / 4); 4 * b < stop; b++) {
    counter[0] = Math.floor(b / 0x100000000); // c0 = b (b < 2^51 for any tensor we can hold)
    counter[1] = b >>> 0;
    philox4x64(counter, keyWords, block);
    for (let lane = 0; lane < 4; lane++) {
      const j = 4 * b + lane;
      if (j < start || j >= stop) continue;
      out[2 * (j - start)] = block[2 * lane];
      out[2 * (j - start) + 1] = block[2 * lane + 1];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// §4 Uniform variates (exact: integers below 2^53 times powers of two)
// ---------------------------------------------------------------------------------------------

const TWO_M53 = pow2(-53);
const TWO_M52 = pow2(-52);

/** u01(w) = (w >> 11) * 2^-53, in [0, 1). */
export function u01(hi, lo) {
  return (hi * 2 ** 21 + (lo >>> 11)) * TWO_M53;
}

/** uopen(w) = (w >> 12) * 2^-52 + 2^-53, in (0, 1). */
export function uopen(hi, lo) {
  return (hi * 2 ** 20 + (lo >>> 12)) * TWO_M52 + TWO_M53;
}

// ---------------------------------------------------------------------------------------------
// §5 The pinned logarithm log_v1 (fdlibm e_log.c reduction and kernel)
// ---------------------------------------------------------------------------------------------

const LN2_HI = hexFloat("0x1.62e42fee00000p-1");
const LN2_LO = hexFloat("0x1.a39ef35793c76p-33");
const LG1 = hexFloat("0x1.5555555555593p-1");
const LG2 = hexFloat("0x1.999999997fa04p-2");
const LG3 = hexFloat("0x1.2492494229359p-2");
const LG4 = hexFloat("0x1.c71c51d8e78afp-3");
const LG5 = hexFloat("0x1.7466496cb03dep-3");
const LG6 = hexFloat("0x1.39a09d078c69fp-3");
const LG7 = hexFloat("0x1.2f112df3e5244p-3");

/** log_v1(x) for a positive normal binary64 x (x >= 2^-1022). */
export function logV1(x) {
  if (!(x >= pow2(-1022)) || x === Infinity) throw new RangeError(`log_v1 is defined on positive normal numbers, got ${x}`);
  const [hi, lo] = toBits(x);
  const e = ((hi >>> 20) & 0x7ff) - 1023; // exponent field - 1023
  const mHi = hi & 0xfffff; // mantissa m = (mHi, lo): 20 + 32 bits
  let y, k;
  if (mHi > 0x6a09e || (mHi === 0x6a09e && lo >= 0x667f3bcd)) {
    // m >= 0x6A09E667F3BCD
    y = fromBits((0x3fe << 20) | mHi, lo);
    k = e + 1;
  } else {
    y = fromBits((0x3ff << 20) | mHi, lo);
    k = e;
  }
  const f = y - 1;
  const s = f / (2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const R = t2 + t1;
  const hfsq = 0.5 * f * f;
  const dk = k;
  return dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f);
}

// ---------------------------------------------------------------------------------------------
// §6 The normal quantile ndtri_v1 (AS241 PPND16)
// ---------------------------------------------------------------------------------------------

const coefficients = (list) => list.map(hexFloat);
// Highest degree first; B, D, F end with the constant term 1.
const A = coefficients(["0x1.39a296f7d925ep+11", "0x1.052d26b2e45e4p+15", "0x1.06c1c55b78f20p+16", "0x1.66c3e869b752ap+15", "0x1.ad1d8cd4ee71dp+13", "0x1.ece5d2213c0ccp+10", "0x1.0a4888b1a436ep+7", "0x1.b18d91e9eef75p+1"]);
const B = [...coefficients(["0x1.46a7eca984b69p+12", "0x1.c0e457cb1ae76p+14", "0x1.3317caa64f4bep+15", "0x1.4b772d5d65266p+14", "0x1.512322e75c89fp+12", "0x1.5797efdc8b3f7p+9", "0x1.5281b386e1ab5p+5"]), 1];
const C = coefficients(["0x1.9615ac0b7ace9p-11", "0x1.744eb6c45ec67p-6", "0x1.ef2abb9b85c37p-3", "0x1.453cc085375b2p+0", "0x1.d2ecb1a3d02c4p+1", "0x1.713f71462256ap+2", "0x1.2857748cab19bp+2", "0x1.6c665fde9526ap+0"]);
const D = [...coefficients(["0x1.20d3f686439e4p-30", "0x1.1f18cbfdf2728p-11", "0x1.f207a7eab17bfp-7", "0x1.2f5123394f040p-3", "0x1.61292f23385c9p-1", "0x1.ad278e6526633p+0", "0x1.06cefbb46a449p+1"]), 1];
const E = coefficients(["0x1.afb74d693bf93p-23", "0x1.c6ec6cc59e02ap-16", "0x1.45c1908425345p-10", "0x1.b2b41193b4ee7p-6", "0x1.2fad9315255cfp-2", "0x1.c8ea6461fa445p+0", "0x1.5daea6e875003p+2", "0x1.aa1b1c13ee526p+2"]);
const F = [...coefficients(["0x1.269bff1f8c190p-49", "0x1.31446f740b9e0p-23", "0x1.35c2c496374bfp-16", "0x1.9c8bc979dc5d7p-11", "0x1.e76f93215462ap-7", "0x1.186eb183443fbp-3", "0x1.331d34fc7d77fp-1"]), 1];
export const AS241 = { A, B, C, D, E, F };

/** Horner's rule from the highest coefficient: ((c0*r + c1)*r + c2)... (§1). */
function horner(c, r) {
  let acc = c[0];
  for (let i = 1; i < c.length; i++) acc = acc * r + c[i];
  return acc;
}

/** ndtri_v1(p) for binary64 p in (0, 1). */
export function ndtriV1(p) {
  const q = p - 0.5;
  if (Math.abs(q) <= 0.425) {
    const r = 0.180625 - q * q;
    return (horner(A, r) * q) / horner(B, r);
  }
  let r = q < 0 ? p : 1 - p;
  r = Math.sqrt(-logV1(r));
  let x;
  if (r <= 5) {
    r = r - 1.6;
    x = horner(C, r) / horner(D, r);
  } else {
    r = r - 5;
    x = horner(E, r) / horner(F, r);
  }
  return q < 0 ? -x : x;
}

// ---------------------------------------------------------------------------------------------
// §7 Exact scalars: Φ, φ and the std of a truncated normal
// ---------------------------------------------------------------------------------------------
//
// §7 defines each scalar as the correctly rounded binary64 of a formula in which a few
// intermediate values are first rounded to 28 significant decimal digits (ties to even): the
// exponent s of e^(-s) in Φ and φ. Those roundings are done here exactly, with decimal numbers
// c · 10^e held as BigInts; everything else is BigInt fixed point: an integer N stands for
// N * 2^-P. With P = 2600 fraction bits, everything below 39 standard deviations is carried with
// well over 1000 significant bits (e^(39^2/2) is about 2^1097, φ(39) about 2^-1098), so rounding
// once at the end is correct rounding.
//
// For x >= 0, with E = e^(x^2/2) and T = Σ_n x^(2n) / (2n+1)!!, the series of §7
// erf(z) = 2/√π e^(-z^2) Σ 2^n z^(2n+1)/(2n+1)!! at z = x/√2 reads erf(x/√2) = √(2/π) x T / E, and
// erfc(x/√2) = (E - √(2/π) x T) / E, the cancellation taken in absolute precision (E and
// √(2/π) x T are both near 2^1097 at x = 39). With s the rounded exponent of §7 and S = e^s:
//   series branch (z <= 3):       Φ(-x) = (1 - erf(z) · e^(z²-s)) / 2 = (S - √(2/π) x T) / (2S)
//   continued fraction (z > 3):   Φ(-x) = erfc(z) · e^(z²-s) / 2     = (E - √(2/π) x T) / (2S)
// and φ(x) = e^(-s'/2)/√(2π) with s' = x² rounded as §7 says. For x >= 0, Φ(x) = 1 - Φ(-x)
// rounded to 100 significant decimal digits (a multiple of 10^-100), as §7 says: near 1 it keeps
// the tail mass to 100 digits absolute only, which the moments of far upper tails inherit.

const P = 2600n;
const ONE = 1n << P;
const CUTOFF = 39; // §7: Φ(x) = 0 for x <= -39, 1 for x >= 39; φ(x) = 0 for |x| >= 39

const fmul = (a, b) => (a * b) >> P;
const fdiv = (a, b) => (a << P) / b;
const isqrt = (n) => {
  // floor(sqrt(n)) for a BigInt n >= 0, by Newton's method from above
  if (n < 2n) return n;
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
};
const fsqrt = (a) => isqrt(a << P);

/** |x| of a finite binary64 as an exact fraction [num, den] of BigInts (den a power of two). */
function fraction(x) {
  const [hi, lo] = toBits(Math.abs(x));
  const field = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent = -1074n; // value = mantissa * 2^exponent
  if (field !== 0) {
    mantissa |= 1n << 52n;
    exponent = BigInt(field) - 1075n;
  }
  return exponent >= 0n ? [mantissa << exponent, 1n] : [mantissa, 1n << -exponent];
}

/** A binary64 as fixed point, exactly (for |x| >= 2^-2600; smaller values truncate toward 0). */
function fixed(x) {
  if (x === 0) return 0n;
  const [num, den] = fraction(x);
  const n = (num << P) / den; // den = 2^k: exact while k <= P
  return x < 0 ? -n : n;
}

// ---- decimal numbers { c, e } = c · 10^e, c >= 0, rounded to significant digits, ties to even

const pow10 = (k) => 10n ** BigInt(k);

/** The fraction num/den (num >= 0, den > 0) rounded to `digits` significant decimal digits, half-even. */
export function roundDecimal(num, den, digits) {
  if (num === 0n) return { c: 0n, e: 0n };
  const top = pow10(digits);
  // num/den lies in [10^(k-1), 10^(k+1)) for k = (decimal length of num) - (that of den)
  let e = BigInt(num.toString().length - den.toString().length - digits);
  for (;;) {
    const [n, d] = e >= 0n ? [num, den * 10n ** e] : [num * 10n ** -e, den];
    let q = n / d; // 10^(digits-1) <= q < 10^(digits+1)
    if (q >= top) {
      e += 1n;
      continue;
    }
    const twice = 2n * (n - q * d);
    if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n;
    return q === top ? { c: top / 10n, e: e + 1n } : { c: q, e };
  }
}

/** A decimal number as the fraction [num, den]. */
const decimalFraction = ({ c, e }) => (e >= 0n ? [c * 10n ** e, 1n] : [c, 10n ** -e]);
/** A decimal number rounded to `digits` significant digits, half-even. */
const roundTo10 = (v, digits) => roundDecimal(...decimalFraction(v), digits);
/** A decimal number in fixed point (truncated below 2^-P). */
const decimalFixed = (v) => {
  const [num, den] = decimalFraction(v);
  return (num << P) / den;
};

let sqrt2Decimal = null;

/** √2 rounded to 100 significant digits, half-even: c · 10^-99 with c = round(√(2 · 10^198)). */
function sqrt2At100() {
  if (sqrt2Decimal) return sqrt2Decimal;
  const square = 2n * 10n ** 198n;
  let c = isqrt(square); // floor; √2 is irrational, so no tie: round up iff (c + 1/2)^2 < square
  if ((2n * c + 1n) ** 2n < 4n * square) c += 1n;
  sqrt2Decimal = { c, e: -99n };
  return sqrt2Decimal;
}

/**
 * The rounded exponents of §7 for a binary64 x (only |x| matters):
 *   z  = |x| / √2, √2 and the quotient each rounded to 100 significant digits;
 *   s  = z·z rounded to 100 significant digits, then to 28 (the exponent in Φ: e^(-s));
 *   s2 = x·x rounded to 100 significant digits, then to 28 (φ(x) = e^(-s2/2)/√(2π));
 *   series = z <= 3 (Φ by the series, else by the continued fraction).
 */
export function roundedExponents(x) {
  const [num, den] = fraction(x);
  const r2 = sqrt2At100();
  const z = roundDecimal(num * 10n ** -r2.e, den * r2.c, 100); // |x| / r2, r2 = c · 10^-99
  const s = roundTo10(roundTo10({ c: z.c * z.c, e: 2n * z.e }, 100), 28);
  const s2 = roundTo10(roundDecimal(num * num, den * den, 100), 28);
  const [zn, zd] = decimalFraction(z);
  return { z, s, s2, series: zn <= 3n * zd };
}

/** The binary64 nearest (ties to even) to N * 2^-P, subnormals included. */
export function roundFixed(n, scale = P) {
  if (n === 0n) return 0;
  const negative = n < 0n;
  if (negative) n = -n;
  const e = BigInt(n.toString(2).length) - 1n - scale; // 2^e <= value < 2^(e+1)
  let quantum = e - 52n; // exponent of the last mantissa bit
  if (quantum < -1074n) quantum = -1074n;
  const shift = quantum + scale; // value / 2^quantum = n / 2^shift
  let m;
  if (shift <= 0n) m = n << -shift;
  else {
    m = n >> shift;
    const rest = n - (m << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
  }
  if (quantum > 971n) return negative ? -Infinity : Infinity; // beyond the binary64 range (not reached here)
  const value = ldexp(Number(m), Number(quantum)); // m <= 2^53: exact; the product is representable
  return negative ? -value : value;
}

let constants = null;

/** π, √(2/π) and 1/√(2π) in fixed point, once. */
function exactConstants() {
  if (constants) return constants;
  // π by Machin's formula, π = 16 atan(1/5) - 4 atan(1/239), with 64 guard bits
  const G = P + 64n;
  const arctanInverse = (n) => {
    // atan(1/n) = Σ (-1)^k / ((2k+1) n^(2k+1)), scaled by 2^G
    const n2 = n * n;
    let power = (1n << G) / n;
    let sum = power;
    for (let k = 1n; power !== 0n; k++) {
      power /= n2;
      const term = power / (2n * k + 1n);
      sum += k % 2n ? -term : term;
    }
    return sum;
  };
  const pi = (16n * arctanInverse(5n) - 4n * arctanInverse(239n)) >> 64n;
  constants = {
    pi,
    sqrt2OverPi: fsqrt(fdiv(2n * ONE, pi)),
    invSqrt2Pi: fsqrt(fdiv(ONE, 2n * pi)),
  };
  return constants;
}

/** e^y in fixed point, for fixed y >= 0 (y <= ~761 here): Taylor series of e^(y / 2^k), squared k times. */
function fexp(y) {
  const guard = 96n;
  const Q = P + guard;
  let k = BigInt(y.toString(2).length) - P + 8n; // y / 2^k < 2^-8
  if (k < 0n) k = 0n;
  const r = (y << guard) >> k; // at scale 2^-Q
  let term = 1n << Q;
  let sum = term;
  for (let n = 1n; term !== 0n; n++) {
    term = (term * r) >> Q;
    term /= n;
    sum += term;
  }
  for (let i = 0n; i < k; i++) sum = (sum * sum) >> Q;
  return sum >> guard;
}

const cache = new Map();

/** { PhiNeg: Φ(-|x|), invDensity: e^(s'/2) } in fixed point, for |x| < 39 (§7, with its roundings). */
function normalTail(x) {
  const key = Math.abs(x);
  if (cache.has(key)) return cache.get(key);
  const { sqrt2OverPi } = exactConstants();
  const { s, s2, series } = roundedExponents(key);
  const ax = fixed(key);
  const x2 = fmul(ax, ax); // exact: a binary64 squared has at most 106 significant bits
  let term = ONE; // x^(2n) / (2n+1)!!
  let T = ONE;
  for (let n = 1n; term !== 0n; n++) {
    term = fmul(term, x2) / (2n * n + 1n);
    T += term;
  }
  const erfPart = fmul(fmul(sqrt2OverPi, ax), T); // erf(x/√2) e^(x²/2)
  const S = fexp(decimalFixed(s)); // e^s
  const head = series ? S : fexp(x2 >> 1n); // the series gives 1 - erf·e^(z²-s); the fraction erfc·e^(z²-s)
  const result = { PhiNeg: fdiv(head - erfPart, 2n * S), invDensity: fexp(decimalFixed(s2) >> 1n) };
  cache.set(key, result);
  return result;
}

const upperCache = new Map();

/** Φ(x) in fixed point; ±Infinity and |x| >= 39 as §7 says; for x >= 0, dec₁₀₀(1 - Φ(-x)). */
function PhiFixed(x) {
  if (x <= -CUTOFF) return 0n;
  if (x >= CUTOFF) return ONE;
  const { PhiNeg } = normalTail(x);
  if (x < 0) return PhiNeg;
  if (!upperCache.has(x)) upperCache.set(x, decimalFixed(roundDecimal(ONE - PhiNeg, ONE, 100)));
  return upperCache.get(x);
}

/** φ(x) = e^(-s'/2)/√(2π) in fixed point; 0 for |x| >= 39. */
function phiFixed(x) {
  if (!(Math.abs(x) < CUTOFF)) return 0n;
  return fdiv(exactConstants().invSqrt2Pi, normalTail(x).invDensity);
}

/** Φ(x), the standard normal CDF of §7, rounded once to binary64. */
export function Phi(x) {
  if (Number.isNaN(x)) throw new RangeError("Φ(NaN)");
  return roundFixed(PhiFixed(x));
}

/** φ(x), the standard normal density of §7, rounded once to binary64. */
export function phi(x) {
  return roundFixed(phiFixed(x));
}

/**
 * m₂ - m₁² of N(0, 1) truncated to [alpha, beta] (§7) in fixed point, from Φ and φ of §7, or
 * null where the moments of [alpha, beta] are unresolved: Z = 0 or m₂ - m₁² <= 0.
 */
function truncatedVariance(alpha, beta) {
  const bound = (v) => (v <= -CUTOFF ? -Infinity : v >= CUTOFF ? Infinity : v); // beyond ±39: infinite
  const a = bound(alpha),
    b = bound(beta);
  const Z = PhiFixed(b) - PhiFixed(a);
  if (Z === 0n) return null; // Φ is non-decreasing: Z is never negative
  const pa = phiFixed(a),
    pb = phiFixed(b); // 0 at ±∞, so the products below are 0 there
  const apa = Number.isFinite(a) ? fmul(fixed(a), pa) : 0n;
  const bpb = Number.isFinite(b) ? fmul(fixed(b), pb) : 0n;
  const m1 = fdiv(pa - pb, Z); // m1 = (φ(α) - φ(β)) / Z
  const m2 = ONE + fdiv(apa - bpb, Z); // m2 = 1·m0 + (α φ(α) - β φ(β)) / Z
  const variance = m2 - fmul(m1, m1);
  return variance > 0n ? variance : null;
}

/**
 * The standard deviation of N(0, 1) truncated to [alpha, beta] (§7), rounded once. The moments of
 * [alpha, beta] as written; only if they are unresolved (Z = 0 or m₂ - m₁² <= 0) and alpha > 0,
 * those of the mirror image [-beta, -alpha] (the same std); refused if that is unresolved too.
 */
export function truncatedStd(alpha, beta) {
  let variance = truncatedVariance(alpha, beta);
  if (variance === null && alpha > 0) variance = truncatedVariance(-beta, -alpha);
  if (variance === null) {
    throw new InitError(`truncated_normal: [${alpha}, ${beta}] is too narrow for the moments of §7 (Z = 0 or m2 - m1^2 <= 0)`);
  }
  return roundFixed(fsqrt(variance));
}

// ---------------------------------------------------------------------------------------------
// §8 The four elementwise distributions
// ---------------------------------------------------------------------------------------------

const TWO_M1022 = pow2(-1022);
const TWO_M1000 = pow2(-1000);

/** A request the algorithm refuses (the service answers 422 for the same request). */
export class InitError extends Error {}

function finite(name, value) {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new InitError(`${name} must be a finite number, got ${value}`);
  return value;
}

/** Constant(c): no words. */
export function constant(c) {
  finite("value", c);
  return { kind: "constant", c, value: () => c };
}

/** Uniform(low, high), low < high (and high - low finite). */
export function uniform(low, high) {
  finite("a", low);
  finite("b", high);
  if (!(low < high)) throw new InitError(`uniform needs low < high, got [${low}, ${high}]`);
  const width = high - low;
  if (!Number.isFinite(width)) throw new InitError("b - a overflows binary64");
  return { kind: "uniform", low, high, value: (hi, lo) => Math.min(low + width * u01(hi, lo), high) };
}

/** Normal(mean, std), std > 0. */
export function normal(mean, std) {
  finite("mean", mean);
  if (!(finite("std", std) > 0)) throw new InitError(`normal needs std > 0, got ${std}`);
  return {
    kind: "normal",
    mean,
    std,
    value: (hi, lo) => {
      const z = ndtriV1(uopen(hi, lo));
      const t = std * z;
      return mean + t;
    },
  };
}

// §8.1 Complex values: element i takes words 2i and 2i+1; each part rounded once.

const PIO4_HI = hexFloat("0x1.921fb54442d18p-1");
const PIO4_LO = hexFloat("0x1.1a62633145c07p-55");
const KS = coefficients(["-0x1.5555555555549p-3", "0x1.111111110f8a6p-7", "-0x1.a01a019c161d5p-13", "0x1.71de357b1fe7dp-19", "-0x1.ae5e68a2b9cebp-26", "0x1.5d93a5acfd57cp-33"]);
const KC = coefficients(["0x1.555555555554cp-5", "-0x1.6c16c16c15177p-10", "0x1.a01a019cb1590p-16", "-0x1.27e4f809c52adp-22", "0x1.1ee9ebdb4b1c4p-29", "-0x1.8fae9be8838d4p-37"]);

/** §12.5 sincos_2pi_v1: [sin(2πu), cos(2πu)] for u in [0, 1), reduced exactly by octant. */
export function sincos2pi(u) {
  const v = u * 8;
  const k = Math.floor(v);
  const f = v - k;
  const g = k % 2 === 1 ? 1 - f : f;
  const x = g * PIO4_HI;
  const y = g * PIO4_LO;
  const z = x * x;
  const w = z * z;
  const r = KS[1] + z * (KS[2] + z * KS[3]) + z * w * (KS[4] + z * KS[5]);
  const vx = z * x;
  const s = x - (z * (0.5 * y - vx * r) - y - vx * KS[0]);
  const rc = z * (KC[0] + z * (KC[1] + z * KC[2])) + w * w * (KC[3] + z * (KC[4] + z * KC[5]));
  const hz = 0.5 * z;
  const q = 1 - hz;
  const c = q + (1 - q - hz + (z * rc - x * y));
  const swap = ((k + 1) & 2) === 2; // octants 1, 2, 5, 6: the sine from the cosine kernel
  const sin = swap ? c : s;
  const cos = swap ? s : c;
  return [k >= 4 ? -sin : sin, k >= 2 && k <= 5 ? -cos : cos];
}

const ONE_MINUS_EXP_MINUS_4 = hexFloat("0x1.f69f5523ef618p-1");
const TRUNCATED_COMPLEX_STD_2 = 0.95311164380491208;

/** value + 0i. */
export function complexConstant(c) {
  finite("value", c);
  return { kind: "complex_constant", c };
}

/** (N(0,1) + i N(0,1)) · std / √2: each part normal(0, std / √2). */
export function complexNormal(std) {
  const part = normal(0, std / Math.sqrt(2.0));
  return { kind: "complex", pair: (h0, l0, h1, l1) => [part.value(h0, l0), part.value(h1, l1)] };
}

function polar(rho, h1, l1) {
  const [sin, cos] = sincos2pi(u01(h1, l1));
  return [rho * cos, rho * sin];
}

/** Uniform on the disk of radius scale · √2: rho = √(2 · u01(w0)) · scale, angle 2π · u01(w1). */
export function complexDisk(scale) {
  return { kind: "complex", pair: (h0, l0, h1, l1) => polar(Math.sqrt(2.0 * u01(h0, l0)) * scale, h1, l1) };
}

/** JAX's complex truncated normal: X = 0 − log_v1(1 − (1 − e^−4) · u01(w0)), rho = √X · std. */
export function complexTruncated(std) {
  return {
    kind: "complex",
    pair: (h0, l0, h1, l1) => {
      const t = u01(h0, l0) * ONE_MINUS_EXP_MINUS_4;
      const x = 0 - logV1(1 - t);
      return polar(Math.sqrt(x) * std, h1, l1);
    },
  };
}

/**
 * TruncatedNormal(mean, std; α, β; low, high): normal(mean, std) restricted to [low, high], with
 * standardized bounds α < β. Use truncatedAbsolute / truncatedSigma for the two bound conventions.
 */
export function truncatedNormal(mean, std, alpha, beta, low, high) {
  finite("mean", mean);
  if (!(finite("std", std) > 0)) throw new InitError(`truncated_normal needs std > 0, got ${std}`);
  if (!(Number.isFinite(alpha) && Number.isFinite(beta) && alpha < beta)) throw new InitError(`truncated_normal needs a < b`);
  const mirrored = alpha + beta > 0;
  const [a, b] = mirrored ? [-beta, -alpha] : [alpha, beta]; // the far bound maps to small probabilities
  const pa = Phi(a);
  const pb = Phi(b);
  if (pb < TWO_M1000) throw new InitError("truncated_normal: the near bound is more than about 37 standard deviations from the mean");
  const width = pb - pa; // may be 0 (bounds a few binary64 steps apart): every p is then pa
  truncatedStd(alpha, beta); // the moments of [α, β] (§7): refused where unresolved, mirror included
  return {
    kind: "truncated_normal",
    mean,
    std,
    alpha,
    beta,
    low,
    high,
    pa,
    pb,
    value: (hi, lo) => {
      const p = Math.max(pa + width * uopen(hi, lo), TWO_M1022);
      let z = Math.min(Math.max(ndtriV1(p), a), b);
      if (mirrored) z = -z;
      return Math.min(Math.max(mean + std * z, low), high);
    },
  };
}

/** PyTorch bounds: absolute a < b. α = (a - mean)/std, β = (b - mean)/std, low = a, high = b. */
export function truncatedAbsolute(mean, std, a, b) {
  finite("a", a);
  finite("b", b);
  if (!(a < b)) throw new InitError(`truncated_normal needs a < b, got a=${a}, b=${b}`);
  if (!(finite("std", std) > 0)) throw new InitError(`truncated_normal needs std > 0, got ${std}`);
  return truncatedNormal(mean, std, (a - mean) / std, (b - mean) / std, a, b);
}

/** Keras/JAX bounds in standard deviations: α = a, β = b, low = mean + std·a, high = mean + std·b. */
export function truncatedSigma(mean, std, a, b) {
  finite("a", a);
  finite("b", b);
  if (!(a < b)) throw new InitError(`truncated_normal needs a < b, got a=${a}, b=${b}`);
  if (!(finite("std", std) > 0)) throw new InitError(`truncated_normal needs std > 0, got ${std}`);
  return truncatedNormal(mean, std, a, b, mean + std * a, mean + std * b);
}

// ---------------------------------------------------------------------------------------------
// §9 Rounding to the output dtype
// ---------------------------------------------------------------------------------------------

/** float16 / bfloat16 rounding of §9: y = rint(x · 2^(fb - e)) · 2^(e - fb), ±∞ above max. */
function roundNarrow(x, fractionBits, eMin, max) {
  const field = (toBits(x)[0] >>> 20) & 0x7ff;
  const e = Math.max(field - 1023, eMin); // zero and subnormal x: field 0, so e = eMin
  const y = ldexp(rint(ldexp(x, fractionBits - e)), e - fractionBits);
  if (Math.abs(y) > max) return y < 0 ? -Infinity : Infinity;
  return y;
}

const F16_MAX = 65504;
const BF16_MAX = hexFloat("0x1.fep+127");

/** The IEEE half-precision bits of a binary64 y that float16 represents exactly (or ±∞). */
function halfBits(y) {
  const sign = y < 0 || Object.is(y, -0) ? 0x8000 : 0;
  const a = Math.abs(y);
  if (a === Infinity) return sign | 0x7c00;
  if (a < pow2(-14)) return sign | (a * 2 ** 24); // subnormal (or zero): a multiple of 2^-24
  const e = ((toBits(a)[0] >>> 20) & 0x7ff) - 1023;
  return sign | ((e + 15) << 10) | (ldexp(a, 10 - e) - 1024);
}

const E4M3_MAX = 448;
const E5M2_MAX = 57344;

/**
 * The float8 byte of a binary64 y that the format represents exactly (§9): sign, biased exponent,
 * fraction; a subnormal y (or zero) as y / 2^(eMin - fb). ±∞ (an overflow of roundNarrow) stores
 * `overflow`: e5m2's infinity 0x7c, or e4m3fn's NaN 0x7f (it has no infinity), with y's sign.
 */
function float8Bits(y, fractionBits, eMin, bias, overflow) {
  const sign = y < 0 || Object.is(y, -0) ? 0x80 : 0;
  const a = Math.abs(y);
  if (a === Infinity) return sign | overflow;
  if (a < pow2(eMin)) return sign | ldexp(a, fractionBits - eMin);
  const e = ((toBits(a)[0] >>> 20) & 0x7ff) - 1023;
  return sign | ((e + bias) << fractionBits) | (ldexp(a, fractionBits - e) - 2 ** fractionBits);
}

const f32 = new DataView(new ArrayBuffer(4));

export const DTYPES = {
  float64: { itemsize: 8, write: (view, offset, x) => view.setFloat64(offset, x, true) },
  // IEEE conversion (round to nearest, ties to even): DataView does exactly Math.fround
  float32: { itemsize: 4, write: (view, offset, x) => view.setFloat32(offset, x, true) },
  float16: { itemsize: 2, write: (view, offset, x) => view.setUint16(offset, halfBits(roundNarrow(x, 10, -14, F16_MAX)), true) },
  bfloat16: {
    itemsize: 2,
    write: (view, offset, x) => {
      f32.setFloat32(0, roundNarrow(x, 7, -126, BF16_MAX), true); // exact: y is representable
      view.setUint16(offset, f32.getUint32(0, true) >>> 16, true); // the high 16 bits of the float32
    },
  },
  float8_e4m3fn: { itemsize: 1, write: (view, offset, x) => view.setUint8(offset, float8Bits(roundNarrow(x, 3, -6, E4M3_MAX), 3, -6, 7, 0x7f)) },
  float8_e5m2: { itemsize: 1, write: (view, offset, x) => view.setUint8(offset, float8Bits(roundNarrow(x, 2, -14, E5M2_MAX), 2, -14, 15, 0x7c)) },
  // §9: two float32 parts, real then imaginary, each the IEEE conversion of its binary64 value
  complex64: {
    itemsize: 8,
    complex: true,
    write: (view, offset, [re, im]) => {
      view.setFloat32(offset, re, true);
      view.setFloat32(offset + 4, im, true);
    },
  },
};

/**
 * int64 (safetensors I64) holds only the constant fills with an integral value (zeros, ones,
 * constant): a BatchNorm layer's num_batches_tracked in the service's layer presets.
 */
const INT64 = {
  itemsize: 8,
  write: (view, offset, x) => view.setBigInt64(offset, BigInt(x), true),
};
DTYPES.int64 = INT64;

/** A binary64 value rounded to dtype, as that dtype's stored value read back as a Number. */
export function roundTo(dtype, x) {
  if (dtype === "float64") return x;
  if (dtype === "float32") return Math.fround(x);
  if (dtype === "float16") return roundNarrow(x, 10, -14, F16_MAX);
  if (dtype === "bfloat16") return roundNarrow(x, 7, -126, BF16_MAX);
  if (dtype === "float8_e4m3fn") {
    const y = roundNarrow(x, 3, -6, E4M3_MAX);
    return Number.isFinite(y) ? y : NaN; // no infinity: the overflow is NaN
  }
  if (dtype === "float8_e5m2") return roundNarrow(x, 2, -14, E5M2_MAX);
  throw new InitError(`dtype ${dtype} is not supported`);
}

// ---------------------------------------------------------------------------------------------
// §10 Fans, gains and layouts
// ---------------------------------------------------------------------------------------------

const product_ = (dims) => dims.reduce((a, b) => a * b, 1);

/**
 * (fan_in, fan_out) of a shape in a layout (§10); an explicit fan replaces the computed one. Each
 * fan is computed only when a scheme reads it, so a rank < 2 torch/jax tensor is refused only if
 * a fan it needs is not given explicitly.
 */
export function fans(shape, layout, fanIn, fanOut) {
  if (!["torch", "keras", "jax"].includes(layout)) throw new InitError(`layout ${layout} is not supported`);
  for (const [name, v] of [["fan_in", fanIn], ["fan_out", fanOut]]) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) throw new InitError(`${name} must be a positive integer, got ${v}`);
  }
  const rank = shape.length;
  const fromShape = () => {
    if (rank < 2) {
      if (layout === "keras") return rank === 1 ? [shape[0], shape[0]] : [1, 1];
      throw new InitError(`fans of a rank-${rank} tensor are not defined in the ${layout} layout (give fan_in and fan_out)`);
    }
    if (layout === "torch") {
      const receptive = product_(shape.slice(2));
      return [shape[1] * receptive, shape[0] * receptive];
    }
    const receptive = product_(shape.slice(0, -2));
    return [shape[rank - 2] * receptive, shape[rank - 1] * receptive];
  };
  return {
    get fanIn() {
      return fanIn ?? fromShape()[0];
    },
    get fanOut() {
      return fanOut ?? fromShape()[1];
    },
  };
}

/** fan(mode) in binary64: fan_in, fan_out, fan_avg = (fan_in + fan_out)/2, fan_geo_avg = √(fan_in · fan_out). */
export function fan(f, mode) {
  switch (mode) {
    case "fan_in":
      return Number(f.fanIn);
    case "fan_out":
      return Number(f.fanOut);
    case "fan_avg":
      return (Number(f.fanIn) + Number(f.fanOut)) / 2; // integers converted to binary64 first
    case "fan_geo_avg":
      return Math.sqrt(Number(f.fanIn) * Number(f.fanOut)); // the product rounded, then the root
    default:
      throw new InitError(`mode ${mode} is not supported`);
  }
}

/**
 * JAX's in_axis/out_axis/batch_axis (§10): when any is given, fans are ∏shape[in]·R and ∏shape[out]·R,
 * R the product of every other axis (batch axes in neither); the others take -2, -1, [].
 */
function axesFans(shape, { in_axis, out_axis, batch_axis }, given) {
  if (in_axis == null && out_axis == null && batch_axis == null) return given;
  const rank = shape.length;
  const owner = new Map();
  const sizes = {};
  for (const [name, axes] of [["in_axis", in_axis ?? -2], ["out_axis", out_axis ?? -1], ["batch_axis", batch_axis ?? []]]) {
    let size = 1;
    for (const axis of Array.isArray(axes) ? axes : [axes]) {
      if (!(Number.isInteger(axis) && -rank <= axis && axis < rank)) throw new InitError(`${name} ${axis} is out of range`);
      const index = ((axis % rank) + rank) % rank;
      if (owner.has(index)) throw new InitError(`axis ${index} is both ${owner.get(index)} and ${name}`);
      owner.set(index, name);
      size *= shape[index];
    }
    sizes[name] = size;
  }
  const receptive = product_(shape.filter((_, i) => !owner.has(i)));
  return { fanIn: sizes.in_axis * receptive, fanOut: sizes.out_axis * receptive };
}

/** PyTorch's calculate_gain(nonlinearity, a). */
export function calculateGain(nonlinearity, a) {
  const linear = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"];
  if (linear.includes(nonlinearity)) return 1;
  if (nonlinearity === "tanh") return 5.0 / 3;
  if (nonlinearity === "relu") return Math.sqrt(2.0);
  if (nonlinearity === "selu") return 3.0 / 4;
  if (nonlinearity === "leaky_relu") {
    const slope = a ?? 0.01;
    return Math.sqrt(2.0 / (1 + slope * slope));
  }
  throw new InitError(`nonlinearity ${nonlinearity} is not supported`);
}

// ---------------------------------------------------------------------------------------------
// §11.1 to §11.3 The elementwise schemes, each resolved to a distribution of §8
// ---------------------------------------------------------------------------------------------

const SQRT3 = hexFloat("0x1.bb67ae8584caap+0"); // math.sqrt(3.0), §11.2
const VS_TRUNCATION = hexFloat("0x1.c25e4b6dba981p-1"); // 0.87962566103423978, §11.3

function varianceScaling(f, { scale = 1.0, mode = "fan_in", distribution = "truncated_normal" }, complex = false) {
  const variance = scale / fan(f, mode);
  if (complex) {
    const scaled = Math.sqrt(variance);
    if (distribution === "uniform") return complexDisk(scaled);
    if (distribution === "normal" || distribution === "untruncated_normal") return complexNormal(scaled);
    if (distribution === "truncated_normal") return complexTruncated(scaled / TRUNCATED_COMPLEX_STD_2);
    throw new InitError(`distribution ${distribution} is not supported`);
  }
  switch (distribution) {
    case "truncated_normal":
      return truncatedSigma(0, Math.sqrt(variance) / VS_TRUNCATION, -2, 2);
    case "normal":
    case "untruncated_normal":
      return normal(0, Math.sqrt(variance));
    case "uniform": {
      const limit = Math.sqrt(3 * variance);
      return uniform(-limit, limit);
    }
    default:
      throw new InitError(`distribution ${distribution} is not supported`);
  }
}

/** std = calculate_gain(nonlinearity, a) / √fan, fan = fan_in or fan_out (PyTorch's modes, any case). */
function kaimingStd({ a = 0.0, mode = "fan_in", nonlinearity = "leaky_relu" }, f) {
  const folded = String(mode).toLowerCase();
  if (folded !== "fan_in" && folded !== "fan_out") throw new InitError(`kaiming mode ${mode} is not fan_in or fan_out`);
  return calculateGain(nonlinearity, finite("a", a)) / Math.sqrt(fan(f(), folded));
}

/** Each scheme: (params, fans thunk) -> distribution. Defaults are those of §11. */
const SCHEMES = {
  zeros: () => constant(0),
  ones: () => constant(1),
  constant: ({ value }) => {
    if (typeof value !== "number") throw new InitError("constant needs a numeric value");
    return constant(value);
  },
  uniform: ({ a = 0.0, b = 1.0 }) => uniform(a, b),
  normal: ({ mean = 0.0, std = 1.0 }) => normal(mean, std),
  truncated_normal: ({ mean = 0.0, std = 1.0, a = -2.0, b = 2.0, bounds = "absolute", correct_variance = false }) => {
    if (bounds === "absolute") {
      if (correct_variance) throw new InitError("correct_variance applies to sigma bounds only");
      return truncatedAbsolute(mean, std, a, b);
    }
    if (bounds !== "sigma") throw new InitError(`bounds ${bounds} is not supported`);
    if (!correct_variance) return truncatedSigma(mean, std, a, b);
    truncatedSigma(0, 1, a, b); // refuses [a, b] first as the reference does (near bound beyond ~37σ, moments unresolved)
    return truncatedSigma(mean, std / truncatedStd(a, b), a, b); // std / s, s the std of N(0,1) on [a, b]
  },
  xavier_uniform: ({ gain = 1.0 }, f) => {
    finite("gain", gain);
    const { fanIn, fanOut } = f();
    const std = gain * Math.sqrt(2.0 / Number(fanIn + fanOut)); // integer sum, then binary64
    const bound = SQRT3 * std;
    return uniform(-bound, bound);
  },
  xavier_normal: ({ gain = 1.0 }, f) => {
    finite("gain", gain);
    const { fanIn, fanOut } = f();
    return normal(0, gain * Math.sqrt(2.0 / Number(fanIn + fanOut)));
  },
  kaiming_uniform: (params, f) => {
    const std = kaimingStd(params, f);
    const bound = SQRT3 * std;
    return uniform(-bound, bound);
  },
  kaiming_normal: (params, f) => normal(0, kaimingStd(params, f)),
  lecun_uniform: (_, f) => varianceScaling(f(), { scale: 1.0, mode: "fan_in", distribution: "uniform" }),
  lecun_normal: (_, f) => varianceScaling(f(), { scale: 1.0, mode: "fan_in", distribution: "truncated_normal" }),
  variance_scaling: (params, f, shape) => varianceScaling(axesFans(shape, params, f()), params),
};

/** The schemes that draw complex values (§8.1): JAX's complex initializers. */
const COMPLEX_SCHEMES = {
  zeros: () => complexConstant(0),
  ones: () => complexConstant(1),
  constant: ({ value }) => {
    if (typeof value !== "number") throw new InitError("constant needs a numeric value");
    return complexConstant(value);
  },
  normal: ({ mean = 0.0, std = 1.0 }) => {
    if (mean !== 0) throw new InitError("a complex normal has mean 0");
    if (!(finite("std", std) > 0)) throw new InitError(`normal needs std > 0, got ${std}`);
    return complexNormal(std);
  },
  lecun_uniform: (_, f) => varianceScaling(f(), { scale: 1.0, mode: "fan_in", distribution: "uniform" }, true),
  lecun_normal: (_, f) => varianceScaling(f(), { scale: 1.0, mode: "fan_in", distribution: "truncated_normal" }, true),
  variance_scaling: (params, f, shape) => varianceScaling(axesFans(shape, params, f()), params, true),
};

/** Other names the service accepts for the same schemes (GET /schemes). */
export const ALIASES = {
  zero: "zeros",
  one: "ones",
  random_uniform: "uniform",
  random_normal: "normal",
  trunc_normal: "truncated_normal",
  glorot_uniform: "xavier_uniform",
  glorot_normal: "xavier_normal",
  he_uniform: "kaiming_uniform",
  msra_uniform: "kaiming_uniform",
  he_normal: "kaiming_normal",
  msra: "kaiming_normal",
  msra_normal: "kaiming_normal",
};

/** The matrix schemes of §11.4 to §11.11: not elementwise, not implemented here. */
export const MATRIX_SCHEMES = new Set(["orthogonal", "sphere_rows", "sparse", "eye", "dirac", "delta_orthogonal", "spread_rows", "hadamard_identity"]);
export const SUPPORTED_SCHEMES = new Set(Object.keys(SCHEMES));

/** A tensor spec's scheme name and parameters, from either { scheme: "name", params } or { scheme: { name, ...params } }. */
function schemeOf(spec) {
  if (typeof spec.scheme === "object" && spec.scheme !== null) {
    const { name, ...params } = spec.scheme;
    return { name, params: { ...params, ...(spec.params ?? {}) } };
  }
  return { name: spec.scheme, params: spec.params ?? {} };
}

/**
 * The distribution (§8) of a tensor spec { shape, scheme, params, layout, fan_in, fan_out }, with
 * its per-tensor scalars computed once.
 */
export function plan(spec) {
  const { name: given, params } = schemeOf(spec);
  const name = ALIASES[given] ?? given;
  const layout = spec.layout ?? "torch";
  const shape = spec.shape ?? [];
  if (!SCHEMES[name]) {
    throw new InitError(MATRIX_SCHEMES.has(name) ? `${name} is not elementwise (§11.4-11.11): not implemented in this port` : `unknown scheme ${given}`);
  }
  const table = DTYPES[spec.dtype ?? "float32"]?.complex ? COMPLEX_SCHEMES : SCHEMES;
  if (!table[name]) throw new InitError(`${name} does not draw complex values`);
  return table[name](params, () => fans(shape, layout, spec.fan_in ?? undefined, spec.fan_out ?? undefined), shape);
}

// ---------------------------------------------------------------------------------------------
// Generation: elements [start, stop) of a tensor, rounded (§9), little-endian bytes
// ---------------------------------------------------------------------------------------------

/** Number of elements of a shape (an empty shape is a scalar: 1). */
export function numel(shape) {
  return product_(shape);
}

/**
 * Elements [start, stop) of the tensor in C order, as the stored little-endian bytes of its dtype.
 *
 *   spec: { name, shape, scheme, params?, dtype = "float32", layout = "torch", fan_in?, fan_out? }
 *         (scheme is a name with params beside it, or an object { name, ...params })
 *   seed: BigInt, safe integer or decimal string in 0 ... 2^64 - 1
 */
export function generate(spec, seed, start = 0, stop = undefined) {
  const n = numel(spec.shape ?? []);
  stop = stop ?? n;
  if (!(Number.isInteger(start) && Number.isInteger(stop) && 0 <= start && start <= stop && stop <= n)) {
    throw new RangeError(`element range [${start}, ${stop}) outside the tensor's ${n} elements`);
  }
  const dtype = DTYPES[spec.dtype ?? "float32"];
  if (!dtype) throw new InitError(`dtype ${spec.dtype} is not supported (float64, float32, float16, bfloat16, float8_e4m3fn, float8_e5m2, complex64, int64)`);
  const distribution = plan(spec);
  if (dtype === INT64 && !(distribution.kind === "constant" && Number.isInteger(distribution.c) && Math.abs(distribution.c) < 2 ** 63)) {
    throw new InitError("dtype int64 holds only constant integers (zeros, ones, constant)");
  }
  const out = new Uint8Array((stop - start) * dtype.itemsize);
  const view = new DataView(out.buffer);
  if (distribution.kind === "constant") {
    for (let i = 0; i < stop - start; i++) dtype.write(view, i * dtype.itemsize, distribution.c);
    return out;
  }
  if (distribution.kind === "complex_constant") {
    for (let i = 0; i < stop - start; i++) dtype.write(view, i * dtype.itemsize, [distribution.c, 0]);
    return out;
  }
  const key = deriveKey(seed, spec.name ?? "");
  if (distribution.kind === "complex") {
    const CHUNK = 1 << 15;
    for (let lo = start; lo < stop; lo += CHUNK) {
      const hi = Math.min(lo + CHUNK, stop);
      const w = words(key, 2 * lo, 2 * hi); // element i takes words 2i and 2i + 1
      for (let i = lo; i < hi; i++) {
        const k = 4 * (i - lo);
        dtype.write(view, (i - start) * dtype.itemsize, distribution.pair(w[k], w[k + 1], w[k + 2], w[k + 3]));
      }
    }
    return out;
  }
  const CHUNK = 1 << 16;
  for (let lo = start; lo < stop; lo += CHUNK) {
    const hi = Math.min(lo + CHUNK, stop);
    const w = words(key, lo, hi); // element i takes word i of stream 0
    for (let i = lo; i < hi; i++) {
      const k = 2 * (i - lo);
      dtype.write(view, (i - start) * dtype.itemsize, distribution.value(w[k], w[k + 1]));
    }
  }
  return out;
}

/** The binary64 values (before rounding, §9) of elements [start, stop). */
export function float64Values(spec, seed, start = 0, stop = undefined) {
  const bytes = generate({ ...spec, dtype: "float64" }, seed, start, stop);
  const view = new DataView(bytes.buffer);
  return Float64Array.from({ length: bytes.length / 8 }, (_, i) => view.getFloat64(8 * i, true));
}
