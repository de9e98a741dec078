// The API console (SPEC 11): calls in the documented notation, responses, history, reference.
// Vanilla ES2020, no build step, no external network: everything comes from this service.
"use strict";

const ENDPOINT = "/backend/jsonrpc/v1/";
const TOKEN_KEY = "customergroup-rpc.console.token";
const HISTORY_KEY = "customergroup-rpc.console.history";
const HISTORY_LIMIT = 50;
const TIMEOUT_MS = 30000;

// ---------------------------------------------------------------------------------------------
// The notation: Method.name(json, json, ...)
// ---------------------------------------------------------------------------------------------

class NotationError extends Error {
  constructor(message, position) {
    super(message);
    this.name = "NotationError";
    this.position = position;
  }
}

const OPENERS = { "{": "}", "[": "]" };
const CLOSERS = new Set(["}", "]"]);
const NAME = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;

function isSpace(ch) {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r";
}

function skipSpace(src, i) {
  while (i < src.length && isSpace(src[i])) i += 1;
  return i;
}

function describeChar(ch) {
  return ch === undefined ? "the end of the call" : JSON.stringify(ch);
}

// Where the JSON value starting at `start` ends (exclusive): strings with their escapes,
// objects and arrays by nesting, anything else up to the next separator.
function scanValue(src, start) {
  const first = src[start];
  if (first === '"') return scanString(src, start);
  if (first in OPENERS) {
    const stack = [];
    let i = start;
    while (i < src.length) {
      const ch = src[i];
      if (ch === '"') {
        i = scanString(src, i);
        continue;
      }
      if (ch in OPENERS) {
        stack.push({ close: OPENERS[ch], at: i });
      } else if (CLOSERS.has(ch)) {
        const open = stack.pop();
        if (open.close !== ch) {
          throw new NotationError(
            `Found ${JSON.stringify(ch)} where ${JSON.stringify(open.close)} was expected, ` +
              `to close the one opened at ${where(src, open.at)}.`,
            i,
          );
        }
        if (stack.length === 0) return i + 1;
      }
      i += 1;
    }
    const open = stack[stack.length - 1];
    throw new NotationError(
      `${JSON.stringify(src[open.at])} opened here is never closed (missing ${JSON.stringify(open.close)}).`,
      open.at,
    );
  }
  if (first === "'") {
    throw new NotationError("JSON strings use double quotes: \"name\", not 'name'.", start);
  }
  if (first === undefined || first === "," || first === ")" || CLOSERS.has(first)) {
    throw new NotationError(`Expected a JSON value, found ${describeChar(first)}.`, start);
  }
  let i = start;
  while (i < src.length && !isSpace(src[i]) && !",()[]{}\"".includes(src[i])) i += 1;
  return i;
}

function scanString(src, start) {
  let i = start + 1;
  while (i < src.length) {
    const ch = src[i];
    if (ch === "\\") i += 2;
    else if (ch === '"') return i + 1;
    else i += 1;
  }
  throw new NotationError("This string is never closed (missing '\"').", start);
}

// Numbers the request could not carry exactly: 1e400 (infinite), 2^53 + 1 (rounded by JavaScript).
function exactNumbers(key, value, context) {
  if (typeof value !== "number") return value;
  const source = context && typeof context.source === "string" ? context.source : String(value);
  if (!Number.isFinite(value)) throw new RangeError(`${source} is too large`);
  if (/^-?\d+$/.test(source) && !Number.isSafeInteger(value)) {
    throw new RangeError(`${source} is too large to send exactly from a browser (the limit is 2^53 - 1)`);
  }
  return value;
}

