// Sending one call to the service: a JSON-RPC 2.0 request over HTTP POST, with the saved token.

export const ENDPOINT = "/backend/jsonrpc/v1/";
export const TIMEOUT_MS = 30000;

let nextId = 1;

// {request, status, body, text, ms}; body is the decoded response, or null when it is not JSON.
// Rejects when the service cannot be reached, or with an AbortError after TIMEOUT_MS.
// `language` ("sv", ...; "" for none) is sent as the language= query parameter.
export async function post(method, params, token, language = "") {
  const request = { jsonrpc: "2.0", method, id: nextId++ };
  if (params.length) request.params = params;
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const started = performance.now();
  try {
    const url = language ? `${ENDPOINT}?language=${encodeURIComponent(language)}` : ENDPOINT;
    const response = await fetch(url, {
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
