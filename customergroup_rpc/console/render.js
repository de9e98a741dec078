// Drawing: a small element builder, pretty-printed JSON, and the response panel's views.
// Everything is built from elements and text nodes, never from HTML strings.

import { lineColumn } from "./notation.js";

export const $ = (id) => document.getElementById(id);

// el("p", {class: "hint", onclick: f}, "text", child, [more]): attributes, listeners, children.
export function el(tag, attrs, ...children) {
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

const TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false)\b|\b(null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

// Pretty-printed JSON with spans for colouring.
export function jsonView(value, label) {
  const pre = el("pre", { class: "json", tabindex: "0", "aria-label": label });
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    pre.append("(no value)");
    return pre;
  }
  let last = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m; m = TOKEN.exec(text)) {
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
    last = TOKEN.lastIndex;
  }
  pre.append(text.slice(last));
  return pre;
}

// ---------------------------------------------------------------------------------------------
// The response panel
// ---------------------------------------------------------------------------------------------

let lastJson = null;

function show(json, ...nodes) {
  lastJson = json === undefined ? null : JSON.stringify(json, null, 2);
  $("copy").hidden = lastJson === null;
  $("copy").textContent = "Copy JSON";
  $("response").replaceChildren(...nodes);
}

export async function copyShown() {
  if (lastJson === null) return;
  try {
    await navigator.clipboard.writeText(lastJson);
    $("copy").textContent = "Copied";
  } catch (_) {
    $("copy").textContent = "Copy failed";
  }
}

export function showRunning(method) {
  show(undefined, el("p", { class: "placeholder" }, `Running ${method}…`));
}

export function showUnreachable(reason) {
  show(
    undefined,
    el("div", { class: "status err", role: "alert" }, el("strong", {}, "No response")),
    el("p", { class: "message" }, `The service could not be reached (${reason}). Is it running?`),
  );
}

export function showNotationError(src, err) {
  const { line, column } = lineColumn(src, err.position);
  const lineText = src.split("\n")[line - 1];
  show(
    undefined,
    el(
      "div",
      { class: "status err", role: "alert" },
      el("strong", {}, "Notation error"),
      el("span", { class: "meta" }, `line ${line}, column ${column}`),
    ),
    el("p", { class: "message" }, err.message),
    el(
      "pre",
      { class: "snippet", "aria-label": "Where the problem is" },
      lineText,
      "\n",
      el("span", { class: "caret" }, `${" ".repeat(column - 1)}^`),
    ),
    el(
      "p",
      { class: "hint" },
      "The notation: a method name, then comma-separated JSON values in parentheses, " +
        'e.g. Customergroup.get(1, "name").',
    ),
  );
}

const EXPLAIN = {
  1004: "The token is missing, unknown or revoked. Paste a valid token above and save it.",
  1006: "This token's scope does not allow the method; methods that change data need a manage token.",
  "-32601": "No such method. The list on the right shows every method the service has.",
  "-32602":
    "The params are wrong. Each pointer shows where: /0 is the first argument, /1/name the " +
    "name in the second; a patch's problems point into the patch.",
};

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

function isObject(value) {
  return Boolean(value) && typeof value === "object" && !Array.isArray(value);
}

function statusLine(kind, title, meta, message) {
  return el(
    "div",
    { class: `status ${kind}`, role: kind === "ok" ? "status" : "alert" },
    el("strong", {}, title),
    message === undefined ? null : el("span", { class: "message-inline" }, message),
    el("span", { class: "meta" }, meta),
  );
}

// Shows a response from post(); returns its outcome for the history: "ok", an error code, "HTTP n".
export function showOutcome(outcome) {
  const ms = `${outcome.ms < 10 ? outcome.ms.toFixed(1) : Math.round(outcome.ms)} ms`;
  const meta = `${outcome.request.method} · HTTP ${outcome.status} · ${ms}`;
  const body = outcome.body;
  if (isObject(body) && "result" in body) {
    show(body.result, statusLine("ok", "Result", meta), jsonView(body.result, "The result"), rawDetails(outcome, false));
    return "ok";
  }
  if (isObject(body) && isObject(body.error)) {
    const error = body.error;
    const parts = [statusLine("err", `Error ${error.code}`, meta, String(error.message ?? ""))];
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
    show(body, ...parts, rawDetails(outcome, false));
    return error.code;
  }
  show(
    undefined,
    statusLine("err", `HTTP ${outcome.status}`, `${outcome.request.method} · ${ms}`),
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
