// A JavaScript client for initw (Node.js 20, ES module, no dependencies: node: built-ins and fetch).
//
//   import { InitwClient } from "./client.mjs";
//   const initw = new InitwClient("http://127.0.0.1:8000");
//   const { tensors, metadata, sha256 } = await initw.init({ seed: 0, shape: [256, 784], scheme: "xavier_uniform" });
//   tensors.get("weight");       // { dtype: "F32", shape: [256, 784], data: Float32Array(200704), bytes }
//   await initw.initToFile(body, "w.safetensors");   // streamed to disk, verified, then renamed
//
// A body is an object (seeds above 2^53 as BigInt) or its JSON text. Every artifact is checked against its Content-Length (bytes received) and its RFC 9530
// Repr-Digest (SHA-256): a body that is short, cut off or corrupt throws IntegrityError, and
// initToFile never leaves a partial file under the target name. POST /init and POST /diagnostics
// are deterministic and have no side effect, so network errors, integrity errors and 408/429/502/503/504
// are retried with exponential backoff and jitter, waiting at least Retry-After (capped at
// maxWaitMs). Any other HTTP error throws ProblemError at once with the RFC 9457 fields.

import { createHash, randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { parse, SafetensorsError } from "./safetensors.mjs";

export { decodeBFloat16, decodeFloat16, parse, SafetensorsError, toFloat32 } from "./safetensors.mjs";

/** Statuses worth another try: the gateway or the service is (for now) unable, not the request wrong. */
export const RETRY_STATUSES = new Set([408, 429, 502, 503, 504]); // as service/client.py
const DIGEST = /sha-256=:([A-Za-z0-9+/=]+):/;

/** Anything that went wrong; `attempts` is how many times the call was sent. */
export class InitwError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = this.constructor.name;
    this.attempts = 1;
  }
}

/** The server could not be reached, or the connection failed before an answer arrived. */
export class NetworkError extends InitwError {}

/** A body that is short, cut off, unreadable, or disagrees with its Content-Length or Repr-Digest. */
export class IntegrityError extends InitwError {}

/** An HTTP error answer, with its RFC 9457 problem fields. */
export class ProblemError extends InitwError {
  constructor({ status, title, detail = "", type = "about:blank", instance, errors, retryAfterMs = null }) {
    super(`${status} ${title}: ${detail}`);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.type = type;
    this.instance = instance;
    this.errors = Array.isArray(errors) ? errors : [];
    this.retryAfterMs = retryAfterMs;
  }