function parseValue(src, start, index) {
  const end = scanValue(src, start);
  const text = src.slice(start, end);
  try {
    return { value: JSON.parse(text, exactNumbers), end };
  } catch (err) {
    if (err instanceof RangeError) {
      throw new NotationError(`Argument ${index + 1} cannot be sent: ${err.message}.`, start);
    }
    if (/^-?(NaN|Infinity)$/.test(text)) {
      throw new NotationError(`Argument ${index + 1}, ${text}, is not JSON: JSON has no NaN or Infinity.`, start);
    }
    if (/^[A-Za-z_]\w*$/.test(text) && !["true", "false", "null"].includes(text)) {
      throw new NotationError(
        `Argument ${index + 1}, ${text}, is not JSON: write a string in double quotes ("${text}"), ` +
          "or true, false or null.",
        start,
      );
    }
    // JSON.parse does not always say where; the checker below does, in words of its own.
    const problem = jsonProblem(text);
    if (problem) {
      throw new NotationError(`Argument ${index + 1} is not valid JSON: ${problem.why}.`, start + problem.at);
    }
    const at = /position (\d+)/.exec(err.message);
    const reason = err.message.replace(/^JSON\.parse: /, "").replace(/ (in JSON )?at position \d+.*$/, "");
    const position = start + (at ? Number(at[1]) : 0);
    throw new NotationError(`Argument ${index + 1} is not valid JSON: ${reason}`, position);
  }
}

