// A small, strict safetensors reader for Node.js 20 (no dependencies).
//
//   import { parse, toFloat32 } from "./safetensors.mjs";
//   const { metadata, tensors } = parse(bytes);       // bytes: Uint8Array | Buffer | ArrayBuffer
//   const w = tensors.get("fc1.weight");              // { dtype: "F32", shape: [256, 784], data: Float32Array, bytes }
//   const h = toFloat32(tensors.get("half"));         // F16 / BF16 (raw bytes in .data) -> Float32Array
//
// The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data. The
// JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
// the data section) and may hold "__metadata__", a map of strings. Everything is checked: the
// header fits the file, is valid UTF-8 JSON of the right form, every dtype is known, every size is
// dtype size x number of elements, and the tensors tile the data section exactly (from 0, in
// order, no gap, no overlap, no trailing byte). Anything else throws SafetensorsError.

export class SafetensorsError extends Error {
  constructor(message) {
    super(message);
    this.name = "SafetensorsError";
  }
}

/** Element size in bytes and the typed array for each dtype; null: raw bytes (Uint8Array). */
export const DTYPES = Object.freeze({
  F64: { size: 8, array: Float64Array },
  F32: { size: 4, array: Float32Array },
  F16: { size: 2, array: null },
  BF16: { size: 2, array: null },
  I64: { size: 8, array: BigInt64Array },
  I32: { size: 4, array: Int32Array },
  I16: { size: 2, array: Int16Array },
  I8: { size: 1, array: Int8Array },
  U64: { size: 8, array: BigUint64Array },
  U32: { size: 4, array: Uint32Array },
  U16: { size: 2, array: Uint16Array },
  U8: { size: 1, array: Uint8Array },
  BOOL: { size: 1, array: null },
  F8_E5M2: { size: 1, array: null },
  F8_E4M3: { size: 1, array: null },
});

/** The largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TENSOR_KEYS = ["data_offsets", "dtype", "shape"];
const GETTERS = {
  F64: "getFloat64",
  F32: "getFloat32",
  I64: "getBigInt64",
  I32: "getInt32",
  I16: "getInt16",
  U64: "getBigUint64",
  U32: "getUint32",
  U16: "getUint16",
};

function asBytes(input) {
  if (input instanceof Uint8Array) return input; // Buffer too
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("parse() takes a Uint8Array, Buffer, ArrayBuffer or other ArrayBuffer view");
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function nonNegativeInteger(value) {
  return Number.isSafeInteger(value) && value >= 0;
}

/** A typed array over `bytes` (little-endian): a view when aligned on a little-endian host, else a copy. */
function typed(dtype, bytes, copy) {
  const { size, array } = DTYPES[dtype];
  if (array === null) return copy ? bytes.slice() : bytes;
  const count = bytes.byteLength / size;
  if (!LITTLE_ENDIAN && size > 1) {
    const out = new array(count);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const get = GETTERS[dtype];
    for (let i = 0; i < count; i++) out[i] = view[get](i * size, true);
    return out;
  }
  if (copy || bytes.byteOffset % size !== 0) {
    return new array(bytes.slice().buffer, 0, count); // slice(): a fresh, aligned buffer
  }
  return new array(bytes.buffer, bytes.byteOffset, count);
}

/**
 * Parse a safetensors file held in memory.
 * @param {Uint8Array|ArrayBuffer|ArrayBufferView} input the whole file
 * @param {{copy?: boolean}} [options] copy: every tensor's data in its own buffer (default: views
 *   into `input` where alignment allows)
 * @returns {{metadata: Object<string,string>|null, tensors: Map<string, {dtype: string, shape: number[],
 *   data: ArrayBufferView, bytes: Uint8Array}>, headerLength: number}} tensors in file order;
 *   `bytes` is each tensor's raw little-endian bytes (a view into `input`)
 */
