// The initw playground: plain JavaScript, no dependencies, no inline code (the page's CSP allows
// only this file). Every plot and number comes from this origin's API: GET /schemes,
// POST /diagnostics (JSON, and the histogram as SVG) and POST /diagnostics/network (JSON, and the
// signal-propagation plot as SVG), for the chosen scheme and, beside it, the one to compare with;
// the download is POST /init with the stack as `layers`.
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
    // The default example: orthogonal weights keep a deep stack's signal, beside the classic failure
    // (the compare field's N(0, 0.01^2), whose signal vanishes).
    select.value = state.schemes.has("orthogonal") ? "orthogonal" : schemes[0].name;
    renderParams();
  }

  // A default of null (e.g. orthogonal's column_axis: chosen from the shape) is an empty field.
  const defaultText = (param) => ("default" in param && param.default !== null ? String(param.default) : "");

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
      return { stack, scheme, artifact: body, tensor: body, tensorName: "weight", compare: null };
    }
    const depth = integer($("depth").value);
    const width = integer($("width").value);
    const activation = $("activation").value;
    const n = depth instanceof Raw ? Math.min(Math.max(Number(depth.text), 0), MAX_DEPTH) : 0;
    // The file as POST /init's `layers`: bias-free linear layers named layers.{i}, whose weights are
    // layers.{i}.weight, the same bytes as the tensors (and as /diagnostics/network's stack).
    const linear = (i) => ({ type: "linear", name: `layers.${i}`, in_features: width, out_features: width,
                             bias: false, weight_init: scheme });
    const tensor = (s) => ({ ...head, tensors: [{ name: "layers.0.weight", shape: [width, width], scheme: s }] });
    const network = (s) => ({ ...head, input_width: width, layers: [{ width, activation, scheme: s, repeat: depth }] });
    const compare = compareSpec();
    return {
      stack,
      depth: n,
      width,
      activation,
      scheme,
      head,
      artifact: { ...head, layers: Array.from({ length: n }, (_, i) => linear(i)) },
      tensor: tensor(scheme),
      tensorName: "layers.0.weight",
      network: network(scheme),
      compare, // {scheme, tensor, network}, null (none) or {error} (the field's text is not a scheme)
      ...(compare && !compare.error ? { compareTensor: tensor(compare.scheme), compareNetwork: network(compare.scheme) } : {}),
    };
  }

  // The compare field: empty (no comparison), a scheme name, or a JSON object as the API takes it.
  function compareSpec() {
    const text = $("compare").value.trim();
    if (text === "") return null;
    if (!text.startsWith("{")) return { scheme: text };
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
      return { scheme: value };
    } catch (error) {
      return { error: `not a scheme name or a JSON object: ${error.message}` };
    }
  }

  function schemeText(scheme) {
    if (scheme === null || typeof scheme !== "object") return String(scheme);
    const { name, ...params } = scheme;
    const args = Object.entries(params).map(([k, v]) => `${k} ${v instanceof Raw ? v.text : JSON.stringify(v)}`);
    return args.length ? `${name} (${args.join(", ")})` : String(name);
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

  // ------------------------------------------------------------------ problems, each shown once
  // A field path of the API (seed, shape.1, scheme.gain, tensors.0.scheme.gain, layers.0.repeat,
  // layers.0.weight_init.gain, input_width) -> the input that holds it. A path into the comparison's
  // scheme belongs to the compare field.
  function inputOfField(field, comparison) {
    if (!field) return null;
    const parts = field.split(".");
    const at = parts.findIndex((p) => p === "scheme" || p === "weight_init");
    if (at >= 0) {
      if (comparison) return $("compare");
      const param = parts[at + 1];
      return (param && $("param-" + param)) || $("scheme");
    }
    const stack = $("target-stack").checked;
    if (parts.includes("shape")) return stack ? $("width") : $("shape");
    const last = parts.filter((p) => !/^\d+$/.test(p)).pop();
    const map = { seed: "seed", dtype: "dtype", repeat: "depth", layers: "depth", width: "width",
                  input_width: "width", in_features: "width", out_features: "width", activation: "activation",
                  tensors: "depth" };
    return map[last] ? $(map[last]) : null;
  }

  function errorText(error) {
    const allowed = error.allowed && error.allowed.length <= 160 ? ` (allowed: ${error.allowed})` : "";
    return error.message + allowed;
  }

  function clearProblems() {
    for (const node of document.querySelectorAll(".field-problem")) node.remove();
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    $("problem").replaceChildren();
    $("problem").hidden = true;
  }

  // One note under a field, whatever number of requests refused it: the same message (the JSON and
  // the SVG request of a card, the tensor and the stack naming the same input) is said once.
  function showFieldProblem(input, text) {
    input.setAttribute("aria-invalid", "true");
    let note = [...input.parentElement.querySelectorAll(".field-problem")].find((n) => n.dataset.for === input.id);
    if (!note) {
      note = document.createElement("p");
      note.className = "field-problem";
      note.dataset.for = input.id;
      input.after(note);
    }
    const said = note.textContent ? note.textContent.split("; ") : [];
    if (!said.includes(text)) note.textContent = [...said, text].join("; ");
  }

  // The refusals of one update, each said once: an error about a field next to that field; a problem
  // of the request as a whole (a 413 over the budget, an error no field holds) in the one box under
  // the status line. The cards whose request failed are dimmed, with no text of their own.
  function showProblems(problems) {
    const general = [];
    for (const { problem, comparison } of problems) {
      let placed = false;
      for (const error of problem.errors) {
        const input = inputOfField(error.field, comparison);
        if (input && !input.closest("[hidden]")) {
          showFieldProblem(input, errorText(error));
          placed = true;
        } else {
          general.push(`${error.field}: ${errorText(error)}`);
          placed = true;
        }
      }
      if (!placed) general.push(problem.status ? `${problem.status}: ${problem.detail}` : problem.detail);
    }
    const unique = [...new Set(general)];
    if (!unique.length) return;
    const box = $("problem");
    for (const text of unique) {
      const line = document.createElement("p");
      line.className = "problem-detail";
      line.textContent = text;
      box.append(line);
    }
    box.hidden = false;
  }

  function cardFailed(card) {
    $(card + "-card").dataset.state = "error";
    if (card === "numbers") badge("tensor-verdict", ""); // the old verdict is not about these inputs
    if (card === "propagation" || card === "stack") {
      badge("stack-verdict", "");
      setText("stack-why", "");
    }
    if (card === "compare") {
      badge("compare-verdict", "");
      setText("compare-why", "");
    }
  }

  function ready(card) {
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
    verdictList("stack-verdicts", report.verdicts);
  }

  function verdictOf(report) {
    const bands = (report.verdicts || []).map((v) => v.band);
    return bands.includes("fail") ? "fail" : bands.includes("warn") ? "warn" : "healthy";
  }

  // One line on why: what each layer does to the signal's variance (measured: the last layer's over
  // the first, per layer), and the cause, fan_in x Var(w) (the weight's theoretical std).
  function whyLine(current, report, tensorReport) {
    const ratio = report.stack.q_ratio;
    const depth = (report.layers || []).length || current.depth;
    if (!(ratio > 0) || depth < 2) return "";
    const perLayer = Math.pow(ratio, 1 / (depth - 1));
    const d = tensorReport && tensorReport.diagnostics[current.tensorName];
    const std = d && d.expected ? d.expected.std : undefined;
    const fan = current.width instanceof Raw ? Number(current.width.text) : NaN;
    const cause = typeof std === "number" && Number.isFinite(fan)
      ? `fan_in × Var(w) = ${fan} × ${fmt(std, 3)}² = ${fmt(fan * std * std, 3)}: ` : "";
    const over = `×${fmt(perLayer, 3)} per layer, ×${fmt(ratio, 3)} over ${depth} layers`;
    if (perLayer >= 0.9 && perLayer <= 1.1) return `${cause}the signal's variance stays put (${over}).`;
    if (perLayer < 1) return `${cause}the signal's variance shrinks ${over}: it vanishes, and so does the gradient.`;
    return `${cause}the signal's variance grows ${over}: it explodes.`;
  }

  // The stack's POST /init body with one layer a line (the shell keeps the newlines in quotes).
  function layersJson(body) {
    const { layers, ...head } = body;
    return toJson(head).slice(0, -1) + ', "layers": [\n' + layers.map((l) => "  " + toJson(l)).join(",\n") + "\n]}";
  }

  function showCommands(current) {
    const origin = window.location.origin;
    const body = current.stack ? layersJson(current.artifact) : toJson(current.artifact);
    const curl = [
      `curl -s -X POST ${origin}/init -H 'content-type: application/json' \\`,
      `    -d ${shellQuote(body)} \\`,
      "    -o initw.safetensors",
    ];
    let python;
    if (current.stack) {
      const width = toPython(current.width);
      const layer = `{"type": "linear", "name": f"layers.{i}", "in_features": ${width}, "out_features": ${width}, ` +
        `"bias": False, "weight_init": ${toPython(current.scheme)}}`;
      const head = Object.entries(current.head).map(([k, v]) => `${JSON.stringify(k)}: ${toPython(v)}, `).join("");
      python = [
        "import httpx",
        "",
        `body = {${head}"layers": [`,
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
    const comparing = current.stack && current.compare !== null;
    $("results").dataset.busy = "true";
    $("results").dataset.mode = !current.stack ? "layer" : comparing ? "compare" : "stack";
    $("status").textContent = "Updating…";
    showCommands(current);
    $("download").disabled = true;
    state.artifact = null;
    setText("download-status", "");
    $("propagation-card").hidden = !current.stack;
    $("stack-card").hidden = !current.stack;
    $("compare-card").hidden = !comparing;
    setText("propagation-scheme", schemeText(current.scheme));
    setText("stack-scheme", current.stack ? `${schemeText(current.scheme)}, ${current.depth} ${current.activation} layers` : "");
    setText("compare-scheme", comparing && !current.compare.error ? schemeText(current.compare.scheme) : "");
    const json = (path, body) => post(path, body, "application/json", signal).then((r) => r.json());
    const svg = (path, body) => post(path, body, SVG_TYPE, signal).then((r) => r.text());
    // name -> [the request, whether it is the comparison's]
    const tasks = {
      histogram: [svg("/diagnostics", current.tensor), false],
      numbers: [json("/diagnostics", current.tensor), false],
    };
    if (current.stack) {
      tasks.propagation = [svg("/diagnostics/network", current.network), false];
      tasks.stack = [json("/diagnostics/network", current.network), false];
    }
    if (comparing && !current.compare.error) {
      tasks.compare = [svg("/diagnostics/network", current.compareNetwork), true];
      tasks.compareStack = [json("/diagnostics/network", current.compareNetwork), true];
      tasks.compareTensor = [json("/diagnostics", current.compareTensor), true];
    }
    const names = Object.keys(tasks);
    const outcomes = await Promise.allSettled(names.map((name) => tasks[name][0]));
    if (generation !== state.generation) return; // a newer update owns the page
    clearProblems();
    const value = {};
    const problems = [];
    names.forEach((name, i) => {
      const outcome = outcomes[i];
      if (outcome.status === "fulfilled") value[name] = outcome.value;
      else {
        const error = outcome.reason instanceof Problem ? outcome.reason : new Problem(0, String(outcome.reason), []);
        problems.push({ problem: error, comparison: tasks[name][1] });
      }
    });
    if (comparing && current.compare.error) {
      problems.push({ problem: new Problem(0, current.compare.error, [{ field: "scheme", message: current.compare.error }]),
                      comparison: true });
    }
    const render = {
      histogram: () => showSvg("histogram", value.histogram),
      numbers: () => showTensor(current.tensorName, value.numbers),
      propagation: () => {
        showSvg("propagation", value.propagation);
        if (value.stack) {
          badge("stack-verdict", verdictOf(value.stack));
          setText("stack-why", whyLine(current, value.stack, value.numbers));
        } else badge("stack-verdict", "");
      },
      stack: () => showStack(value.stack),
      compare: () => {
        showSvg("compare-propagation", value.compare);
        badge("compare-verdict", value.compareStack ? verdictOf(value.compareStack) : "");
        setText("compare-why", value.compareStack ? whyLine(current, value.compareStack, value.compareTensor) : "");
      },
    };
    const needs = { propagation: ["propagation"], stack: ["stack"], compare: ["compare", "compareStack"] };
    for (const [card, show] of Object.entries(render)) {
      if (card === "compare" && !comparing) continue;
      if ((card === "propagation" || card === "stack") && !current.stack) continue;
      const wanted = needs[card] || [card];
      if (!wanted.every((name) => name in value)) {
        cardFailed(card);
        continue;
      }
      try {
        show();
        ready(card);
      } catch (error) {
        cardFailed(card);
        problems.push({ problem: new Problem(0, String(error), []), comparison: card === "compare" });
      }
    }
    showProblems(problems);
    // The file is valid when its tensors are (the stack's own checks may still fail, e.g. its budget).
    const tensorsOk = "histogram" in value && "numbers" in value;
    const size = fileBytes(current);
    if (tensorsOk && size > 0) {
      state.artifact = current.artifact;
      $("download").disabled = size > MAX_DOWNLOAD;
      $("download").textContent = `Download .safetensors (${bytesText(size)})`;
      if (size > MAX_DOWNLOAD) setText("download-status", "Too large for the browser to hold: use the commands.");
    } else {
      $("download").textContent = "Download .safetensors";
    }
    $("status").textContent = problems.length ? "Refused: see the notes." : "Up to date.";
    $("results").dataset.busy = "false";
    $("results").dataset.generation = String(generation);
  }

  // ------------------------------------------------------------------ download and copy
  // The tensors' bytes (the file adds a header of a few hundred bytes per tensor).
  function fileBytes(current) {
    const shapes = current.artifact.layers
      ? current.artifact.layers.map((l) => [l.out_features, l.in_features])
      : [current.artifact.shape || []];
    let total = 0;
    for (const shape of shapes) {
      const dims = shape.map((d) => (d instanceof Raw ? Number(d.text) : NaN));
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
    $("compare-fields").hidden = !stack; // a comparison is of two stacks
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