// The first syntax error in a JSON text, {at, why}, or null: only to point at it.
function jsonProblem(t) {
  let i = 0;
  const fail = (why) => {
    throw { at: i, why };
  };
  const space = () => {
    i = skipSpace(t, i);
  };
  const string = () => {
    i += 1;
    while (i < t.length) {
      const c = t[i];
      if (c === '"') {
        i += 1;
        return;
      }
      if (c < " ") fail("a control character in a string must be escaped (\\n, \\t, \\u0000)");
      if (c === "\\") {
        const e = t[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else if (e === "u" && /^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) i += 6;
        else fail("a bad escape in a string");
      } else {
        i += 1;
      }
    }
    fail("a string that is never closed");
  };
  const word = (w) => {
    let k = 0;
    while (k < w.length && t[i + k] === w[k]) k += 1;
    if (k < w.length) {
      i += k === 0 ? 0 : k;
      fail(`expected ${w}`);
    }
    i += k;
  };
  const value = () => {
    space();
    const c = t[i];
    if (c === "{") {
      i += 1;
      space();
      if (t[i] === "}") {
        i += 1;
        return;
      }
      for (;;) {
        space();
        if (t[i] !== '"') fail("expected a property name in double quotes");
        string();
        space();
        if (t[i] !== ":") fail('expected ":" after the property name');
        i += 1;
        value();
        space();
        if (t[i] === ",") i += 1;
        else if (t[i] === "}") return void (i += 1);
        else fail('expected "," or "}"');
      }
    }
    if (c === "[") {
      i += 1;
      space();
      if (t[i] === "]") {
        i += 1;
        return;
      }
      for (;;) {
        value();
        space();
        if (t[i] === ",") i += 1;
        else if (t[i] === "]") return void (i += 1);
        else fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === "t") return word("true");
    if (c === "f") return word("false");
    if (c === "n") return word("null");
    const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    number.lastIndex = i;
    if (!number.exec(t)) fail(c === undefined ? "expected a value, found the end" : "expected a JSON value");
    i = number.lastIndex;
  };
  try {
    value();
    space();
    if (i < t.length) fail("unexpected text after the value");
    return null;
  } catch (problem) {
    if (problem && typeof problem.at === "number") return problem;
    throw problem;
  }
}

// {method, params} from "Customergroup.get(1, \"name\")"; throws NotationError with a position.
function parseCall(src) {
  let i = skipSpace(src, 0);
  if (i === src.length) {
    throw new NotationError('Type a call first, for example Customergroup.list(["name"]).', i);
  }
  NAME.lastIndex = i;
  const name = NAME.exec(src);
  if (!name) {
    throw new NotationError(
      `Expected a method name such as Customergroup.list, found ${describeChar(src[i])}.`,
      i,
    );
  }
  const method = name[0];
  i = skipSpace(src, NAME.lastIndex);
  if (src[i] !== "(") {
    throw new NotationError(
      `Expected "(" after ${method}, found ${describeChar(src[i])}; ` +
        `a call without arguments is written ${method}().`,
      i,
    );
  }
  const params = [];
  i = skipSpace(src, i + 1);
  if (src[i] === ")") {
    i += 1;
  } else {
    for (;;) {
      const parsed = parseValue(src, i, params.length);
      params.push(parsed.value);
      i = skipSpace(src, parsed.end);
      if (src[i] === ",") {
        i = skipSpace(src, i + 1);
        continue;
      }
      if (src[i] === ")") {
        i += 1;
        break;
      }
      throw new NotationError(
        `Expected "," or ")" after argument ${params.length}, found ${describeChar(src[i])}.`,
        i,
      );
    }
  }
  i = skipSpace(src, i);
  if (i < src.length) {
    throw new NotationError(
      `Unexpected ${describeChar(src[i])} after the call; run one call at a time.`,
      i,
    );
  }
  return { method, params };
}

// "line 2, column 5" of a 0-based offset.
function lineColumn(src, position) {
  const before = src.slice(0, position).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function where(src, position) {
  const { line, column } = lineColumn(src, position);
  return `line ${line}, column ${column}`;
}

// A compact JSON rendering of a value for templates and history.
function compact(value) {
  if (Array.isArray(value)) return `[${value.map(compact).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compact(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function formatCall(method, params) {
  return `${method}(${params.map(compact).join(", ")})`;
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers
// ---------------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Pretty-printed JSON with spans for colouring; built from text nodes, never from HTML.
function jsonView(value, label) {
  const pre = el("pre", { class: "json", tabindex: "0", "aria-label": label });
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    pre.append("(no value)");
    return pre;
  }
  const token = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false)\b|\b(null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (let m = token.exec(text); m; m = token.exec(text)) {
    if (m.index > last) pre.append(text.slice(last, m.index));
    if (m[1] !== undefined) {
      pre.append(el("span", { class: m[2] ? "j-key" : "j-str" }, m[1]));
      if (m[2]) pre.append(m[2]);
    } else if (m[3] !== undefined) {
      pre.append(el("span", { class: "j-bool" }, m[3]));
    } else if (m[4] !== undefined) {
      pre.append(el("span", { class: "j-null" }, m[4]));
    } else {
      pre.append(el("span", { class: "j-num" }, m[5]));
    }
    last = token.lastIndex;
  }
  pre.append(text.slice(last));
  return pre;
}

// ---------------------------------------------------------------------------------------------
// Token
// ---------------------------------------------------------------------------------------------

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (_) {
    return null;
  }
}

function storageSet(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
    return true;
  } catch (_) {
    return false;
  }
}

function currentToken() {
  return storageGet(TOKEN_KEY) || "";
}

function showTokenStatus() {
  const token = currentToken();
  const status = $("token-status");
  if (token) {
    const tail = token.length > 8 ? `…${token.slice(-4)}` : "";
    status.textContent = tail ? `Token ${tail} saved in this browser` : "Token saved in this browser";
    status.className = "token-status ok";
  } else {
    status.textContent = "No token: calls answer 1004 Bad auth token.";
    status.className = "token-status warn";
  }
  $("token-forget").disabled = !token;
}

function saveToken() {
  const token = $("token").value.trim();
  $("token").value = token;
  if (/[^\x21-\x7e]/.test(token)) {
    // It could not be sent in an Authorization header; tokens are printable ASCII.
    $("token-status").textContent = "Not saved: a token has no spaces or characters beyond ASCII.";
    $("token-status").className = "token-status warn";
    return;
  }
  storageSet(TOKEN_KEY, token || null);
  showTokenStatus();
}

function forgetToken() {
  storageSet(TOKEN_KEY, null);
  $("token").value = "";
  showTokenStatus();
  $("token").focus();
}

// ---------------------------------------------------------------------------------------------
// History
// ---------------------------------------------------------------------------------------------

function loadHistory() {
  try {
    const items = JSON.parse(storageGet(HISTORY_KEY) || "[]");
    return Array.isArray(items) ? items.filter((item) => item && typeof item.call === "string") : [];
  } catch (_) {
    return [];
  }
}

function remember(call, outcome) {
  const items = loadHistory().filter((item) => item.call !== call);
  items.unshift({ call, outcome, at: new Date().toISOString() });
  storageSet(HISTORY_KEY, JSON.stringify(items.slice(0, HISTORY_LIMIT)));
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  const items = loadHistory();
  list.replaceChildren(
    ...items.map((item) => {
      const ok = item.outcome === "ok";
      const badge = el("span", { class: `badge ${ok ? "ok" : "err"}` }, ok ? "ok" : String(item.outcome));
      const time = item.at ? new Date(item.at) : null;
      return el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "history-item",
            title: time && !Number.isNaN(time.getTime()) ? `Run at ${time.toLocaleString()}` : undefined,
            onclick: () => useCall(item.call),
          },
          badge,
          el("code", {}, item.call),
        ),
      );
    }),
  );
  $("history-empty").hidden = items.length > 0;
  $("history-clear").disabled = items.length === 0;
}

function useCall(text, select) {
  const editor = $("call");
  editor.value = text;
  editor.focus();
  if (select) editor.setSelectionRange(select[0], select[1]);
  else editor.setSelectionRange(text.length, text.length);
}

// ---------------------------------------------------------------------------------------------
// Calls and responses
// ---------------------------------------------------------------------------------------------

let nextId = 1;
let lastJson = null;

async function post(method, params, token) {
  const request = { jsonrpc: "2.0", method, id: nextId++ };
  if (params.length) request.params = params;
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const started = performance.now();
  try {
    const response = await fetch(ENDPOINT, {
      method: "POST",
      headers,
      body: JSON.stringify(request),
      signal: controller.signal,
      cache: "no-store",
    });
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    return { request, status: response.status, body, text, ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function show(...nodes) {
  const target = $("response");
  target.replaceChildren(...nodes);
}

function setCopy(value) {
  lastJson = value === undefined ? null : JSON.stringify(value, null, 2);
  $("copy").hidden = lastJson === null;
  $("copy").textContent = "Copy JSON";
}

function showNotationError(src, err) {
  const { line, column } = lineColumn(src, err.position);
  const lineText = src.split("\n")[line - 1];
  const snippet = el(
    "pre",
    { class: "snippet", "aria-label": "Where the problem is" },
    lineText,
    "\n",
    el("span", { class: "caret" }, `${" ".repeat(column - 1)}^`),
  );
  setCopy(undefined);
  show(
    el(
      "div",
      { class: "status err", role: "alert" },
      el("strong", {}, "Notation error"),
      el("span", { class: "meta" }, `line ${line}, column ${column}`),
    ),
    el("p", { class: "message" }, err.message),
    snippet,
    el(
      "p",
      { class: "hint" },
      "The notation: a method name, then comma-separated JSON values in parentheses, " +
        'e.g. Customergroup.get(1, "name").',
    ),
  );
}

function isPointerList(data) {
  return (
    Array.isArray(data) &&
    data.length > 0 &&
    data.every((item) => item && typeof item === "object" && typeof item.pointer === "string")
  );
}

function pointerTable(problems, caption) {
  return el(
    "table",
    { class: "pointers" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Pointer"), el("th", { scope: "col" }, "Message"))),
    el(
      "tbody",
      {},
      problems.map((p) =>
        el(
          "tr",
          {},
          el("td", {}, el("code", {}, p.pointer || "(the whole value)")),
          el("td", {}, String(p.message ?? "")),
        ),
      ),
    ),
  );
}

function rawDetails(outcome, open) {
  return el(
    "details",
    { class: "raw", open },
    el("summary", {}, "Request and full response"),
    el("h3", {}, "Request"),
    jsonView(outcome.request, "The JSON-RPC request"),
    el("h3", {}, `Response (HTTP ${outcome.status})`),
    outcome.body === null
      ? el("pre", { class: "json" }, outcome.text || "(empty body)")
      : jsonView(outcome.body, "The JSON-RPC response"),
  );
}

function showOutcome(outcome) {
  const ms = `${outcome.ms < 10 ? outcome.ms.toFixed(1) : Math.round(outcome.ms)} ms`;
  const body = outcome.body;
  if (body && typeof body === "object" && !Array.isArray(body) && "result" in body) {
    setCopy(body.result);
    show(
      el(
        "div",
        { class: "status ok", role: "status" },
        el("strong", {}, "Result"),
        el("span", { class: "meta" }, `${outcome.request.method} · HTTP ${outcome.status} · ${ms}`),
      ),
      jsonView(body.result, "The result"),
      rawDetails(outcome, false),
    );
    return "ok";
  }
  if (body && typeof body === "object" && !Array.isArray(body) && body.error && typeof body.error === "object") {
    const error = body.error;
    setCopy(body);
    const parts = [
      el(
        "div",
        { class: "status err", role: "alert" },
        el("strong", {}, `Error ${error.code}`),
        el("span", { class: "message-inline" }, String(error.message ?? "")),
        el("span", { class: "meta" }, `${outcome.request.method} · HTTP ${outcome.status} · ${ms}`),
      ),
    ];
    const explained = EXPLAIN[error.code];
    if (explained) parts.push(el("p", { class: "hint" }, explained));
    if (isPointerList(error.data)) {
      const n = error.data.length;
      parts.push(pointerTable(error.data, n === 1 ? "1 problem" : `${n} problems`));
    } else if (typeof error.data === "string") {
      parts.push(el("p", { class: "message" }, error.data));
    } else if (error.data !== undefined) {
      parts.push(el("h3", {}, "Data"), jsonView(error.data, "The error's data"));
    }
    parts.push(rawDetails(outcome, false));
    show(...parts);
    return error.code;
  }
  setCopy(undefined);
  show(
    el(
      "div",
      { class: "status err", role: "alert" },
      el("strong", {}, `HTTP ${outcome.status}`),
      el("span", { class: "meta" }, `${outcome.request.method} · ${ms}`),
    ),
    el(
      "p",
      { class: "message" },
      outcome.status === 204
        ? "No content: the service sent no response."
        : "The service did not answer with a JSON-RPC response.",
    ),
    rawDetails(outcome, true),
  );
  return `HTTP ${outcome.status}`;
}

const EXPLAIN = {
  1004: "The token is missing, unknown or revoked. Paste a valid token above and save it.",
  1006: "This token's scope does not allow the method; methods that change data need a manage token.",
  "-32601": "No such method. The list on the right shows every method the service has.",
  "-32602":
    "The params are wrong. Each pointer shows where: /0 is the first argument, /1/name the " +
    "name in the second; a patch's problems point into the patch.",
};

let running = false;

async function run() {
  if (running) return;
  const src = $("call").value;
  let call;
  try {
    call = parseCall(src);
  } catch (err) {
    if (!(err instanceof NotationError)) throw err;
    showNotationError(src, err);
    return;
  }
  running = true;
  $("run").disabled = true;
  $("run-state").textContent = "Running…";
  $("response").setAttribute("aria-busy", "true");
  setCopy(undefined);
  show(el("p", { class: "placeholder" }, `Running ${call.method}…`));
  try {
    const outcome = await post(call.method, call.params, currentToken());
    remember(src.trim(), showOutcome(outcome));
    $("run-state").textContent = "";
  } catch (err) {
    setCopy(undefined);
    const reason =
      err && err.name === "AbortError" ? `no answer in ${TIMEOUT_MS / 1000} seconds` : String(err && err.message);
    show(
      el("div", { class: "status err", role: "alert" }, el("strong", {}, "No response")),
      el("p", { class: "message" }, `The service could not be reached (${reason}). Is it running?`),
    );
    $("run-state").textContent = "";
  } finally {
    running = false;
    $("response").removeAttribute("aria-busy");
    $("run").disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// The method reference, from the OpenRPC document (rpc.discover)
// ---------------------------------------------------------------------------------------------

let discovery = null;
let downloadUrl = null;

// Follows a local "$ref" ("#/components/schemas/uid") in the document; others stay as they are.
function resolve(doc, node, seen = new Set()) {
  if (!node || typeof node !== "object" || typeof node.$ref !== "string") return node;
  const ref = node.$ref;
  if (!ref.startsWith("#/") || seen.has(ref)) return node;
  seen.add(ref);
  let target = doc;
  for (const part of ref.slice(2).split("/")) {
    const key = decodeURIComponent(part).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!target || typeof target !== "object" || !(key in target)) return node;
    target = target[key];
  }
  return resolve(doc, target, seen);
}

function typeOf(doc, schema, depth = 0) {
  // A named schema ("#/components/schemas/Customergroup") reads best by its name.
  if (schema && typeof schema === "object" && typeof schema.$ref === "string") {
    return schema.$ref.split(/[/:#]/).filter(Boolean).pop();
  }
  const s = resolve(doc, schema);
  if (!s || typeof s !== "object") return s === true ? "any" : "";
  if ("const" in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  for (const key of ["oneOf", "anyOf"]) {
    if (Array.isArray(s[key]) && depth < 3) return s[key].map((sub) => typeOf(doc, sub, depth + 1)).join(" | ");
  }
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
  const names = types.map((t) => {
    if (t === "array" && s.items && depth < 3) {
      const inner = typeOf(doc, s.items, depth + 1);
      return inner ? `array of ${inner}` : "array";
    }
    return t;
  });
  if (names.length) return names.join(" | ");
  if (s.title) return s.title;
  return s.properties ? "object" : "any";
}

function schemaDescription(doc, schema) {
  const s = resolve(doc, schema);
  return s && typeof s === "object" && typeof s.description === "string" ? s.description : "";
}

// An example argument for a parameter, by its name, then by its schema.
const EXAMPLES = {
  uid: 1,
  fromUid: 1,
  toUid: 2,
  patch: { name: "Students" },
  query: ["uid", "name"],
  filters: { "/name": { startsWith: "S" } },
  selection: { limit: 10 },
  customers: [17, 42],
};

function exampleFor(doc, param) {
  if (param && Object.prototype.hasOwnProperty.call(EXAMPLES, param.name)) return EXAMPLES[param.name];
  const s = resolve(doc, param && param.schema);
  if (!s || typeof s !== "object") return null;
  if ("default" in s) return s.default;
  if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
  if ("const" in s) return s.const;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  return { object: {}, array: [], string: "", integer: 1, number: 1, boolean: true }[type] ?? null;
}

function templateFor(doc, method) {
  const params = (method.params || []).map((p) => resolve(doc, p));
  const example = Array.isArray(method.examples) ? resolve(doc, method.examples[0]) : null;
  if (example && Array.isArray(example.params)) {
    const byName = new Map(example.params.map((p) => [p.name, p.value]));
    if (params.every((p) => byName.has(p.name) || !p.required)) {
      const values = [];
      for (const p of params) {
        if (!byName.has(p.name)) break;
        values.push(byName.get(p.name));
      }
      return formatCall(method.name, values);
    }
  }
  return formatCall(method.name, params.map((p) => exampleFor(doc, p)));
}

function signature(doc, method) {
  const params = (method.params || []).map((p) => resolve(doc, p));
  return el(
    "span",
    { class: "sig" },
    "(",
    params.map((p, n) => [
      n ? ", " : "",
      el("span", { class: p.required ? "p-req" : "p-opt" }, p.required ? p.name : `${p.name}?`),
    ]),
    ")",
  );
}

function errorLabel(doc, error) {
  const e = resolve(doc, error);
  if (typeof e === "number") return String(e);
  if (e && typeof e === "object") return e.message ? `${e.code} ${e.message}` : String(e.code);
  return String(e);
}

const SCOPES = {
  view: "Needs a token with the view or manage scope",
  manage: "Needs a token with the manage scope",
};

function methodEntry(doc, method) {
  const params = (method.params || []).map((p) => resolve(doc, p));
  const result = resolve(doc, method.result);
  const tags = (method.tags || []).map((t) => resolve(doc, t)).map((t) => (t && t.name) || String(t));
  const scope = method["x-scope"] || method.scope;
  if (scope && !tags.includes(scope)) tags.unshift(scope);
  // The description often repeats the summary first; show only what it adds.
  let description = typeof method.description === "string" ? method.description : "";
  if (method.summary && description.startsWith(method.summary)) {
    description = description.slice(method.summary.length).trim();
  }
  const shortName = method.name.replace(/^Customergroup\./, "");
  const prefix = method.name.slice(0, method.name.length - shortName.length);
  const details = el(
    "details",
    {},
    el("summary", {}, "Params, result, errors"),
    description ? el("p", {}, description) : null,
    params.length
      ? el(
          "dl",
          { class: "params" },
          params.map((p) => [
            el(
              "dt",
              {},
              el("code", {}, p.name),
              " ",
              el("span", { class: "type" }, typeOf(doc, p.schema)),
              p.required ? "" : el("span", { class: "opt" }, " optional"),
            ),
            el("dd", {}, p.description || p.summary || schemaDescription(doc, p.schema) || "—"),
          ]),
        )
      : el("p", { class: "hint" }, "No params."),
    result
      ? el(
          "p",
          { class: "result" },
          "Returns ",
          el("code", {}, result.name || "result"),
          ": ",
          el("span", { class: "type" }, typeOf(doc, result.schema)),
        )
      : null,
    Array.isArray(method.errors) && method.errors.length
      ? el(
          "p",
          { class: "errors" },
          "Errors: ",
          method.errors.map((e, n) => [n ? ", " : "", el("code", {}, errorLabel(doc, e))]),
        )
      : null,
  );
  return el(
    "li",
    { class: "method", "data-method": method.name },
    el(
      "div",
      { class: "method-head" },
      el(
        "button",
        {
          type: "button",
          class: "method-name",
          title: "Put a template call in the editor",
          "aria-label": `${method.name}: put a template call in the editor`,
          onclick: () => {
            const text = templateFor(doc, method);
            const open = text.indexOf("(") + 1;
            useCall(text, [open, text.length - 1]);
          },
        },
        prefix ? el("span", { class: "ns" }, prefix) : null,
        el("span", { class: "short" }, shortName),
        signature(doc, method),
      ),
      tags.map((t) =>
        el("span", { class: `badge tag tag-${String(t).replace(/\W/g, "")}`, title: SCOPES[t] }, t),
      ),
    ),
    method.summary ? el("p", { class: "summary" }, method.summary) : null,
    details,
  );
}

function renderReference(doc) {
  const methods = (Array.isArray(doc.methods) ? doc.methods : [])
    .map((m) => resolve(doc, m))
    .filter((m) => m && typeof m.name === "string");
  if (!methods.length) {
    referenceFallback("The OpenRPC document lists no methods.");
    return;
  }
  methods.sort((a, b) => a.name.localeCompare(b.name));
  const info = doc.info && typeof doc.info === "object" ? doc.info : null;
  $("reference").replaceChildren(
    el(
      "p",
      { class: "hint" },
      info && info.title ? `${info.title}${info.version ? ` ${info.version}` : ""} · ` : "",
      `${methods.length} methods · click one for a template`,
    ),
    el("ul", { class: "methods", id: "method-list" }, methods.map((m) => methodEntry(doc, m))),
  );
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
  $("openrpc-download").href = downloadUrl;
  $("openrpc-download").hidden = false;
  filterReference();
}

function referenceFallback(reason) {
  $("reference").replaceChildren(
    el(
      "div",
      { class: "fallback", role: "note" },
      el("p", {}, el("strong", {}, "The method reference is not available. "), reason),
      el(
        "p",
        {},
        "Calls still work. The methods are Customergroup.count, create, get, getSchema, list, " +
          "set, validate, delete, addCustomers, removeCustomers, listCustomers and moveCustomers; " +
          "the README describes them.",
      ),
      el("button", { type: "button", class: "small", onclick: discover }, "Try again"),
    ),
  );
}

async function discover() {
  $("reference").replaceChildren(el("p", { class: "placeholder" }, "Loading the method reference…"));
  try {
    const outcome = await post("rpc.discover", [], null);
    const body = outcome.body;
    if (body && body.result && typeof body.result === "object") {
      discovery = body.result;
      renderReference(discovery);
    } else if (body && body.error) {
      const { code, message } = body.error;
      referenceFallback(`rpc.discover answered ${code}${message ? ` ${message}` : ""}.`);
    } else {
      referenceFallback(`rpc.discover answered HTTP ${outcome.status} without a JSON-RPC result.`);
    }
  } catch (err) {
    referenceFallback(`The service could not be reached (${err && err.message}).`);
  }
}

function filterReference() {
  const words = $("reference-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  for (const item of document.querySelectorAll("#method-list > li")) {
    const text = item.textContent.toLowerCase();
    item.hidden = !words.every((w) => text.includes(w));
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------

function start() {
  $("token").value = currentToken();
  showTokenStatus();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    saveToken();
  });
  $("token").addEventListener("change", saveToken);
  $("token-forget").addEventListener("click", forgetToken);

  $("call-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  $("call").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    }
  });
  $("copy").addEventListener("click", async () => {
    if (lastJson === null) return;
    try {
      await navigator.clipboard.writeText(lastJson);
      $("copy").textContent = "Copied";
    } catch (_) {
      $("copy").textContent = "Copy failed";
    }
  });

  $("history-clear").addEventListener("click", () => {
    storageSet(HISTORY_KEY, null);
    renderHistory();
  });
  renderHistory();

  $("reference-filter").addEventListener("input", filterReference);
  $("openrpc-show").addEventListener("click", (event) => {
    event.preventDefault();
    useCall("rpc.discover()");
    run();
  });
  discover();
  if (!$("call").value) $("call").value = 'Customergroup.list(["uid", "name"], {"limit": 10})';
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
}
