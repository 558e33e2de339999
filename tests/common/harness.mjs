// What every Node test of the real binary needs, with no npm dependency:
// the binary's path, processes, free loopback ports, scratch folders,
// bounded waits, the config blocks of the test sources, and Standard
// Webhooks signatures made here (node:crypto), not by Freshet.
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.FRESHET_BIN || join(here, "../../build/src/freshet");
// The sanitizer build is several times slower: its bounds are wider.
export const SLOW = process.env.FRESHET_SANITIZED === "1" ? 5 : 1;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs `fn` until it returns a truthy value, at most `ms`; returns the value or throws with `what`.
export async function eventually(fn, ms, what) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await fn();
    if (last) return last;
    await sleep(50);
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

export function tempDir(prefix) {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function stopProcess(proc, signal = "SIGTERM") {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), 10000);
    proc.once("exit", (code) => {
      clearTimeout(kill);
      resolve(code);
    });
    proc.kill(signal);
  });
}

// The [[sources]] block for `freshet simulate knack --dataset hti` at simUrl
// (app id and key from KNACK_APP_ID / KNACK_API_KEY, webhooks signed with
// the secret in KNACK_WEBHOOK_SECRET).
export function knackSource(simUrl, { requestsPerSecond = 10 } = {}) {
  return `[[sources]]
name = "hti"
kind = "knack"
base_url = "${simUrl}"
app_id_env = "KNACK_APP_ID"
api_key_env = "KNACK_API_KEY"
webhook_secret_env = "KNACK_WEBHOOK_SECRET"
requests_per_second = ${requestsPerSecond}

  [[sources.objects]]
  name = "laptops"
  key = "object_1"
  fields = { serial = "field_1", model = "field_2", status = "field_3", received = "field_4", county = "field_5", donation = "field_6", modified = "field_20" }
  modified_field = "modified"
  tenant_field = "county"

  [[sources.objects]]
  name = "donations"
  key = "object_2"
  fields = { organisation = "field_7", laptops = "field_8", date = "field_9", county = "field_10", modified = "field_21" }
  modified_field = "modified"
  tenant_field = "county"
`;
}

// The demo's goal on the Knack source's laptops.
export const LAPTOPS_GOAL = `[[goals]]
name = "laptops_donated"
label = "Laptops donated"
object = "laptops"
where = { status = "Donated" }
target = 3500
`;

// A generic Standard Webhooks source "crm" whose records the tests write
// (contacts, tenant = region; the secret in CRM_SECRET).
export const CRM_SOURCE = `[[sources]]
name = "crm"
kind = "webhook"
webhook_secret_env = "CRM_SECRET"

  [[sources.objects]]
  name = "contacts"
  key = "contacts"
  fields = { name = "name", region = "region", visits = "visits" }
  tenant_field = "region"
`;

// The Standard Webhooks headers for `body`, signed with a whsec_ secret.
export function signedHeaders(secret, msgId, body, timestamp = Math.floor(Date.now() / 1000)) {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const sig = createHmac("sha256", key).update(`${msgId}.${timestamp}.${body}`).digest("base64");
  return { "Content-Type": "application/json", "webhook-id": msgId, "webhook-timestamp": String(timestamp), "webhook-signature": "v1," + sig };
}
