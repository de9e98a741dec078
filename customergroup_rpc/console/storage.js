// The browser's localStorage, where the token and the history live; quiet when it is refused
// (private windows, storage disabled), so the console still works for this visit.

export function read(key) {
  try {
    return window.localStorage.getItem(key);
  } catch (_) {
    return null;
  }
}

// Stores `value` under `key`, or removes the key when `value` is null; false when refused.
export function write(key, value) {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
    return true;
  } catch (_) {
    return false;
  }
}
