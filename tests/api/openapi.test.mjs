// The API reference held to the running server: docs/openapi.json (as the
// binary serves it at /api/openapi.json) is checked by a real OpenAPI 3.1
// validator, then every route is called at least once against the real
// server (a Knack simulator upstream, a Standard Webhooks source, a real
// SQLite file), errors included, and every answer must be one the document
// lists for that route and match its schema: JSON bodies, SSE events and
// WebSocket messages alike.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import * as common from "../common/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { BIN, SLOW, CRM_SOURCE, LAPTOPS_GOAL, freePort, knackSource, signedHeaders, sleep } = common;
const ADMIN = "openapi-admin-token", READER = "openapi-reader-token";
const CRM_SECRET = "whsec_" + Buffer.from("openapi-tests-webhook-secret-32b").toString("base64");

function start(args, env, ready) {
  const proc = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err = (err + d).slice(-20000)));
  return { proc, out: () => out, err: () => err, ready: ready(() => out) };
}

const eventually = (check, ms, what) => common.eventually(check, ms * SLOW, what);

describe("the OpenAPI document", () => {
  let dir, sim, server, base, doc, ajv;
  const hits = new Set();  // "get /api/objects/{object}/records" for every route called

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "freshet-openapi-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    sim = start(["simulate", "knack", "--dataset", "hti", "--listen", "127.0.0.1:0", "--webhook-url",
                 `${base}/api/webhooks/hti`, "--webhook-secret", CRM_SECRET], {}, () => null);
    const [, simUrl, appId, apiKey] = await eventually(() => sim.out().match(/on (http:\/\/127\.0\.0\.1:\d+)\s+app id: (\w+)\s+api key: (\S+)/),
                                                       20000, "the simulator");
    writeFileSync(join(dir, "freshet.toml"), `[server]
listen = "127.0.0.1:${port}"
data_dir = "${dir}/data"
retain_events = 200
refresh_cooldown_seconds = 60

[[tokens]]
name = "ops"
secret_env = "ADMIN_TOKEN"
scopes = ["read", "refresh", "admin"]

[[tokens]]
name = "hennepin-staff"
secret_env = "READER_TOKEN"
scopes = ["read", "refresh"]
tenants = ["hennepin"]

${knackSource(simUrl)}
${CRM_SOURCE}
${LAPTOPS_GOAL}`);
    server = start(["serve", "--config", join(dir, "freshet.toml")],
                   { ADMIN_TOKEN: ADMIN, READER_TOKEN: READER, KNACK_APP_ID: appId, KNACK_API_KEY: apiKey, KNACK_WEBHOOK_SECRET: CRM_SECRET, CRM_SECRET }, () => null);
    await eventually(async () => {
      if (server.proc.exitCode !== null) throw new Error("serve exited: " + server.err());
      const r = await fetch(base + "/api/objects", { headers: { Authorization: `Bearer ${ADMIN}` } }).catch(() => null);
      return r?.ok && (await r.json()).objects.every((o) => o.last_sync_at || o.name === "contacts");
    }, 30000, "the first sync");

    doc = await (await fetch(base + "/api/openapi.json")).json();
    ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc, "openapi");
  });
  after(async () => {
    for (const p of [server?.proc, sim?.proc]) p?.kill("SIGTERM");
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  });

  const pointer = (...parts) => "openapi#/" + parts.map((p) => String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
  const validate = (ref, value, what) => {
    const check = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
    assert.ok(check(value), `${what} does not match ${ref}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(value).slice(0, 600)}`);
  };

  // Calls the API and checks the answer against the document: its status must
  // be listed for the route, and a JSON body must match that status's schema.
  // `as`: the documented method to hold the answer to (a 405 for another method).
  async function call(method, pattern, path, { token = ADMIN, body, headers = {}, as = method } = {}) {
    hits.add(`${as} ${pattern}`);
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] = "application/json";
    const res = await fetch(base + path, { method: method.toUpperCase(), headers: h, body: typeof body === "string" ? body : body && JSON.stringify(body) });
    const op = doc.paths[pattern]?.[as];
    assert.ok(op, `${as} ${pattern} is not in the document`);
    const documented = op.responses[res.status] ?? (doc["x-freshet-any-request"].responses[res.status] ? {} : null);
    assert.ok(documented, `${method.toUpperCase()} ${path} answered ${res.status}, which the document does not list for it`);
    const text = await res.text();
    const json = /json/.test(res.headers.get("content-type") ?? "") && text ? JSON.parse(text) : null;
    if (documented.content?.["application/json"]) {
      assert.ok(json !== null, `${method.toUpperCase()} ${path} ${res.status}: a JSON body`);
      validate(pointer("paths", pattern, as, "responses", res.status, "content", "application/json", "schema"), json,
               `${method.toUpperCase()} ${path} ${res.status}`);
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  test("is a valid OpenAPI 3.1 document (the validator from npm) and is the file in the repo", async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
    assert.equal(validator.version, "3.1");
    assert.deepEqual(doc, JSON.parse(readFileSync(join(here, "../../docs/openapi.json"), "utf8")));
  });

  test("every route's answers, errors included, are the ones it lists and match their schemas", async () => {
    const R = "/api/objects/{object}/records", ONE = "/api/objects/{object}/records/{id}";
    assert.equal((await call("get", "/healthz", "/healthz")).status, 200);
    assert.equal((await call("get", "/readyz", "/readyz")).status, 200);
    const metrics = await call("get", "/metrics", "/metrics");
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# HELP freshet_/m);
    assert.equal((await call("get", "/metrics", "/metrics", { token: READER })).json.error.code, "missing_scope");
    assert.equal((await call("get", "/api/openapi.json", "/api/openapi.json", { token: null })).status, 200);

    assert.equal((await call("get", "/api/objects", "/api/objects")).status, 200);
    assert.equal((await call("get", "/api/objects", "/api/objects", { token: null })).json.error.code, "unauthorized");
    assert.equal((await call("get", "/api/objects", "/api/objects", { token: "nobody" })).json.error.code, "invalid_token");
    assert.equal((await call("get", "/api/objects", "/api/objects", { token: "a.b.c" })).status, 401);
    const wrong = await call("put", "/api/objects", "/api/objects", { body: {}, as: "get" });
    assert.equal(wrong.json.error.code, "method_not_allowed");
    assert.equal(wrong.headers.get("allow"), "GET");

    const page = await call("get", R, "/api/objects/laptops/records?limit=2&tenant=hennepin");
    assert.equal(page.json.records.length, 2);
    const etag = page.headers.get("etag");
    assert.equal((await call("get", R, "/api/objects/laptops/records?limit=2&tenant=hennepin", { headers: { "If-None-Match": etag } })).status, 304);
    assert.equal((await call("get", R, "/api/objects/laptops/records?objct=1")).json.error.code, "unknown_parameter");
    assert.equal((await call("get", R, "/api/objects/laptops/records?limit=0")).json.error.code, "invalid_parameter");
    assert.equal((await call("get", R, "/api/objects/nope/records")).json.error.code, "unknown_object");
    assert.equal((await call("get", R, "/api/objects/laptops/records?tenant=anoka", { token: READER })).json.error.code, "forbidden_tenant");
    const id = page.json.records[0].id;
    assert.equal((await call("get", ONE, `/api/objects/laptops/records/${id}`)).json.record.id, id);
    assert.equal((await call("get", ONE, "/api/objects/laptops/records/nope")).json.error.code, "unknown_record");

    // A Standard Webhooks delivery, signed here with node:crypto.
    const W = "/api/webhooks/{source}";
    const delivery = JSON.stringify({ type: "record.created", data: { object: "contacts", id: "k1", fields: { name: "Ada", region: "north" } } });
    const signed = signedHeaders(CRM_SECRET, "m1", delivery);
    assert.equal((await call("post", W, "/api/webhooks/crm", { token: null, body: delivery, headers: signed })).status, 200);
    assert.equal((await call("post", W, "/api/webhooks/crm", { token: null, body: delivery, headers: { ...signed, "webhook-signature": "v1,AAAA" } })).json.error.code, "bad_signature");
    assert.equal((await call("post", W, "/api/webhooks/crm", { token: null, body: delivery })).json.error.code, "missing_signature");
    assert.equal((await call("post", W, "/api/webhooks/nope", { token: null, body: delivery })).json.error.code, "unknown_source");

    const started = await call("post", "/api/refresh", "/api/refresh", { body: { tenant: "hennepin" } });
    assert.equal(started.status, 202);
    assert.ok([202, 429].includes((await call("post", "/api/refresh", "/api/refresh", { body: { tenant: "hennepin" } })).status));
    assert.equal((await call("post", "/api/refresh", "/api/refresh", { body: { tenant: "atlantis" } })).json.error.code, "unknown_tenant");
    assert.equal((await call("post", "/api/refresh", "/api/refresh", { body: "{not json" })).json.error.code, "malformed_json");
    assert.equal((await call("post", "/api/refresh", "/api/refresh", { token: READER, body: { tenant: "anoka" } })).json.error.code, "forbidden_tenant");
    await eventually(async () => (await call("get", "/api/jobs/{id}", `/api/jobs/${started.json.job_id}`)).json.status !== "running", 20000, "the job");
    assert.equal((await call("get", "/api/jobs/{id}", "/api/jobs/nope")).json.error.code, "unknown_job");
    const cooled = await call("post", "/api/refresh", "/api/refresh", { body: { tenant: "hennepin" } });
    assert.equal(cooled.json.error.code, "refresh_cooldown");
    assert.ok(Number(cooled.headers.get("retry-after")) > 0);

    assert.equal((await call("post", "/api/broadcast", "/api/broadcast", { body: { message: "hello" } })).status, 200);
    assert.equal((await call("post", "/api/broadcast", "/api/broadcast", { body: {} })).json.error.code, "missing_field");
    assert.equal((await call("post", "/api/broadcast", "/api/broadcast", { body: { message: 1, extra: 2 } })).json.error.code, "unknown_field");
    assert.equal((await call("get", "/api/stats", "/api/stats")).status, 200);
    assert.equal((await call("get", "/api/audit", "/api/audit?limit=3")).status, 200);
    assert.equal((await call("get", "/api/audit", "/api/audit?limit=0")).json.error.code, "invalid_parameter");
    assert.equal((await call("get", "/api/notifications", "/api/notifications")).status, 200);
    assert.equal((await call("get", "/api/notifications", "/api/notifications?status=sideways")).json.error.code, "invalid_parameter");
    assert.equal((await call("post", "/api/notifications/{id}/retry", "/api/notifications/1/retry")).json.error.code, "unknown_notification");
    assert.equal((await call("get", "/api/ws", "/api/ws")).json.error.code, "websocket_required");
    assert.equal((await call("get", "/api/events", "/api/events?tenant=a,b")).json.error.code, "invalid_parameter");
    assert.equal((await call("get", "/api/events", "/api/events?object=nope")).json.error.code, "unknown_object");
    assert.equal((await call("get", "/api/events", "/api/objects?access_token=x".replace("/api/objects", "/api/events"), { token: null })).status, 401);
    assert.equal((await call("get", "/api/objects", "/api/objects?access_token=" + ADMIN, { token: null })).json.error.code, "token_in_query");
  });

  test("the stream's events match the Event schema, a pruned resume point gets a reset", async () => {
    hits.add("get /api/events");
    const types = new Set();
    const abort = new AbortController();
    // From id 1, pruned once retention has run (200 events are kept, the first
    // sync made thousands): a reset first, then the retained events.
    await eventually(async () => {
      const stats = await (await fetch(base + "/api/stats", { headers: { Authorization: `Bearer ${ADMIN}` } })).json();
      return Number(stats.events.first_id) > 2;
    }, 20000, "retention to prune the first events");
    const res = await fetch(base + "/api/events?last_event_id=1", { headers: { Authorization: `Bearer ${ADMIN}` }, signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/event-stream/);
    await fetch(base + "/api/broadcast", { method: "POST", headers: { Authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ message: { text: "x" } }) });
    const reader = res.body.getReader();
    let buf = "";
    const until = Date.now() + 10000 * SLOW;
    while (!(types.has("reset") && types.has("change") && types.has("job") && types.has("message")) && Date.now() < until) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += Buffer.from(value).toString();
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        const type = frame.match(/^event: (\w+)$/m)?.[1];
        if (!data) continue;
        const ev = JSON.parse(data);
        validate(pointer("components", "schemas", "Event"), ev, `a ${type} event`);
        assert.equal(ev.type, type);
        types.add(type);
      }
    }
    abort.abort();
    assert.deepEqual([...types].sort().filter((t) => t !== "metric"), ["change", "job", "message", "reset"]);
  });

  test("the WebSocket's messages match WsSubscribe, Event and WsError", async () => {
    hits.add("get /api/ws");
    assert.equal(typeof WebSocket, "function", "node runs with --experimental-websocket");
    const ws = new WebSocket(`${base.replace("http", "ws")}/api/ws?access_token=${ADMIN}`);
    const messages = [];
    ws.onmessage = (m) => messages.push(JSON.parse(m.data));
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
    ws.send(JSON.stringify({ op: "subscribe", objects: ["contacts", "nope"] }));  // an unknown object: an error frame
    await eventually(() => messages.length >= 1, 5000, "the error frame");
    validate(pointer("components", "schemas", "WsError"), messages[0], "the error frame");
    assert.equal(messages[0].error.code, "unknown_object");
    const subscribe = { op: "subscribe", objects: ["contacts"], tenant: "north", since: "0" };
    validate(pointer("components", "schemas", "WsSubscribe"), subscribe, "our subscribe message");
    ws.send(JSON.stringify(subscribe));
    ws.send(JSON.stringify(subscribe));
    await eventually(() => messages.some((m) => m.type === "change") && messages.some((m) => m.error?.code === "already_subscribed"),
                     5000, "the change and the second subscription's refusal");
    for (const m of messages.slice(1))
      validate(pointer("components", "schemas", m.type === "error" ? "WsError" : "Event"), m, `a ${m.type} message`);
    ws.close();
  });

  test("every route of the document was called", () => {
    const all = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    assert.deepEqual(all.filter((k) => !hits.has(k)), []);
  });
});
