// The API token: pasted once, kept in this browser, sent as a Bearer header with every call.

import { $ } from "./render.js";
import { read, write } from "./storage.js";

const TOKEN_KEY = "customergroup-rpc.console.token";

export function currentToken() {
  return read(TOKEN_KEY) || "";
}

function status(text, kind) {
  $("token-status").textContent = text;
  $("token-status").className = `token-status ${kind}`;
}

function showStatus() {
  const token = currentToken();
  if (token) {
    const tail = token.length > 8 ? `…${token.slice(-4)}` : "";
    status(tail ? `Token ${tail} saved in this browser` : "Token saved in this browser", "ok");
  } else {
    status("No token: calls answer 1004 Bad auth token.", "warn");
  }
  $("token-forget").disabled = !token;
}

function save() {
  const token = $("token").value.trim();
  $("token").value = token;
  if (/[^\x21-\x7e]/.test(token)) {
    // It could not be sent in an Authorization header; tokens are printable ASCII.
    status("Not saved: a token has no spaces or characters beyond ASCII.", "warn");
    return;
  }
  write(TOKEN_KEY, token || null);
  showStatus();
}

function forget() {
  write(TOKEN_KEY, null);
  $("token").value = "";
  showStatus();
  $("token").focus();
}

export function startToken() {
  $("token").value = currentToken();
  showStatus();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  $("token").addEventListener("change", save);
  $("token-forget").addEventListener("click", forget);
}
