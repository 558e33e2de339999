// What the client tests run: the real freshet binary (`serve`, over loopback,
// on a real SQLite file) with a generic Standard Webhooks source whose
// records the tests write by signed deliveries, and the client itself.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as common from "../common/harness.mjs";

export const { BIN, SLOW, sleep, tempDir, freePort, stopProcess } = common;
export const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../clients/js");

export const TOKEN = "client-tests-reader-token";
export const PORTAL_SECRET = "client-tests-portal-secret-of-32-bytes-or-more";
export const WEBHOOK_SECRET = "whsec_" + Buffer.from("client-tests-webhook-secret-32by").toString("base64");

// Waits scale with the sanitizer build's slowness.
export const eventually = (check, ms, what) => common.eventually(check, ms * SLOW, what);

export function config({ port, dataDir, server = "" }) {
  return `[server]
listen = "127.0.0.1:${port}"
data_dir = "${dataDir}"
${server}

[[tokens]]
name = "reader"
secret_env = "READER_TOKEN"
scopes = ["read", "refresh", "admin"]

[[jwt]]
name = "portal"
algorithm = "HS256"
secret_env = "PORTAL_SECRET"
issuer = "portal"

${common.CRM_SOURCE}`;
}

// `freshet serve` on `port` with the data in `dataDir`; resolves once /readyz answers.
export async function startServe({ port, dataDir, server = "" }) {
  const path = join(dataDir, "..", `freshet-${port}.toml`);
  writeFileSync(path, config({ port, dataDir, server }));
  const proc = spawn(BIN, ["serve", "--config", path], {
    env: { ...process.env, READER_TOKEN: TOKEN, CRM_SECRET: WEBHOOK_SECRET, PORTAL_SECRET },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  proc.stderr.on("data", (d) => (err = (err + d).slice(-20000)));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error("freshet serve exited: " + err.slice(-2000));
    return fetch(url + "/readyz").then((r) => r.ok, () => false);
  }, 20000, "freshet serve to be ready");
  return { proc, url, stderr: () => err, stop: (signal) => stopProcess(proc, signal) };
}

// One signed Standard Webhooks delivery (signed here with node:crypto, not by Freshet).
let deliveries = 0;
export async function deliver(url, type, id, fields) {
  const body = JSON.stringify({ type, data: { object: "contacts", id, ...(fields ? { fields } : {}) } });
  const msgId = `d${process.pid}-${++deliveries}`;
  const res = await fetch(`${url}/api/webhooks/crm`, { method: "POST", body, headers: common.signedHeaders(WEBHOOK_SECRET, msgId, body) });
  if (res.status !== 200) throw new Error(`webhook ${type} ${id}: ${res.status} ${await res.text()}`);
}

// Every record of the store, read with plain fetch (not the client under test).
export async function storeRecords(url, tenant) {
  const out = new Map();
  let cursor = "";
  for (;;) {
    const q = new URLSearchParams({ limit: "1000" });
    if (tenant) q.set("tenant", tenant);
    if (cursor) q.set("cursor", cursor);
    const res = await fetch(`${url}/api/objects/contacts/records?${q}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    const doc = await res.json();
    for (const r of doc.records) out.set(r.id, r);
    cursor = doc.next_cursor;
    if (!cursor) return out;
  }
}

// An HS256 JSON Web Token as the operator's backend would mint it (node:crypto).
export function mintJwt(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" }) + "." + b64({ iss: "portal", ...claims });
  return head + "." + createHmac("sha256", PORTAL_SECRET).update(head).digest("base64url");
}

// A seeded generator (mulberry32), so a failing run can be repeated with its seed.
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