export function parse(input, { copy = false } = {}) {
  const file = asBytes(input);
  if (file.byteLength < 8) {
    throw new SafetensorsError(`a safetensors file has at least 8 bytes, this one ${file.byteLength}`);
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(file.byteLength - 8)) {
    throw new SafetensorsError(`the header length ${declared} exceeds the ${file.byteLength - 8} bytes after it`);
  }
  const headerLength = Number(declared);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`the header length ${headerLength} exceeds ${MAX_HEADER_BYTES}`);
  }
  if (headerLength < 2) throw new SafetensorsError(`the header length ${headerLength} is too small for a JSON object`);
  let header;
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(file.subarray(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError(`the header is not UTF-8 JSON: ${error.message}`);
  }
  if (!isPlainObject(header)) throw new SafetensorsError("the header is not a JSON object");

  let metadata = null;
  const entries = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(info)) throw new SafetensorsError("__metadata__ is not an object");
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== "string") throw new SafetensorsError(`__metadata__.${key} is not a string`);
      }
      metadata = info;
      continue;
    }
    if (!isPlainObject(info)) throw new SafetensorsError(`tensor ${JSON.stringify(name)}: not an object`);
    const keys = Object.keys(info).sort();
    if (keys.length !== 3 || keys.some((key, i) => key !== TENSOR_KEYS[i])) {
      throw new SafetensorsError(
        `tensor ${JSON.stringify(name)}: has keys ${JSON.stringify(keys)}, expected dtype, shape and data_offsets`,
      );
    }
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPES, dtype)) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: unknown dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || !shape.every(nonNegativeInteger)) {
      throw new SafetensorsError(`tensor ${JSON.stringify(name)}: shape ${JSON.stringify(shape)} is not a list of sizes`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(nonNegativeInteger) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(
        `tensor ${JSON.stringify(name)}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`,
      );
    }
    const expected = shape.reduce((n, d) => n * BigInt(d), 1n) * BigInt(DTYPES[dtype].size);
    if (expected !== BigInt(offsets[1] - offsets[0])) {
      throw new SafetensorsError(
        `tensor ${JSON.stringify(name)}: ${dtype} ${JSON.stringify(shape)} needs ${expected} bytes, ` +
          `data_offsets ${JSON.stringify(offsets)} span ${offsets[1] - offsets[0]}`,
      );
    }
    entries.push({ name, dtype, shape, begin: offsets[0], end: offsets[1] });
  }

  // The tensors must tile the data section: sorted by offsets, each starts where the last ended.
  const dataStart = 8 + headerLength;
  const dataLength = file.byteLength - dataStart;
  const order = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of order) {
    if (entry.begin !== cursor) {
      const what = entry.begin < cursor ? "overlaps the previous tensor" : `leaves a gap after byte ${cursor}`;
      throw new SafetensorsError(`tensor ${JSON.stringify(entry.name)}: data_offsets [${entry.begin}, ${entry.end}] ${what}`);
    }
    if (entry.end > dataLength) {
      throw new SafetensorsError(
        `tensor ${JSON.stringify(entry.name)}: data_offsets [${entry.begin}, ${entry.end}] run past the ${dataLength}-byte data section`,
      );
    }
    cursor = entry.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(`the tensors cover ${cursor} bytes of the ${dataLength}-byte data section`);
  }

  const tensors = new Map();
  for (const { name, dtype, shape, begin, end } of order) {
    const bytes = file.subarray(dataStart + begin, dataStart + end);
    tensors.set(name, { dtype, shape: [...shape], data: typed(dtype, bytes, copy), bytes });
  }
  return { metadata, tensors, headerLength };
}

function words(raw) {
  // 16-bit values from raw little-endian bytes (any alignment) or a Uint16Array of bit patterns.
  if (raw instanceof Uint16Array) return raw;
  const bytes = asBytes(raw);
  if (bytes.byteLength % 2 !== 0) throw new SafetensorsError(`${bytes.byteLength} bytes is not a whole number of 16-bit values`);
  const out = new Uint16Array(bytes.byteLength / 2);
  for (let i = 0, j = 0; i < out.length; i++, j += 2) out[i] = bytes[j] | (bytes[j + 1] << 8);
  return out;
}

/** IEEE binary16 (raw little-endian bytes, or a Uint16Array of bit patterns) to Float32Array, exactly; NaN payloads kept. */
export function decodeFloat16(raw) {
  const input = words(raw);
  const out = new Float32Array(input.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < input.length; i++) {
    const h = input[i];
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      outBits[i] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
    } else if (exponent !== 0) {
      outBits[i] = (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
    } else {
      const magnitude = mantissa * 2 ** -24; // subnormal (or zero): exact in float32
      out[i] = sign ? -magnitude : magnitude;
    }
  }
  return out;
}

/** bfloat16 (raw little-endian bytes, or a Uint16Array of bit patterns) to Float32Array, exactly. */
export function decodeBFloat16(raw) {
  const input = words(raw);
  const out = new Float32Array(input.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < input.length; i++) outBits[i] = (input[i] << 16) >>> 0;
  return out;
}

/** Any float or integer tensor as a Float32Array (F16/BF16 exactly; F64 and wide integers rounded). */
export function toFloat32(tensor) {
  switch (tensor.dtype) {
    case "F32":
      return tensor.data;
    case "F16":
      return decodeFloat16(tensor.bytes ?? tensor.data);
    case "BF16":
      return decodeBFloat16(tensor.bytes ?? tensor.data);
    case "I64":
    case "U64":
      return Float32Array.from(tensor.data, Number);
    case "BOOL":
      return Float32Array.from(tensor.data, (b) => (b ? 1 : 0));
    case "F8_E5M2":
    case "F8_E4M3":
      throw new SafetensorsError(`toFloat32 does not decode ${tensor.dtype}`);
    default:
      return Float32Array.from(tensor.data);
  }
}
