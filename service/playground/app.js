// The initw playground: plain JavaScript, no dependencies, no inline code (the page's CSP allows
// only this file). Every plot and number comes from this origin's API: GET /schemes,
// POST /diagnostics (JSON, and the histogram as SVG) and POST /diagnostics/network (JSON, and the
// signal-propagation plot as SVG); the download is POST /init.
"use strict";

(() => {
  const DEBOUNCE_MS = 250;
  const MAX_DEPTH = 1000; // POST /diagnostics/network's limit; the file's tensor list stops there too
  const SVG_TYPE = "image/svg+xml";
  const MAX_DOWNLOAD = 1 << 30; // a download is held in memory (a Blob) first: larger files are for curl
  const ITEMSIZE = { float32: 4, float64: 8, float16: 2, bfloat16: 2, float8_e4m3fn: 1, float8_e5m2: 1 };
  const $ = (id) => document.getElementById(id);

  const state = {
    schemes: new Map(), // name -> catalogue entry
    timer: 0,
    controller: null, // aborts the requests of a superseded update
    generation: 0,
    artifact: null, // the POST /init body of the current inputs, when they are valid
    paramsOf: "", // the scheme whose parameters the form shows
  };

  // ------------------------------------------------------------------ JSON and Python text
  // Numbers the user typed travel as typed (a seed up to 2^64 - 1 keeps every digit, 0.1 stays 0.1):
  // a Raw holds the text of a JSON number.
  class Raw {
    constructor(text) {
      this.text = text;
    }
  }

  const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

  function integer(text) {
    const t = text.trim();
    if (/^[+-]?\d+$/.test(t)) return new Raw(BigInt(t).toString());
    return t; // not an integer: sent as a string, so the server names the field and what it allows
  }

  function number(text) {
    const t = text.trim();
    if (JSON_NUMBER.test(t)) return new Raw(t);
    const value = Number(t);
    if (t !== "" && Number.isFinite(value)) return new Raw(String(value));
    return t;
  }

  function toJson(value) {
    if (value instanceof Raw) return value.text;
    if (Array.isArray(value)) return "[" + value.map(toJson).join(", ") + "]";
    if (value !== null && typeof value === "object") {
      return "{" + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ": " + toJson(v)).join(", ") + "}";
    }
    return JSON.stringify(value);
  }

  function toPython(value) {
    if (value instanceof Raw) return value.text;
    if (value === true) return "True";
    if (value === false) return "False";
    if (value === null) return "None";
    if (Array.isArray(value)) return "[" + value.map(toPython).join(", ") + "]";
    if (typeof value === "object") {
      return "{" + Object.entries(value).map(([k, v]) => JSON.stringify(k) + ": " + toPython(v)).join(", ") + "}";
    }
    return JSON.stringify(value); // a JSON string literal is a Python string literal
  }

  const shellQuote = (text) => "'" + text.replace(/'/g, "'\\''") + "'";

  // ------------------------------------------------------------------ formatting
  function fmt(value, digits = 6) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (value === 0) return "0";
    const abs = Math.abs(value);
    if (abs >= 1e6 || abs < 1e-4) return value.toExponential(digits - 1).replace(/\.?0+e/, "e");
    return String(Number(value.toPrecision(digits)));
  }

  function setText(id, text) {
    $(id).textContent = text;
  }

  // ------------------------------------------------------------------ the scheme's parameters
  function renderSchemes(schemes) {
    const select = $("scheme");
    const families = new Map();
    for (const scheme of schemes) {
      state.schemes.set(scheme.name, scheme);
      if (!families.has(scheme.family)) families.set(scheme.family, []);
      families.get(scheme.family).push(scheme);
    }
    for (const [family, members] of families) {
      const group = document.createElement("optgroup");
      group.label = family;
      for (const scheme of members) {
        const option = document.createElement("option");
        option.value = scheme.name;
        option.textContent = scheme.name;
        group.append(option);
      }
      select.append(group);
    }
    select.value = state.schemes.has("xavier_uniform") ? "xavier_uniform" : schemes[0].name;
    renderParams();
  }

  const defaultText = (param) => ("default" in param ? String(param.default) : "");

  function renderParams() {
    const scheme = state.schemes.get($("scheme").value);
    const box = $("params");
    box.replaceChildren();
    state.paramsOf = $("scheme").value;
    const aliases = scheme && scheme.aliases.length ? ` Also called ${scheme.aliases.join(", ")}.` : "";
    $("scheme-formula").textContent = scheme ? scheme.formula + aliases : "";
    if (!scheme) return;
    for (const param of scheme.parameters) {
      const id = "param-" + param.name;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = param.name;
      if (param.description) label.title = param.description;
      let input;
      if (param.choices) {
        input = document.createElement("select");
        for (const choice of param.choices) {
          const option = document.createElement("option");
          option.textContent = choice;
          input.append(option);
        }
        input.value = defaultText(param);
      } else if (param.type === "bool") {
        input = document.createElement("input");
        input.type = "checkbox";
        input.checked = param.default === true;
      } else {
        input = document.createElement("input");
        input.value = defaultText(param);
        input.inputMode = param.type === "int" ? "numeric" : "decimal";
        input.placeholder = param.required ? "required" : "";
      }
      input.id = id;
      input.dataset.param = param.name;
      input.dataset.field = "scheme." + param.name;
      input.title = param.allowed || "";
      box.append(label, input);
    }
  }

  // The scheme as the API takes it: its name alone, or an object with the parameters that differ
  // from their defaults (the server fills in the rest: the same canonical request either way).
  function schemeSpec() {
    const name = $("scheme").value;
    const scheme = state.schemes.get(name);
    const params = {};
    for (const param of scheme ? scheme.parameters : []) {
      const input = $("param-" + param.name);
      if (param.type === "bool") {
        if (input.checked !== param.default) params[param.name] = input.checked;
        continue;
      }
      const text = input.value.trim();
      if (text === "") continue; // the default, or the server says it is required
      if (param.type === "str") {
        if (text !== param.default) params[param.name] = text;
        continue;
      }
      const value = param.type === "int" ? integer(text) : number(text);
      if (value instanceof Raw && "default" in param && Number(value.text) === param.default) continue;
      params[param.name] = value;
    }
    return Object.keys(params).length ? { name, ...params } : name;
  }

  // ------------------------------------------------------------------ the requests of the inputs
  function inputs() {
    const stack = $("target-stack").checked;
    const head = { seed: integer($("seed").value) };
    const dtype = $("dtype").value;
    if (dtype !== "float32") head.dtype = dtype;
    const scheme = schemeSpec();
    if (!stack) {
      const shape = $("shape").value.split(/[\s,x×]+/).filter((d) => d !== "").map(integer);
      const body = { ...head, shape, scheme };
      return { stack, artifact: body, tensor: body, tensorName: "weight" };
    }
    const depth = integer($("depth").value);
    const width = integer($("width").value);
    const n = depth instanceof Raw ? Math.min(Math.max(Number(depth.text), 0), MAX_DEPTH) : 0;
    const layer = (i) => ({ name: `layers.${i}.weight`, shape: [width, width], scheme });
    return {
      stack,
      depth: n,
      width,
      scheme,
      head,
      artifact: { ...head, tensors: Array.from({ length: n }, (_, i) => layer(i)) },
      tensor: { ...head, tensors: [layer(0)] },
      tensorName: "layers.0.weight",
      network: { ...head, input_width: width, layers: [{ width, activation: $("activation").value, scheme, repeat: depth }] },
    };
  }

  async function post(path, body, accept, signal) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", accept },
      body: toJson(body),
      signal,
    });
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  class Problem extends Error {
    constructor(status, detail, errors) {
      super(detail);
      this.status = status;
      this.detail = detail;
      this.errors = errors || [];
    }
  }

  async function problemOf(response) {
    let detail = `${response.status} ${response.statusText}`;
    let errors = [];
    try {
      const problem = await response.json(); // application/problem+json (RFC 9457)
      detail = problem.detail || problem.title || detail;
      errors = Array.isArray(problem.errors) ? problem.errors : [];
    } catch {
      // not JSON: keep the status line
    }
    return new Problem(response.status, detail, errors);
  }

  // ------------------------------------------------------------------ problems, inline
  // A field path of the API (seed, shape.1, scheme.gain, tensors.0.scheme.gain, layers.0.repeat,
  // input_width) -> the input that holds it.
  function inputOfField(field) {
    if (!field) return null;
    const parts = field.split(".");
    const at = parts.indexOf("scheme");
    if (at >= 0) {
      const param = parts[at + 1];
      return (param && $("param-" + param)) || $("scheme");
    }
    const stack = $("target-stack").checked;
    if (parts.includes("shape")) return stack ? $("width") : $("shape");
    const last = parts.filter((p) => !/^\d+$/.test(p)).pop();
    const map = { seed: "seed", dtype: "dtype", repeat: "depth", layers: "depth", width: "width",
                  input_width: "width", activation: "activation", tensors: "depth" };
    return map[last] ? $(map[last]) : null;
  }

  function clearFieldProblems() {
    for (const node of document.querySelectorAll(".field-problem")) node.remove();
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showFieldProblem(error) {
    const input = inputOfField(error.field);
    if (!input || input.closest("[hidden]")) return;
    input.setAttribute("aria-invalid", "true");
    const text = error.allowed ? `${error.message} (allowed: ${error.allowed})` : error.message;
    const existing = [...input.parentElement.querySelectorAll(".field-problem")].find((n) => n.dataset.for === input.id);
    if (existing) {
      if (!existing.textContent.includes(text)) existing.textContent += "; " + text;
      return;
    }
    const note = document.createElement("p");
    note.className = "field-problem";
    note.dataset.for = input.id;
    note.textContent = text;
    input.after(note);
  }

  function showProblem(card, problem) {
    const box = $(card + "-problem");
    box.replaceChildren();
    const head = document.createElement("p");
    head.className = "problem-detail";
    head.textContent = problem.status ? `${problem.status}: ${problem.detail}` : problem.detail;
    box.append(head);
    if (problem.errors.length) {
      const list = document.createElement("ul");
      for (const error of problem.errors) {
        const item = document.createElement("li");
        const code = document.createElement("code");
        code.textContent = error.field;
        item.append(code, " " + error.message + (error.allowed ? ` (allowed: ${error.allowed})` : ""));
        list.append(item);
        showFieldProblem(error);
      }
      box.append(list);
    }
    box.hidden = false;
    $(card + "-card").dataset.state = "error";
    if (card === "numbers") badge("tensor-verdict", ""); // the old verdict is not about these inputs
    if (card === "stack") badge("stack-verdict", "");
  }

  function ready(card) {
    $(card + "-problem").hidden = true;
    $(card + "-card").dataset.state = "ready";
  }

  // ------------------------------------------------------------------ rendering the answers
  function showSvg(id, text) {
    const parsed = new DOMParser().parseFromString(text, SVG_TYPE);
    const svg = parsed.documentElement;
    if (svg.nodeName !== "svg") throw new Problem(0, "the server's plot is not SVG", []);
    for (const bad of svg.querySelectorAll("script, foreignObject")) bad.remove(); // the server sends none
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("role", "img");
    const title = svg.querySelector(":scope > text");
    if (title) svg.setAttribute("aria-label", title.textContent);
    $(id).replaceChildren(document.importNode(svg, true));
  }

  function badge(id, band) {
    const node = $(id);
    node.textContent = band || "";
    node.className = "badge " + (band || "");
  }

  function verdictList(id, verdicts) {
    const list = $(id);
    list.replaceChildren();
    for (const v of verdicts || []) {
      const item = document.createElement("li");
      item.className = v.band;
      const tag = document.createElement("span");
      tag.className = "band";
      tag.textContent = v.band;
      const check = document.createElement("strong");
      check.textContent = v.check.replace(/_/g, " ") + ":";
      const text = document.createElement("span");
      text.append(check, " " + v.reason);
      item.append(tag, text);
      list.append(item);
    }
  }

  function showTensor(name, report) {
    const d = report.diagnostics[name];
    const e = d.expected || {};
    setText("tensor-name", `${name} ${JSON.stringify(report.request.tensors[0].shape)}: ${e.distribution || ""}`);
    setText("num-mean", fmt(d.mean) + (d.mean_z === undefined ? "" : `  (z ${fmt(d.mean_z, 3)})`));
    setText("num-mean-expected", fmt(e.mean));
    setText("num-std", fmt(d.std));
    setText("num-std-expected", fmt(e.std));
    setText("num-std-ratio", fmt(d.std_ratio));
    setText("num-std-tolerance", d.std_ratio_tolerance === undefined ? "–" : `1 ± ${fmt(d.std_ratio_tolerance, 3)}`);
    setText("num-min", fmt(d.min));
    setText("num-low", fmt(e.low));
    setText("num-max", fmt(d.max));
    setText("num-high", fmt(e.high));
    setText("num-ks", d.ks ? `D = ${fmt(d.ks.statistic, 4)}, p = ${fmt(d.ks.pvalue, 3)} on ${d.ks.sample.toLocaleString("en")} values` : "–");
    badge("tensor-verdict", d.verdict);
    verdictList("tensor-verdicts", d.verdicts);
  }

  function showStack(report) {
    const s = report.stack;
    const mf = s.mean_field || {};
    const j = s.jacobian || {};
    setText("net-q-ratio", fmt(s.q_ratio, 4) + "×");
    setText("net-gradient-ratio", fmt(s.gradient_ratio, 4) + "×");
    const fixed = mf.q_star === null && mf.q_growth ? `no q*: q grows ${fmt(mf.q_growth, 4)}× per layer` : `q* = ${fmt(mf.q_star, 4)}`;
    setText("net-mean-field", mf.phase ? `${mf.phase}, chi1 = ${fmt(mf.chi1, 4)}, ${fixed}` : "–");
    setText("net-jacobian", j.m1 === undefined ? "–" : `mean s² = ${fmt(j.m1, 4)}, spread ${fmt(j.spread, 4)} (${j.method})`);
    const bands = (report.verdicts || []).map((v) => v.band);
    badge("stack-verdict", bands.includes("fail") ? "fail" : bands.includes("warn") ? "warn" : "healthy");
    verdictList("stack-verdicts", report.verdicts);
  }

  function showCommands(current) {
    const origin = window.location.origin;
    const body = toJson(current.artifact);
    const curl = [
      `curl -s -X POST ${origin}/init -H 'content-type: application/json' \\`,
      `    -d ${shellQuote(body)} \\`,
      "    -o initw.safetensors",
    ];
    let python;
    if (current.stack) {
      const layer = `{"name": f"layers.{i}.weight", "shape": ${toPython([current.width, current.width])}, ` +
        `"scheme": ${toPython(current.scheme)}}`;
      const head = Object.entries(current.head).map(([k, v]) => `${JSON.stringify(k)}: ${toPython(v)}, `).join("");
      python = [
        "import httpx",
        "",
        `body = {${head}"tensors": [`,
        `    ${layer}`,
        `    for i in range(${current.depth})]}`,
      ];
    } else {
      python = ["import httpx", "", `body = ${toPython(current.artifact)}`];
    }
    python.push(
      `r = httpx.post("${origin}/init", json=body)`,
      "r.raise_for_status()",
      'open("initw.safetensors", "wb").write(r.content)',
      "",
      "# the tensors: safetensors.numpy.load(r.content), or safetensors.torch.load(r.content)",
    );
    if (current.stack) {
      curl.push(
        "",
        "# the signal-propagation report (or its plot with -H 'accept: image/svg+xml')",
        `curl -s -X POST ${origin}/diagnostics/network -H 'content-type: application/json' \\`,
        `    -d ${shellQuote(toJson(current.network))}`,
      );
    } else {
      curl.push(
        "",
        "# the diagnostics (or the histogram with -H 'accept: image/svg+xml')",
        `curl -s -X POST ${origin}/diagnostics -H 'content-type: application/json' \\`,
        `    -d ${shellQuote(body)}`,
      );
    }
    setText("curl", curl.join("\n"));
    setText("python", python.join("\n"));
  }

  // ------------------------------------------------------------------ one update
  // The results' data attributes say what the page shows: generation (the last update rendered),
  // busy (requests in flight) and pending (an input changed, its update not yet started).
  function schedule() {
    window.clearTimeout(state.timer);
    $("results").dataset.pending = "true";
    state.timer = window.setTimeout(update, DEBOUNCE_MS);
  }

  async function update() {
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const generation = ++state.generation;
    $("results").dataset.pending = "false";
    const current = inputs();
    const { signal } = controller;
    $("results").dataset.busy = "true";
    $("status").textContent = "Updating…";
    showCommands(current);
    $("download").disabled = true;
    state.artifact = null;
    setText("download-status", "");
    $("propagation-note").hidden = current.stack;
    $("stack-card").hidden = !current.stack;
    const tasks = {
      histogram: post("/diagnostics", current.tensor, SVG_TYPE, signal).then((r) => r.text()),
      numbers: post("/diagnostics", current.tensor, "application/json", signal).then((r) => r.json()),
    };
    if (current.stack) {
      tasks.propagation = post("/diagnostics/network", current.network, SVG_TYPE, signal).then((r) => r.text());
      tasks.stack = post("/diagnostics/network", current.network, "application/json", signal).then((r) => r.json());
    } else {
      $("propagation").replaceChildren();
      $("propagation-problem").hidden = true;
      $("propagation-card").dataset.state = "idle";
    }
    const names = Object.keys(tasks);
    const outcomes = await Promise.allSettled(Object.values(tasks));
    if (generation !== state.generation) return; // a newer update owns the page
    clearFieldProblems();
    let failed = false;
    names.forEach((card, i) => {
      const outcome = outcomes[i];
      if (outcome.status === "rejected") {
        failed = true;
        const error = outcome.reason instanceof Problem ? outcome.reason : new Problem(0, String(outcome.reason), []);
        showProblem(card, error);
        return;
      }
      try {
        if (card === "histogram") showSvg("histogram", outcome.value);
        if (card === "propagation") showSvg("propagation", outcome.value);
        if (card === "numbers") showTensor(current.tensorName, outcome.value);
        if (card === "stack") showStack(outcome.value);
        ready(card);
      } catch (error) {
        failed = true;
        showProblem(card, new Problem(0, String(error), []));
      }
    });
    // The file is valid when its tensors are (the stack's own checks may still fail, e.g. its budget).
    const tensorsOk = outcomes.slice(0, 2).every((outcome) => outcome.status === "fulfilled");
    const size = fileBytes(current);
    if (tensorsOk && size > 0) {
      state.artifact = current.artifact;
      $("download").disabled = size > MAX_DOWNLOAD;
      $("download").textContent = `Download .safetensors (${bytesText(size)})`;
      if (size > MAX_DOWNLOAD) setText("download-status", "Too large for the browser to hold: use the commands.");
    } else {
      $("download").textContent = "Download .safetensors";
    }
    $("status").textContent = failed ? "The server refused these inputs: see the notes." : "Up to date.";
    $("results").dataset.busy = "false";
    $("results").dataset.generation = String(generation);
  }

  // ------------------------------------------------------------------ download and copy
  // The tensors' bytes (the file adds a header of a few hundred bytes per tensor).
  function fileBytes(current) {
    const tensors = current.artifact.tensors || [current.artifact];
    let total = 0;
    for (const tensor of tensors) {
      const dims = (tensor.shape || []).map((d) => (d instanceof Raw ? Number(d.text) : NaN));
      total += dims.reduce((a, b) => a * b, 1) * ITEMSIZE[$("dtype").value];
    }
    return Number.isFinite(total) ? total : 0;
  }

  function bytesText(n) {
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) {
      n /= 1000;
      i += 1;
    }
    return `${i === 0 ? n : n.toPrecision(3)} ${units[i]}`;
  }

  function hexOfReprDigest(header) {
    // Repr-Digest: sha-256=:BASE64:  (RFC 9530)
    const match = /sha-256=:([A-Za-z0-9+/=]+):/.exec(header || "");
    if (!match) return null;
    return [...atob(match[1])].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
  }

  async function download() {
    if (!state.artifact) return;
    const button = $("download");
    button.disabled = true;
    setText("download-status", "Generating…");
    try {
      const response = await post("/init", state.artifact, "application/octet-stream");
      const blob = await response.blob();
      const disposition = response.headers.get("content-disposition") || "";
      const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || "initw.safetensors";
      const url = URL.createObjectURL(blob);
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      const sha = hexOfReprDigest(response.headers.get("repr-digest"));
      setText("download-status", `${name}: ${blob.size.toLocaleString("en")} bytes` + (sha ? `, sha256 ${sha}` : ""));
      $("download-status").dataset.sha256 = sha || "";
    } catch (error) {
      const detail = error instanceof Problem ? `${error.status}: ${error.detail}` : String(error);
      setText("download-status", "Download failed: " + detail);
    } finally {
      button.disabled = state.artifact === null;
    }
  }

  async function copy(event) {
    const button = event.currentTarget;
    const text = $(button.dataset.copy).textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      const range = document.createRange(); // no clipboard (not a secure context): select it instead
      range.selectNodeContents($(button.dataset.copy));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected";
    }
    window.setTimeout(() => (button.textContent = "Copy"), 1500);
  }

  // ------------------------------------------------------------------ start
  function showTarget() {
    const stack = $("target-stack").checked;
    $("stack-fields").hidden = !stack;
    $("layer-fields").hidden = stack;
  }

  function targetChanged() {
    showTarget();
    schedule();
  }

  async function start() {
    const form = $("controls");
    form.addEventListener("submit", (event) => event.preventDefault());
    // "input" fires as the user types or picks; some ways of picking fire only "change", which a
    // text field also fires when it loses the focus (nothing new then: it is ignored).
    const changed = (event) => {
      const target = event.target;
      if (event.type === "change" && target.tagName === "INPUT" && !["checkbox", "radio"].includes(target.type)) return;
      if (target.name === "target") return targetChanged();
      if (target.id === "scheme" && target.value !== state.paramsOf) renderParams();
      schedule();
    };
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    $("download").addEventListener("click", download);
    for (const button of document.querySelectorAll("button.copy")) button.addEventListener("click", copy);
    try {
      const response = await fetch("/schemes", { headers: { accept: "application/json" } });
      if (!response.ok) throw await problemOf(response);
      renderSchemes((await response.json()).schemes);
    } catch (error) {
      $("status").textContent = "Could not load GET /schemes: " + (error.detail || error);
      return;
    }
    showTarget(); // a reload may keep the other choice
    update();
  }

  start();
})();
