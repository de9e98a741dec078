// The method reference, built from the OpenRPC document that rpc.discover returns (English),
// and the customer group's fields with getSchema's titles and descriptions, in the language
// chosen (language.js).

import { currentLanguage } from "./language.js";
import { formatCall } from "./notation.js";
import { $, el } from "./render.js";
import { currentToken } from "./token.js";
import { post } from "./transport.js";

let pick = () => {};
let downloadUrl = null;
let discovered = null; // the last OpenRPC document
let objectShown = 0; // counts showObject calls, so only the latest one draws

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
  // ifVersion (the optional last param of the writes) stays out: templates show the
  // documented forms, which work without it.
  const shown = params.filter((p) => p.name !== "ifVersion");
  return formatCall(method.name, shown.map((p) => exampleFor(doc, p)));
}

function signature(params) {
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

function details(doc, method, params) {
  const result = resolve(doc, method.result);
  // The description often repeats the summary first; show only what it adds.
  let description = typeof method.description === "string" ? method.description : "";
  if (method.summary && description.startsWith(method.summary)) {
    description = description.slice(method.summary.length).trim();
  }
  return el(
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
}

function methodEntry(doc, method) {
  const params = (method.params || []).map((p) => resolve(doc, p));
  const tags = (method.tags || []).map((t) => resolve(doc, t)).map((t) => (t && t.name) || String(t));
  const scope = method["x-scope"] || method.scope;
  if (scope && !tags.includes(scope)) tags.unshift(scope);
  const shortName = method.name.replace(/^Customergroup\./, "");
  const prefix = method.name.slice(0, method.name.length - shortName.length);
  const template = () => {
    const text = templateFor(doc, method);
    pick(text, [text.indexOf("(") + 1, text.length - 1]);
  };
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
          onclick: template,
        },
        prefix ? el("span", { class: "ns" }, prefix) : null,
        el("span", { class: "short" }, shortName),
        signature(params),
      ),
      tags.map((t) =>
        el("span", { class: `badge tag tag-${String(t).replace(/\W/g, "")}`, title: SCOPES[t] }, t),
      ),
    ),
    method.summary ? el("p", { class: "summary" }, method.summary) : null,
    details(doc, method, params),
  );
}

function render(doc) {
  const methods = (Array.isArray(doc.methods) ? doc.methods : [])
    .map((m) => resolve(doc, m))
    .filter((m) => m && typeof m.name === "string");
  if (!methods.length) {
    fallback("The OpenRPC document lists no methods.");
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
  filter();
}

function fallback(reason) {
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
      discovered = body.result;
      render(body.result);
    } else if (body && body.error) {
      const { code, message } = body.error;
      fallback(`rpc.discover answered ${code}${message ? ` ${message}` : ""}.`);
    } else {
      fallback(`rpc.discover answered HTTP ${outcome.status} without a JSON-RPC result.`);
    }
  } catch (err) {
    fallback(`The service could not be reached (${err && err.message}).`);
  }
}

function filter() {
  const words = $("reference-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  for (const entry of document.querySelectorAll("#method-list > li")) {
    const text = entry.textContent.toLowerCase();
    entry.hidden = !words.every((w) => text.includes(w));
  }
}

// The object's fields, folded under its title (getSchema's words), so the methods stay in view.
function objectView(schema, note, open) {
  const properties = schema.properties && typeof schema.properties === "object" ? schema.properties : {};
  return el(
    "details",
    { class: "object", open },
    el("summary", {}, el("span", { id: "object-title" }, schema.title || "Customer group"), " · fields"),
    typeof schema.description === "string" ? el("p", { class: "hint" }, schema.description) : null,
    el(
      "dl",
      { class: "params fields" },
      Object.entries(properties).map(([name, p]) => [
        el(
          "dt",
          { "data-property": name },
          el("code", {}, name),
          " ",
          el("span", { class: "field-title" }, (p && p.title) || ""),
          p && p.readOnly ? el("span", { class: "opt" }, " read-only") : "",
        ),
        el("dd", {}, (p && p.description) || "—"),
      ]),
    ),
    note ? el("p", { class: "hint" }, note) : null,
  );
}

// Shows the customer group's fields as getSchema words them in the language chosen; where
// getSchema cannot be read (no token), the OpenRPC document's schema, in English.
export async function showObject() {
  const shown = ++objectShown;
  const language = currentLanguage();
  let schema = null;
  try {
    const outcome = await post("Customergroup.getSchema", [null], currentToken() || null, language);
    const body = outcome.body;
    if (body && body.result && typeof body.result === "object") schema = body.result;
  } catch (_) {
    schema = null; // unreachable: the English schema below, if discovery had it
  }
  if (shown !== objectShown) return; // a newer language or token is being shown
  const box = $("object-reference");
  const folded = box.querySelector("details");
  const open = Boolean(folded && folded.open); // as the reader left it
  if (schema) {
    box.lang = language;
    box.replaceChildren(objectView(schema, "", open));
    return;
  }
  const schemas = discovered && discovered.components && discovered.components.schemas;
  const group = schemas && schemas.Customergroup;
  if (!group || typeof group !== "object") {
    box.replaceChildren();
    return;
  }
  const note = language && language !== "en" ? "In English: save a token to see these texts in the language chosen." : "";
  box.lang = "en";
  box.replaceChildren(objectView(group, note, open));
}

// Loads and shows the reference; `onPick(text, [from, to])` puts a template in the editor.
export function startReference(onPick) {
  pick = onPick;
  $("reference-filter").addEventListener("input", filter);
  discover().then(showObject);
}
