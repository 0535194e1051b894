// Calls to the /v1 API with the analyst's bearer token (kept in this tab's sessionStorage only).
const KEY = "lapi.token";

export function token() { return sessionStorage.getItem(KEY); }
export function setToken(value) { sessionStorage.setItem(KEY, value); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function url(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

async function call(path, { params, method = "GET", body, as = "json" } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url(path, params), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    if (response.status === 401) window.dispatchEvent(new CustomEvent("lapi:unauthorized", { detail: message }));
    throw new ApiError(response.status, message);
  }
  return as === "blob" ? response.blob() : response.json();
}

export const api = {
  get: (path, params) => call(path, { params }),
  post: (path, body) => call(path, { method: "POST", body }),
  blob: (path, params) => call(path, { params, as: "blob" }),
};

// The live feed: a browser WebSocket cannot send headers, so the token goes as ?token= (the feeds accept it).
export function feedSocket(after) {
  const u = url("/v1/alerts/ws", { token: token(), after });
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(u);
}
