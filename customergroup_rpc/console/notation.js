// The call notation (SPEC 11): Method.name(json, json, ...), read as notation.py reads it.
// One scanner finds where each JSON value ends and says where it is wrong; JSON.parse reads it.

export class NotationError extends Error {
  constructor(message, position) {
    super(message);
    this.name = "NotationError";
    this.position = position;
  }
}

const NAME = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const WORD = /[A-Za-z_]\w*/y;
const NOT_A_NUMBER = /-?(?:NaN|Infinity)(?!\w)/y;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

// JSON's whitespace (RFC 8259, section 2), as notation.py skips it.
export function skipSpace(src, i) {
  while (i < src.length && " \t\n\r".includes(src[i])) i += 1;
  return i;
}

function describeChar(ch) {
  return ch === undefined ? "the end of the call" : JSON.stringify(ch);
}

// {line, column} (1-based) of a 0-based offset.
export function lineColumn(src, position) {
  const before = src.slice(0, position).split("\n");
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function where(src, position) {
  const { line, column } = lineColumn(src, position);
  return `line ${line}, column ${column}`;
}

function sticky(pattern, src, i) {
  pattern.lastIndex = i;
  const match = pattern.exec(src);
  return match ? match[0] : null;
}

// Where the JSON value of argument `n` (1-based) starting at `start` ends (exclusive).
// Checks the whole grammar without building anything, so that every problem has its place.
export function scanJson(src, start, n) {
  const fail = (at, why) => {
    throw new NotationError(`Argument ${n} is not valid JSON: ${why}.`, at);
  };
  const open = []; // the containers around `i`: {close, at}
  let i = start;
  for (;;) {
    // A value starts here.
    i = skipSpace(src, i);
    const ch = src[i];
    let closed = true;
    if (ch === "{" || ch === "[") {
      open.push({ close: ch === "{" ? "}" : "]", at: i });
      i = skipSpace(src, i + 1);
      if (src[i] === open[open.length - 1].close) {
        open.pop();
        i += 1;
      } else {
        if (ch === "{") i = member(src, i, fail);
        closed = false;
      }
    } else if (open.length === 0 && i === start && (ch === undefined || ",)]}".includes(ch))) {
      throw new NotationError(`Expected a JSON value, found ${describeChar(ch)}.`, i);
    } else {
      i = scalar(src, i, fail);
    }
    if (!closed) continue;
    // After a value: close the containers that end here, or go on to their next element.
    for (;;) {
      if (open.length === 0) return i;
      const top = open[open.length - 1];
      i = skipSpace(src, i);
      if (src[i] === ",") {
        i = skipSpace(src, i + 1);
        if (top.close === "}") i = member(src, i, fail);
        break;
      }
      if (src[i] !== top.close) {
        const opener = top.close === "}" ? "{" : "[";
        fail(
          i,
          `expected "," or "${top.close}" to close the "${opener}" at ${where(src, top.at)}, ` +
            `found ${describeChar(src[i])}`,
        );
      }
      open.pop();
      i += 1;
    }
  }
}

// A property name and its colon; returns where the property's value starts.
function member(src, i, fail) {
  if (src[i] !== '"') fail(i, `expected a property name in double quotes, found ${describeChar(src[i])}`);
  i = skipSpace(src, string(src, i, fail));
  if (src[i] !== ":") fail(i, `expected ":" after the property name, found ${describeChar(src[i])}`);
  return i + 1;
}

function string(src, start, fail) {
  let i = start + 1;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '"') return i + 1;
    if (ch < " ") fail(i, "a control character in a string must be escaped (\\n, \\t, \\u0000)");
    if (ch !== "\\") {
      i += 1;
    } else if (src[i + 1] !== undefined && '"\\/bfnrt'.includes(src[i + 1])) {
      i += 2;
    } else if (src[i + 1] === "u" && /^[0-9a-fA-F]{4}$/.test(src.slice(i + 2, i + 6))) {
      i += 6;
    } else {
      fail(i, "a bad escape in a string (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\u and four hex digits)");
    }
  }
  return fail(start, "this string is never closed (missing '\"')");
}

function scalar(src, i, fail) {
  if (src[i] === '"') return string(src, i, fail);
  const odd = sticky(NOT_A_NUMBER, src, i);
  if (odd) fail(i, `JSON has no NaN or Infinity (found ${odd})`);
  const word = sticky(WORD, src, i);
  if (word && ["true", "false", "null"].includes(word)) return i + word.length;
  if (word) fail(i, `write ${word} as a string in double quotes ("${word}"), or use true, false or null`);
  if (src[i] === "'") fail(i, "strings take double quotes: \"name\", not 'name'");
  const number = sticky(NUMBER, src, i);
  if (!number) fail(i, `expected a JSON value, found ${describeChar(src[i])}`);
  return i + number.length;
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

function parseValue(src, start, n) {
  const end = scanJson(src, start, n);
  try {
    return { value: JSON.parse(src.slice(start, end), exactNumbers), end };
  } catch (err) {
    // The scanner accepted the text, so this is a number (or a nesting) JavaScript cannot carry.
    throw new NotationError(`Argument ${n} cannot be sent: ${err.message}.`, start);
  }
}

// {method, params} from 'Customergroup.get(1, "name")'; throws NotationError with a position.
export function parseCall(src) {
  let i = skipSpace(src, 0);
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
      const parsed = parseValue(src, i, params.length + 1);
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
    throw new NotationError(`Unexpected ${describeChar(src[i])} after the call; run one call at a time.`, i);
  }
  return { method, params };
}

// A compact JSON rendering of a value, for templates, history and questions.
export function compact(value) {
  if (Array.isArray(value)) return `[${value.map(compact).join(", ")}]`;
  if (value && typeof value === "object") {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compact(v)}`).join(", ")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export function formatCall(method, params) {
  return `${method}(${params.map(compact).join(", ")})`;
}
