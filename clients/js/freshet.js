// Freshet's JavaScript client: a live, gapless copy of an object's records
// (the snapshot, then every change after it, exactly once and in order),
// for browsers and for Node 20. No runtime dependencies; one ES module.
//
//   import { connect } from "freshet";   // or "https://freshet.example.org/freshet.js"
//   const live = connect({ url, token, object: "laptops", tenant: "hennepin" });
//   live.addEventListener("change", () => render(live.records));
//
// The built-in dashboard is written on this module (`Client`, `RecordSet`,
// `Stream`), so there is one implementation of the snapshot-plus-stream rule.

// ---- errors ----

// An answer of Freshet's that is not a success: the HTTP status and the
// API's `error.code` and sentence (status 0, code "unreachable" when no
// answer came at all).
export class FreshetError extends Error {
  constructor(status, code, message, response = null) {
    super(message);
    this.name = "FreshetError";
    this.status = status;
    this.code = code;
    this.response = response;
  }
}

// A refusal that waiting will not cure (a 4xx other than 429).
function permanent(e) {
  return e instanceof FreshetError && e.status >= 400 && e.status < 500 && e.status !== 429;
}

// ---- event ids ----

// Event ids are strictly increasing within a deployment. They are opaque to
// pages, but this client compares them to tell whether a snapshot page
// already includes a change: decimal ids ("1234") and stream ids
// ("1700000000000-3") compare by their numeric parts. Null when either id is
// of another form: the caller then applies the change (each change carries
// the whole record, so the result is the same, only not de-duplicated).
export function compareIds(a, b) {
  const pa = idParts(a), pb = idParts(b);
  if (!pa || !pb) return null;
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0n, y = pb[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function idParts(id) {
  if (typeof id !== "string" || !/^\d+(-\d+)?$/.test(id)) return null;
  return id.split("-").map((p) => BigInt(p));
}

// ---- tokens ----

// The payload of a JSON Web Token, or null for any other token.
function jwtClaims(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(globalThis.atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)));
  } catch {
    return null;
  }
}

// When a token should be renewed: a minute before its `exp`, or, for a
// token with less than five minutes to live, at 80% of what is left; null
// for a token with no `exp` (a configured token).
export function renewalDelayMs(token, nowMs = Date.now()) {
  const exp = jwtClaims(token)?.exp;
  if (typeof exp !== "number") return null;
  const left = exp * 1000 - nowMs;
  return Math.max(0, left - 60000, left * 0.8);
}

// ---- backoff ----

