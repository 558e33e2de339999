// Freshet's public HTTP API (DESIGN.md), as the dashboard calls it. The
// token, when the server wants one, lives in sessionStorage (this tab only)
// and goes in the Authorization header; EventSource cannot set headers, so
// the stream URL carries it as access_token (the API's documented way).

const TOKEN_KEY = "freshet-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// An API error with the server's code and sentence.
export class ApiError extends Error {
  constructor(status, code, message, response) {
    super(message);
    this.status = status;
    this.code = code;
    this.response = response;
  }
}

export async function call(path, { method = "GET", body } = {}) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "unreachable", "Freshet cannot be reached.", null);
  }
  const doc = await res.json().catch(() => null);
  if (!res.ok) {
    const err = doc && doc.error ? doc.error : { code: "http_" + res.status, message: "HTTP " + res.status };
    throw new ApiError(res.status, err.code, err.message, res);
  }
  return { doc, res };
}

// Every record of an object (for one tenant, or all), following cursors, and
// the event id the first page was read at: changes after it are in the stream.
export async function snapshot(object, tenant) {
  const records = [];
  let cursor = "";
  let lastEventId = null;
  for (let pages = 0; pages < 1000; pages++) {
    const q = new URLSearchParams({ limit: "1000" });
    if (tenant) q.set("tenant", tenant);
    if (cursor) q.set("cursor", cursor);
    const { doc } = await call(`/api/objects/${encodeURIComponent(object)}/records?${q}`);
    if (lastEventId === null) lastEventId = doc.last_event_id;
    records.push(...doc.records);
    cursor = doc.next_cursor;
    if (!cursor) break;
  }
  return { records, lastEventId: lastEventId ?? "0" };
}

export function streamUrl(tenant, lastEventId) {
  const url = new URL("/api/events", location.href);
  if (tenant) url.searchParams.set("tenant", tenant);
  if (lastEventId) url.searchParams.set("last_event_id", lastEventId);
  if (token()) url.searchParams.set("access_token", token());
  return url;
}