  /** The paths of the invalid fields, e.g. ["tensors.0.scheme.std"]. */
  get fields() {
    return this.errors.map((error) => String(error?.field));
  }
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), or null. */
export function retryAfterMs(value, now = Date.now()) {
  if (value == null || value.trim() === "") return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

async function problemOf(response) {
  const text = await response.text().catch(() => "");
  let problem = null;
  try {
    problem = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, say
  }
  if (problem === null || typeof problem !== "object" || Array.isArray(problem)) problem = { detail: text.slice(0, 500) };
  return new ProblemError({
    status: response.status,
    title: String(problem.title || response.statusText || "HTTP error"),
    detail: String(problem.detail ?? ""),
    type: String(problem.type ?? "about:blank"),
    instance: problem.instance,
    errors: problem.errors,
    retryAfterMs: retryAfterMs(response.headers.get("retry-after")),
  });
}

/** Content-Length and Repr-Digest against what arrived; throws IntegrityError. */
function verify(response, received, digest, required) {
  const length = response.headers.get("content-length");
  if (length !== null && length !== String(received)) {
    throw new IntegrityError(`received ${received} bytes, Content-Length says ${length}`);
  }
  const found = DIGEST.exec(response.headers.get("repr-digest") ?? "");
  if (found === null) {
    if (required) throw new IntegrityError("the response has no Repr-Digest sha-256 to check the body against");
    return;
  }
  const stated = Buffer.from(found[1], "base64");
  if (!stated.equals(digest)) {
    throw new IntegrityError(
      `the body's SHA-256 is ${digest.toString("base64")}, Repr-Digest says ${found[1]}: corrupted on the way`,
    );
  }
}

/**
 * The request body as JSON text. A string is sent as it is. JavaScript numbers are exact only up
 * to 2^53, so give larger seeds (up to 2^64 - 1) as BigInt: they become plain JSON integers. A
 * seed that is a Number but not a safe integer is refused (it would silently be another seed).
 */
export function requestJson(body) {
  if (typeof body === "string") return body;
  const marker = `bigint-${randomBytes(8).toString("hex")}:`;
  const text = JSON.stringify(body, (key, value) => {
    if (typeof value === "bigint") return marker + value.toString();
    if (key === "seed" && typeof value === "number" && !Number.isSafeInteger(value)) {
      throw new TypeError(`seed ${value} is not exact as a JavaScript number: pass it as a BigInt, e.g. 2n ** 64n - 1n`);
    }
    return value;
  });
  return text.replace(new RegExp(`"${marker}(-?\\d+)"`, "g"), "$1");
}

export class InitwClient {
  /**
   * @param {string} baseUrl e.g. "http://127.0.0.1:8000"
   * @param {object} [options]
   * @param {number} [options.retries=3] how many times a failed call may be repeated
   * @param {number} [options.backoffMs=250] the first wait, doubled each time (times 0.5 to 1.5 at random)
   * @param {number} [options.maxWaitMs=30000] the longest wait between tries, Retry-After included
   * @param {number} [options.timeoutMs=60000] the longest silence: before the answer, and between two chunks of it
   * @param {typeof fetch} [options.fetch] the fetch to send with (default: the global one)
   */
  constructor(baseUrl, { retries = 3, backoffMs = 250, maxWaitMs = 30_000, timeoutMs = 60_000, fetch } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.retries = retries;
    this.backoffMs = backoffMs;
    this.maxWaitMs = maxWaitMs;
    this.timeoutMs = timeoutMs;
    this.fetch = fetch ?? globalThis.fetch;
  }

  /**
   * POST /init: the tensors of `body`, verified and parsed.
   * @returns {Promise<{tensors: Map<string, {dtype: string, shape: number[], data: ArrayBufferView, bytes: Uint8Array}>,
   *   metadata: Object<string,string>|null, etag: string|null, sha256: string, bytes: Uint8Array, attempts: number}>}
   */
  async init(body) {
    const answer = await this.#fetch("POST", "/init", { body, check: (bytes) => parse(bytes) });
    const { tensors, metadata } = answer.parsed;
    return { tensors, metadata, etag: answer.etag, sha256: answer.sha256, bytes: answer.bytes, attempts: answer.attempts };
  }

  /**
   * POST /init streamed into a temporary file next to `path`, renamed to `path` only once its
   * length and digest are verified. `onProgress(received, total)` is called per chunk.
   * @returns {Promise<{path: string, size: number, sha256: string, etag: string|null, attempts: number}>}
   */
  async initToFile(body, path, { onProgress } = {}) {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.part`);
    const file = await open(temp, "wx", 0o644);
    let closed = false;
    try {
      const answer = await this.#fetch("POST", "/init", { body, file, onProgress });
      await file.sync();
      await file.close();
      closed = true;
      await rename(temp, path);
      return { path, size: answer.size, sha256: answer.sha256, etag: answer.etag, attempts: answer.attempts };
    } catch (error) {
      if (!closed) await file.close().catch(() => {});
      await unlink(temp).catch(() => {});
      throw error;
    }
  }

  /**
   * GET /schemes: every scheme with its aliases and parameters; with `{ dialect: "keras" }` (torch,
   * keras, jax, flax; initw is the default) that framework's initializers by the names, parameters
   * and defaults it uses, each with its initw meaning (GET /schemes?dialect=keras).
   */
  async schemes({ dialect } = {}) {
    const query = dialect === undefined ? "" : `?dialect=${encodeURIComponent(dialect)}`;
    return (await this.#json("GET", `/schemes${query}`)).schemes;
  }

  /** GET /schemes/{name}: one scheme (aliases resolve), or a framework word such as "keras.HeNormal". */
  async scheme(name) {
    return this.#json("GET", `/schemes/${encodeURIComponent(name)}`);
  }

  /** POST /diagnostics: per-tensor statistics and verdicts, without the bytes. */
  async diagnostics(body) {
    return this.#json("POST", "/diagnostics", body);
  }

  async #json(method, path, body) {
    const check = (bytes) => {
      try {
        return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      } catch (error) {
        throw new IntegrityError(`${method} ${path}: the answer is not JSON: ${error.message}`, { cause: error });
      }
    };
    return (await this.#fetch(method, path, { body, artifact: false, accept: "application/json", check })).parsed;
  }

  /** The wait before try number attempt + 1: exponential backoff with jitter, at least Retry-After, at most maxWaitMs. */
  waitMs(attempt, error) {
    let wait = this.backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random());
    if (error instanceof ProblemError && error.retryAfterMs !== null) wait = Math.max(wait, error.retryAfterMs);
    return Math.min(wait, this.maxWaitMs);
  }

  /** One verified answer, retried while that is safe and useful. */
  async #fetch(method, path, options) {
    const payload = options.body === undefined ? undefined : requestJson(options.body); // a TypeError is thrown, not retried
    options = { ...options, body: payload };
    for (let attempt = 1; ; attempt++) {
      try {
        if (options.file) await options.file.truncate(0);
        const answer = await this.#once(method, path, options);
        answer.attempts = attempt;
        return answer;
      } catch (error) {
        if (!(error instanceof InitwError)) throw error; // the disk, a bug: not the network's doing
        error.attempts = attempt;
        const retryable = !(error instanceof ProblemError) || RETRY_STATUSES.has(error.status);
        if (!retryable || attempt > this.retries) throw error;
        await sleep(this.waitMs(attempt, error));
      }
    }
  }

  async #once(method, path, { body, artifact = true, accept = "application/octet-stream", file, onProgress, check }) {
    const controller = new AbortController();
    let timer;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${this.timeoutMs} ms`)), this.timeoutMs);
    };
    const headers = { accept, "accept-encoding": "identity" };
    if (body !== undefined) headers["content-type"] = "application/json";
    arm();
    try {
      let response;
      try {
        response = await this.fetch(this.baseUrl + path, {
          method,
          headers,
          body,
          signal: controller.signal,
        });
      } catch (error) {
        const reason = error?.cause?.code ?? error?.cause?.message ?? error?.message;
        throw new NetworkError(`${method} ${path}: ${reason}`, { cause: error });
      }
      if (response.status >= 400) throw await problemOf(response);
      const length = response.headers.get("content-length");
      const total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
      const hash = createHash("sha256");
      const chunks = [];
      let received = 0;
      try {
        if (response.body !== null) {
          for await (const chunk of response.body) {
            arm();
            hash.update(chunk);
            received += chunk.byteLength;
            if (total !== null && received > total) break; // verify() says so
            if (file) await file.write(chunk, 0, chunk.byteLength, received - chunk.byteLength);
            else chunks.push(chunk);
            onProgress?.(received, total);
          }
        }
      } catch (error) {
        const reason = error?.cause?.message ?? error?.message;
        throw new IntegrityError(`${method} ${path}: the body broke off after ${received} of ${total ?? "?"} bytes: ${reason}`, {
          cause: error,
        });
      }
      const digest = hash.digest();
      verify(response, received, digest, artifact);
      const bytes = new Uint8Array(received); // its own buffer, offset 0: typed views align as the file does
      let at = 0;
      for (const chunk of chunks) {
        bytes.set(chunk, at);
        at += chunk.byteLength;
      }
      let parsed;
      if (check) {
        try {
          parsed = check(bytes);
        } catch (error) {
          if (error instanceof SafetensorsError) throw new IntegrityError(`${method} ${path}: ${error.message}`, { cause: error });
          throw error;
        }
      }
      return { bytes, parsed, size: received, sha256: digest.toString("hex"), etag: response.headers.get("etag") };
    } finally {
      clearTimeout(timer);
    }
  }
}
