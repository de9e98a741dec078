// The language of the service's answers (SPEC 12): sent as language= with every call, kept in
// this browser. "Automatic" sends none, so the browser's Accept-Language and the shop decide.
// The console's own words stay English; what the service says (messages, getSchema's texts)
// comes in the language chosen.

import { $ } from "./render.js";
import { read, write } from "./storage.js";

const LANGUAGE_KEY = "customergroup-rpc.console.language";
// The languages the service has (ISO 639-1): the <select> in index.html lists the same.
export const LANGUAGES = ["da", "en", "nb", "sv"];

// "" (automatic) or one of LANGUAGES.
export function currentLanguage() {
  const saved = read(LANGUAGE_KEY) || "";
  return LANGUAGES.includes(saved) ? saved : "";
}

// Wires the switch; `onChange(code)` runs after a new choice is saved.
export function startLanguage(onChange) {
  const select = $("language");
  select.value = currentLanguage();
  select.addEventListener("change", () => {
    write(LANGUAGE_KEY, select.value || null);
    onChange(currentLanguage());
  });
}
