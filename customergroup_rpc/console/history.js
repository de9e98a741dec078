// Earlier calls, newest first, kept in this browser; a click puts one back in the editor.

import { $, el } from "./render.js";
import { read, write } from "./storage.js";

const HISTORY_KEY = "customergroup-rpc.console.history";
const HISTORY_LIMIT = 50;

let pick = () => {};

function load() {
  try {
    const items = JSON.parse(read(HISTORY_KEY) || "[]");
    return Array.isArray(items) ? items.filter((item) => item && typeof item.call === "string") : [];
  } catch (_) {
    return [];
  }
}

function item({ call, outcome, at }) {
  const ok = outcome === "ok";
  const time = at ? new Date(at) : null;
  return el(
    "li",
    {},
    el(
      "button",
      {
        type: "button",
        class: "history-item",
        title: time && !Number.isNaN(time.getTime()) ? `Run at ${time.toLocaleString()}` : undefined,
        onclick: () => pick(call),
      },
      el("span", { class: `badge ${ok ? "ok" : "err"}` }, ok ? "ok" : String(outcome)),
      el("code", {}, call),
    ),
  );
}

function render() {
  const items = load();
  $("history").replaceChildren(...items.map(item));
  $("history-empty").hidden = items.length > 0;
  $("history-clear").disabled = items.length === 0;
}

// Puts `call` first (once) with how it went: "ok", an error code or "HTTP n".
export function remember(call, outcome) {
  const items = load().filter((earlier) => earlier.call !== call);
  items.unshift({ call, outcome, at: new Date().toISOString() });
  write(HISTORY_KEY, JSON.stringify(items.slice(0, HISTORY_LIMIT)));
  render();
}

// Shows the history; `onPick(call)` runs when one is clicked.
export function startHistory(onPick) {
  pick = onPick;
  $("history-clear").addEventListener("click", () => {
    write(HISTORY_KEY, null);
    render();
  });
  render();
}