// Jittered exponential backoff: attempt n waits between half and all of
// min(cap, base * 2^n), so tabs that lost the same server do not come back
// in the same millisecond.
export function backoffMs(attempt, { baseMs = 500, capMs = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function asList(v) {
  if (v === undefined || v === null || v === "") return [];
  return Array.isArray(v) ? v : [v];
}

// ---- the HTTP API ----

export class Client {
  // url: Freshet's origin ("https://freshet.example.org"; default: this page's).
  // token: a string, or a function (sync or async) that returns a fresh one;
  //   a function is called again before a JWT's `exp` and after a 401.
  // transport: "auto" (EventSource where there is one, else fetch streaming),
  //   "eventsource" (token in the stream URL), or "fetch" (token in a header).
  constructor({ url, token = "", transport = "auto", fetch: fetchFn } = {}) {
    const base = url ?? globalThis.location?.origin;
    if (!base) throw new TypeError("freshet: `url` is needed outside a browser page.");
    this.url = String(base).replace(/\/+$/, "");
    this.tokenSource = token;
    this.current = typeof token === "function" ? null : token;
    this.transport = transport;
    this.fetch = fetchFn ?? globalThis.fetch.bind(globalThis);
    this.renewals = new Set();  // callbacks told when a fresh token arrives
    this.renewTimer = null;
  }

  // The token to send now ("" for none), asking the token function once.
  async token() {
    if (this.current === null) await this.renewToken();
    return this.current || "";
  }

  // Sets a new token (a string) or token function; open streams reconnect with it.
  setToken(token) {
    this.tokenSource = token;
    this.current = typeof token === "function" ? null : token;
    for (const cb of this.renewals) cb();
  }

  // Asks the token function for a fresh token (a string token cannot renew).
  async renewToken() {
    if (typeof this.tokenSource !== "function") return false;
    const fresh = (await this.tokenSource()) || "";
    const changed = fresh !== this.current;
    const first = this.current === null;
    this.current = fresh;
    this.scheduleRenewal();
    if (changed && !first) for (const cb of this.renewals) cb();
    return true;
  }

  scheduleRenewal() {
    clearTimeout(this.renewTimer);
    const delay = renewalDelayMs(this.current);
    if (delay === null) return;
    this.renewTimer = setTimeout(() => this.renewToken().catch(() => {}), delay);
    this.renewTimer.unref?.();  // Node: a pending renewal does not keep the process alive
  }

  close() {
    clearTimeout(this.renewTimer);
    this.renewals.clear();
  }

  // One API call: {doc, response}, or a FreshetError. A 401 with a
  // renewable token is tried once more with a fresh one.
  async request(path, { method = "GET", body, headers = {}, signal } = {}) {
    for (let attempt = 0; ; attempt++) {
      const token = await this.token();
      const h = { ...headers };
      if (token) h.Authorization = "Bearer " + token;
      if (body !== undefined) h["Content-Type"] = "application/json";
      let res;
      try {
        res = await this.fetch(this.url + path, {
          method, headers: h, signal, body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (e) {
        if (e?.name === "AbortError") throw e;
        throw new FreshetError(0, "unreachable", `Freshet at ${this.url} cannot be reached.`);
      }
      const doc = method === "HEAD" || res.status === 204 ? null : await res.json().catch(() => null);
      if (res.ok) return { doc, response: res };
      if (res.status === 401 && attempt === 0 && (await this.renewToken())) continue;
      const err = doc?.error ?? { code: "http_" + res.status, message: `HTTP ${res.status} from ${path}.` };
      throw new FreshetError(res.status, err.code, err.message, res);
    }
  }

  async get(path, opts) {
    return (await this.request(path, opts)).doc;
  }

  // Every record of `object` (for `tenant`: a name, an array, or all the
  // token may see), following the cursor across pages. Each page is read at
  // its own log position: `versions` maps a record id to the event id its
  // page was read at, and `lastEventId` is the first page's, the point to
  // subscribe from.
  async snapshot(object, { tenant, pageSize = 1000, signal } = {}) {
    const records = [], versions = new Map();
    let cursor = "", lastEventId = null;
    for (;;) {
      const q = new URLSearchParams({ limit: String(pageSize) });
      for (const t of asList(tenant)) q.append("tenant", t);
      if (cursor) q.set("cursor", cursor);
      const doc = await this.get(`/api/objects/${encodeURIComponent(object)}/records?${q}`, { signal });
      lastEventId ??= doc.last_event_id;
      for (const r of doc.records) {
        records.push(r);
        versions.set(r.id, doc.last_event_id);
      }
      cursor = doc.next_cursor;
      if (!cursor) break;
    }
    return { records, versions, lastEventId };
  }

  // Starts a refresh of one tenant: {job_id, joined} (joined: one was running).
  refresh(tenant) {
    return this.get("/api/refresh", { method: "POST", body: { tenant } });
  }

  job(id) {
    return this.get(`/api/jobs/${encodeURIComponent(id)}`);
  }

  // A live event stream (see Stream).
  stream(options) {
    return new Stream(this, options);
  }
}

// ---- the event stream ----

export const EVENT_TYPES = ["change", "job", "metric", "message", "reset"];

// One subscription to /api/events that stays up: it reconnects with
// jittered backoff and resumes right after the last event it delivered, so
// its listener sees every event once and in order across server restarts,
// network loss and token renewals. A `reset` is delivered like any event;
// what to do about it (reload the snapshot) is the caller's.
//
// onEvent(type, event, id); onStatus(status, detail) with status one of
// "connecting", "live", "reconnecting", "offline" (offline: the server
// refused the subscription for good, e.g. 403; detail is the FreshetError).
export class Stream {
  constructor(client, { objects, tenants, since = null, onEvent, onStatus = () => {}, random } = {}) {
    this.client = client;
    this.objects = asList(objects);
    this.tenants = asList(tenants);
    this.lastEventId = since;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.random = random;
    this.failures = 0;
    this.closed = false;
    this.conn = null;   // {close()} of the current connection
    this.timer = null;
    this.status = null;
    this.onRenewal = () => this.reopen();  // a fresh token: reconnect with it, from where we are
    client.renewals.add(this.onRenewal);
    this.open("connecting");
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.client.renewals.delete(this.onRenewal);
    this.conn?.close();
    this.conn = null;
  }

  // Drops the connection and opens the next one at once, resuming.
  reopen() {
    if (this.closed) return;
    this.conn?.close();
    this.conn = null;
    clearTimeout(this.timer);
    this.open(this.status === "live" ? "live" : "connecting");
  }

  setStatus(s, detail) {
    this.status = s;
    this.onStatus(s, detail);
  }

  path(token) {
    const q = new URLSearchParams();
    for (const o of this.objects) q.append("object", o);
    for (const t of this.tenants) q.append("tenant", t);
    if (this.lastEventId) q.set("last_event_id", this.lastEventId);
    if (token) q.set("access_token", token);
    const s = q.toString();
    return `/api/events${s ? "?" + s : ""}`;
  }

  deliver(type, data, id) {
    if (this.closed) return;
    if (id) this.lastEventId = id;
    let ev;
    try {
      ev = JSON.parse(data);
    } catch {
      return;  // not ours to judge; the next event goes on
    }
    this.onEvent(type, ev, id);
  }

  async open(status) {
    if (this.closed) return;
    if (status !== "live") this.setStatus(status);
    const marker = {};
    this.conn = { close() {}, marker };  // a connection is being opened: nothing else opens one
    let token;
    try {
      token = await this.client.token();
    } catch (e) {
      this.conn = null;
      return this.retry(e);
    }
    if (this.closed || this.conn?.marker !== marker) return;
    const useEventSource = this.client.transport === "eventsource" ||
      (this.client.transport === "auto" && typeof globalThis.EventSource === "function");
    this.conn = useEventSource ? this.openEventSource(token) : this.openFetch(token);
  }

  opened() {
    this.failures = 0;
    if (this.status !== "live") this.setStatus("live");
  }

  // A refusal that waiting will not cure ends the stream; anything else is retried.
  async failed(conn, error) {
    if (this.closed || this.conn !== conn) return;
    conn.close();
    this.conn = null;
    if (error?.status === 401 && (await this.client.renewToken().catch(() => false))) return this.open("reconnecting");
    if (permanent(error)) return this.setStatus("offline", error);
    this.retry(error);
  }

  retry(error) {
    if (this.closed) return;
    const offline = globalThis.navigator?.onLine === false;
    const delay = backoffMs(this.failures++, { random: this.random });
    this.setStatus(offline ? "offline" : "reconnecting", error ?? `retrying in ${Math.round(delay / 100) / 10} s`);
    this.timer = setTimeout(() => this.open("reconnecting"), delay);
  }

  // Browsers: EventSource, the token as access_token (it cannot send headers).
  openEventSource(token) {
    const es = new globalThis.EventSource(this.client.url + this.path(token));
    const conn = { close: () => es.close() };
    es.onopen = () => this.conn === conn && this.opened();
    // EventSource retries by itself only for some failures and gives up on
    // others; take over every time. It cannot see the status, so a probe
    // (HEAD, the token in a header) tells a refusal from an outage.
    es.onerror = async () => {
      if (this.conn !== conn) return;
      es.close();
      let refusal = null;
      try {
        await this.client.request(this.path(""), { method: "HEAD" });
      } catch (e) {
        if (e instanceof FreshetError && e.status) refusal = e;
      }
      this.failed(conn, refusal);
    };
    for (const type of EVENT_TYPES)
      es.addEventListener(type, (e) => this.conn === conn && this.deliver(type, e.data, e.lastEventId));
    return conn;
  }

  // Node, or a browser told to keep the token out of URLs: fetch, reading
  // the text/event-stream body as it comes.
  openFetch(token) {
    const abort = new AbortController();
    const conn = { close: () => abort.abort() };
    const headers = { Accept: "text/event-stream" };
    if (token) headers.Authorization = "Bearer " + token;
    (async () => {
      const res = await this.client.fetch(this.client.url + this.path(""), { headers, signal: abort.signal });
      if (!res.ok) {
        const doc = await res.json().catch(() => null);
        const err = doc?.error ?? { code: "http_" + res.status, message: `HTTP ${res.status} from /api/events.` };
        throw new FreshetError(res.status, err.code, err.message, res);
      }
      if (this.conn !== conn) return;
      this.opened();
      await readEventStream(res.body, (type, data, id) => this.conn === conn && this.deliver(type, data, id));
      throw new FreshetError(0, "stream_ended", "The server closed the stream.");
    })().catch((e) => {
      if (abort.signal.aborted) return;
      this.failed(conn, e instanceof FreshetError && e.status ? e : null);
    });
    return conn;
  }
}

// Reads a text/event-stream body (a web ReadableStream of bytes), calling
// onEvent(type, data, id) per dispatched event, as the EventSource standard
// parses it: `event:`, `data:` (joined by newlines), `id:`, comments ignored.
export async function readEventStream(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "", type = "", data = [], id = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      if (buf[nl] === "\r" && nl + 1 === buf.length) break;  // a \r\n may be split across chunks
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
      if (line === "") {
        if (data.length) onEvent(type || "message", data.join("\n"), id);
        type = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  }
}

// ---- records kept in step ----

// An object's records as a Map, kept in step by change events. Each record
// remembers the event id its snapshot page was read at; a change at or
// before it is already in the record and is skipped, so nothing is applied
// twice even though later pages were read after the first page's position.
export class RecordSet {
  constructor(snapshot) {
    this.records = new Map();
    this.versions = new Map();
    this.moved = new Map();  // id -> {to, record}: a move's departure, until its arrival
    if (snapshot) this.load(snapshot);
  }

  load({ records = [], versions = new Map() } = {}) {
    this.records.clear();
    this.moved.clear();
    this.versions = new Map(versions);
    for (const r of records) this.records.set(r.id, r);
  }

  // Applies a change event; returns {record, previous} when it changed the
  // Map, or null when the snapshot already held it.
  apply(ev) {
    const id = ev.record_id;
    const readAt = this.versions.get(id);
    if (readAt !== undefined) {
      const order = compareIds(ev.id, readAt);
      if (order !== null && order <= 0) return null;
      this.versions.delete(id);  // from here on the stream is this record's truth
    }
    // A record that moves to another tenant leaves with a `deleted` (with
    // `moved_to`) and arrives with the `updated` right behind it; where a view
    // follows both tenants, the update's `previous` is the record that left.
    // (A view that does not follow the destination never sees the arrival:
    // the departure is then kept only until this record's next change.)
    const away = this.moved.get(id);
    this.moved.delete(id);
    const arrived = away && (away.to ?? null) === (ev.tenant ?? null);
    const previous = this.records.get(id) ?? (arrived ? away.record : null);
    if (ev.op === "deleted") {
      if (!this.records.has(id)) return null;
      this.records.delete(id);
      if (ev.moved_to !== undefined) this.moved.set(id, { to: ev.moved_to, record: previous });
      return { record: null, previous };
    }
    this.records.set(id, ev.record);
    return { record: ev.record, previous };
  }
}

// ---- connect: one object, live ----

// A live view of one object's records (for a tenant, several, or all the
// token may see). An EventTarget:
//   "status"   detail: {status, error}  connecting | live | reconnecting | offline
//   "snapshot" detail: {records}        the records loaded (again, after a reset)
//   "change"   detail: {event, record, previous}  one change, applied to live.records
//   "job", "metric", "message"  detail: the event
//   "reset"    detail: the event; the snapshot is reloaded next
//   "error"    detail: a FreshetError that stopped it (e.g. 403 forbidden_tenant)
export class Live extends EventTarget {
  constructor({ object, tenant, pageSize, random, client, ...clientOptions } = {}) {
    super();
    if (!object) throw new TypeError("freshet.connect: `object` is required.");
    this.object = object;
    this.tenants = asList(tenant);
    this.pageSize = pageSize;
    this.random = random;
    this.ownsClient = !client;
    this.client = client ?? new Client(clientOptions);
    this.set = new RecordSet();
    this.status = "connecting";
    this.lastEventId = null;
    this.stream = null;
    this.closed = false;
    this.ready = this.load();
  }

  get records() {
    return this.set.records;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // The snapshot (every page), then the stream from its position; a failed
  // load is retried with backoff unless the server refused it for good.
  async load() {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        this.setStatus(attempt ? "reconnecting" : "connecting");
        const snap = await this.client.snapshot(this.object, { tenant: this.tenants, pageSize: this.pageSize });
        if (this.closed) return;
        this.set.load(snap);
        this.lastEventId = snap.lastEventId;
        this.emit("snapshot", { records: this.records });
        this.subscribe(snap.lastEventId);
        return;
      } catch (e) {
        if (permanent(e)) {
          this.setStatus("offline", e);
          this.emit("error", e);
          return;
        }
        await new Promise((r) => setTimeout(r, backoffMs(attempt, { random: this.random })));
      }
    }
  }

  subscribe(since) {
    this.stream?.close();
    this.stream = this.client.stream({
      objects: [this.object],
      tenants: this.tenants,
      since,
      random: this.random,
      onStatus: (s, detail) => {
        this.setStatus(s, detail);
        if (s === "offline" && permanent(detail)) this.emit("error", detail);
      },
      onEvent: (type, ev, id) => this.onEvent(type, ev, id),
    });
  }

  onEvent(type, ev, id) {
    if (id) this.lastEventId = id;
    if (type === "change") {
      if (ev.object !== this.object) return;
      const applied = this.set.apply(ev);
      if (applied) this.emit("change", { event: ev, ...applied });
    } else if (type === "reset") {
      // The resume point is older than the server keeps: start over.
      this.stream?.close();
      this.stream = null;
      this.emit("reset", ev);
      this.ready = this.load();
    } else {
      this.emit(type, ev);
    }
  }

  setStatus(status, error) {
    if (status === this.status && !error) return;
    this.status = status;
    this.emit("status", { status, error: error instanceof Error ? error : undefined });
  }

  // Starts (or joins) a refresh of one tenant (default: the one this view
  // follows) and resolves with the finished job; onProgress(job) is called
  // with each `job` event of it. Rejects with a FreshetError
  // (refresh_cooldown, whose err.response has Retry-After; forbidden_tenant).
  async refresh({ tenant, onProgress = () => {} } = {}) {
    const t = tenant ?? (this.tenants.length === 1 ? this.tenants[0] : null);
    if (!t) throw new TypeError("live.refresh: name the tenant to refresh.");
    // Job events can overtake the POST's answer: kept until the id is known.
    let jobId = null, finish, poll;
    const early = [];
    const done = new Promise((resolve) => (finish = resolve));
    const stop = () => {
      this.removeEventListener("job", listener);
      clearInterval(poll);
    };
    const onJob = (job) => {
      if (jobId === null) return void early.push(job);
      if (job.job_id !== jobId) return;
      onProgress(job);
      if (job.status === "running") return;
      stop();
      finish(job);
    };
    const listener = (e) => onJob(e.detail);
    this.addEventListener("job", listener);
    try {
      jobId = (await this.client.refresh(t)).job_id;
    } catch (e) {
      stop();
      throw e;
    }
    // The stream may be reconnecting: a slow poll finishes the job anyway.
    poll = setInterval(() => this.client.job(jobId).then(onJob, () => {}), 2000);
    for (const job of early.splice(0)) onJob(job);
    return done;
  }

  close() {
    this.closed = true;
    this.stream?.close();
    if (this.ownsClient) this.client.close();
  }
}

export function connect(options) {
  return new Live(options);
}
