// The live change feed: a WebSocket on the endpoint that calls Customergroup.subscribe and shows
// each Customergroup.changed notification as it comes, newest first. The token goes as the
// auth query parameter (a browser cannot set headers on a WebSocket); the access log redacts it.

import { $, el } from "./render.js";
import { currentToken } from "./token.js";
import { ENDPOINT } from "./transport.js";

const SHOWN = 200; // events kept on the page
const BACKLOG = 20; // events before now shown when following starts

let socket = null;

function socketUrl(token) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${ENDPOINT}?auth=${encodeURIComponent(token)}`;
}

function status(text) {
  $("feed-status").textContent = text;
}

// One line of an event: what happened, to which group, by which token, when.
export function describe(event) {
  const who = event.token ? `token ${event.token.id}` : "unknown token";
  const what = {
    created: () => `created “${event.name}”`,
    renamed: () => `renamed “${event.oldName}” → “${event.name}”`,
    deleted: () => `deleted “${event.name}”`,
    customersAdded: () => `added ${customers(event)}`,
    customersRemoved: () => `removed ${customers(event)}`,
    customersMoved: () => `moved ${customers(event)} to group ${event.toUid}`,
  }[event.type];
  const text = what ? what() : event.type;
  return `#${event.position} group ${event.uid} ${text} (v${event.version}) by ${who} at ${event.at}`;
}

function customers(event) {
  if (!event.customers) return `${event.count} customers`;
  const shown = event.customers.slice(0, 10).join(", ");
  return `customer${event.count === 1 ? "" : "s"} ${shown}${event.count > 10 ? ", …" : ""}`;
}

function show(event) {
  const list = $("feed");
  list.prepend(el("li", { class: `feed-item feed-${event.type}` }, describe(event)));
  while (list.children.length > SHOWN) list.lastElementChild.remove();
  $("feed-empty").hidden = true;
}

function send(message) {
  socket.send(JSON.stringify({ jsonrpc: "2.0", ...message }));
}

function onMessage(raw) {
  let message;
  try {
    message = JSON.parse(raw.data);
  } catch (_) {
    return;
  }
  if (message.method === "Customergroup.changed") show(message.params);
  else if (message.method === "Customergroup.unsubscribed") stop(`Stopped: ${message.params.error.message}.`);
  else if (message.id === "head" && message.result) {
    send({ method: "Customergroup.subscribe", params: [Math.max(0, message.result.last - BACKLOG)], id: "follow" });
  } else if (message.id === "follow" && message.result) status(`Following (from position ${message.result.since}).`);
  else if (message.error) stop(`Stopped: ${message.error.message} (${message.error.code}).`);
}

function follow() {
  const token = currentToken();
  if (!token) {
    status("Save a token first.");
    return;
  }
  socket = new WebSocket(socketUrl(token));
  $("feed-toggle").textContent = "Stop";
  status("Connecting…");
  socket.addEventListener("open", () => send({ method: "Customergroup.changes", params: [null, 0], id: "head" }));
  socket.addEventListener("message", onMessage);
  socket.addEventListener("close", () => {
    if (socket) stop("The connection closed.");
  });
}

function stop(reason) {
  const open = socket;
  socket = null;
  if (open) open.close();
  $("feed-toggle").textContent = "Follow";
  status(reason);
}

export function startFeed() {
  $("feed-toggle").addEventListener("click", () => (socket ? stop("Stopped.") : follow()));
}
