// The API console (SPEC 11): the page's entry module, which wires the editor to the others.
// Plain ES modules from this service, no build step:
//   notation.js  reading Method.name(json, ...)      transport.js  POST to the endpoint
//   render.js    elements and the response panel     confirm.js    asking before deletes
//   token.js     the saved token                     history.js    earlier calls
//   reference.js methods from rpc.discover,          storage.js    localStorage, quietly
//                the object from getSchema           language.js   the language of answers
//   feed.js      the live change feed over a WebSocket

import { askFirst, questionFor } from "./confirm.js";
import { startFeed } from "./feed.js";
import { remember, startHistory } from "./history.js";
import { currentLanguage, startLanguage } from "./language.js";
import { NotationError, parseCall } from "./notation.js";
import { showObject, startReference } from "./reference.js";
import { $, copyShown, showNotationError, showOutcome, showRunning, showUnreachable } from "./render.js";
import { currentToken, startToken } from "./token.js";
import { post, TIMEOUT_MS } from "./transport.js";

const EMPTY_HINT = 'Type a call first, for example Customergroup.list(["uid", "name"]), or pick a method on the right.';

let running = false;

// Puts `text` in the editor, selecting [from, to] (a template's params) or placing the caret last.
function useCall(text, select) {
  const editor = $("call");
  editor.value = text;
  editor.focus();
  if (select) editor.setSelectionRange(select[0], select[1]);
  else editor.setSelectionRange(text.length, text.length);
}

function busy(state, text) {
  running = state;
  $("run").disabled = state;
  $("run-state").textContent = text;
  if (state) $("response").setAttribute("aria-busy", "true");
  else $("response").removeAttribute("aria-busy");
}

// Reads the editor's call, asks first when it deletes or removes, sends it, shows the answer.
async function run() {
  if (running) return;
  const src = $("call").value;
  if (!src.trim()) {
    $("run-state").textContent = EMPTY_HINT;
    return;
  }
  let call;
  try {
    call = parseCall(src);
  } catch (err) {
    if (!(err instanceof NotationError)) throw err;
    $("run-state").textContent = "";
    showNotationError(src, err);
    return;
  }
  const question = questionFor(call);
  if (question) {
    running = true;
    const yes = await askFirst(call, question);
    running = false;
    if (!yes) {
      $("run-state").textContent = "Not run: cancelled.";
      $("call").focus();
      return;
    }
  }
  busy(true, "Running…");
  showRunning(call.method);
  try {
    const language = currentLanguage();
    const outcome = await post(call.method, call.params, currentToken(), language);
    remember(src.trim(), showOutcome(outcome));
    $("response").lang = language;  // what the service said is in that language
  } catch (err) {
    const timedOut = err && err.name === "AbortError";
    showUnreachable(timedOut ? `no answer in ${TIMEOUT_MS / 1000} seconds` : String(err && err.message));
  } finally {
    busy(false, "");
  }
}

function start() {
  startToken();
  // A new token may read getSchema where none could; a new language words it anew.
  $("token-form").addEventListener("submit", () => showObject());
  $("token-forget").addEventListener("click", () => showObject());
  startLanguage(() => showObject());
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
  $("copy").addEventListener("click", copyShown);
  $("openrpc-show").addEventListener("click", (event) => {
    event.preventDefault();
    useCall("rpc.discover()");
    run();
  });
  startHistory((call) => useCall(call));
  startReference(useCall);
  startFeed();
}

// Module scripts run after the document is parsed.
start();
