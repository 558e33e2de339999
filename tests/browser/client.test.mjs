// The JavaScript client in real Chromium, on a page of another origin that
// imports it from Freshet itself (/freshet.js): the snapshot of one tenant,
// live changes from the simulator, a refresh with its progress, over
// EventSource (token in the stream URL) and over fetch streaming (token in a
// header). The page's Map is compared with the store at the end.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { SLOW, eventually, freePort, json, startStack } from "./harness.mjs";

const TOKEN = "client-page-secret";
// JSON with every object's keys in order: the store keeps records canonical,
// an event carries them in the upstream's order; the same record either way.
const canonical = (v) => JSON.stringify(v, (k, x) =>
  x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);
const sorted = (entries) => canonical(entries.sort(([a], [b]) => a.localeCompare(b)));

// The plain HTML page of docs/api.md, as written there.
function docsExample() {
  const doc = readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8");
  return doc.match(/### A plain HTML page[\s\S]*?```html\n([\s\S]*?)```/)[1];
}

function page(freshet, transport) {
  return `<!doctype html><meta charset="utf-8"><title>a dashboard elsewhere</title><p id="size">loading</p>
<script type="module">
import { connect } from "${freshet}/freshet.js";
window.log = [];
const live = connect({ url: "${freshet}", token: "${TOKEN}", object: "laptops", tenant: "hennepin", transport: "${transport}" });
window.live = live;
live.addEventListener("snapshot", () => log.push("snapshot " + live.records.size));
live.addEventListener("change", (e) => { log.push("change " + e.detail.event.op); document.getElementById("size").textContent = live.records.size; });
live.addEventListener("status", (e) => log.push("status " + e.detail.status));
live.addEventListener("error", (e) => log.push("error " + e.detail.code));
</script>`;
}

async function stored(base) {
  const out = [];
  let cursor = "";
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${base}/api/objects/laptops/records?tenant=hennepin&limit=1000${cursor ? "&cursor=" + cursor : ""}`,
                            { headers: { Authorization: `Bearer ${TOKEN}` } });
    const doc = await res.json();
    for (const r of doc.records) out.push([r.id, r]);
    cursor = doc.next_cursor;
    if (!cursor) break;
  }
  return out;
}

describe("the client on a page of another origin", () => {
  let st, site, siteUrl;
  before(async () => {
    const sitePort = await freePort();
    siteUrl = `http://127.0.0.1:${sitePort}`;
    let freshet = "";
    site = createServer((req, res) => {
      const url = new URL(req.url, siteUrl);
      if (url.pathname === "/freshet-token") {  // the backend that mints the page's token
        res.writeHead(200, { "Content-Type": "text/plain" });
        return res.end(TOKEN);
      }
      res.writeHead(200, { "Content-Type": "text/html" });
      if (url.pathname === "/example.html") return res.end(docsExample().replaceAll("https://freshet.example.org", freshet));
      res.end(page(freshet, url.searchParams.get("transport")));
    });
    await new Promise((r) => site.listen(sitePort, "127.0.0.1", r));
    const tokens = `[[tokens]]\nname = "page"\nsecret_env = "PAGE_TOKEN"\nscopes = ["read", "refresh"]\n`;
    st = await startStack("freshet-browser-client-", {
      simArgs: ["--latency-ms", "20:60"], tokens, env: { PAGE_TOKEN: TOKEN },
      server: `allowed_origins = ["${siteUrl}"]\nrefresh_cooldown_seconds = 1`,
    });
    freshet = st.server.url;
    await eventually(async () => (await stored(freshet)).length > 0, 30000 * SLOW, "the first sync");
  });
  after(async () => {
    await st?.stop();
    site?.close();
  });

  for (const transport of ["eventsource", "fetch"]) {
    test(`over ${transport}: snapshot, live changes and a refresh with progress; the Map equals the store`, async () => {
      const { page: p, errors } = st.browser;
      await p.goto(`${siteUrl}/?transport=${transport}`);
      await p.waitForFunction(() => window.log?.includes("status live"), null, { timeout: 15000 * SLOW });
      const pageMap = () => p.evaluate(() => [...window.live.records.entries()]);
      // Changes in the simulator reach the page through Freshet's webhook and stream.
      for (let i = 0; i < 3; i++) await json(st.sim.url + "/_sim/changes", { method: "POST", body: { count: 20 } });
      await eventually(async () => sorted(await pageMap()) === sorted(await stored(st.server.url)), 10000 * SLOW,
                       "the page's Map to equal the store").catch(async (e) => {
        const mine = new Map(await pageMap()), truth = new Map(await stored(st.server.url));
        const diff = [...new Set([...mine.keys(), ...truth.keys()])].filter((k) => canonical(mine.get(k)) !== canonical(truth.get(k)));
        throw new Error(`${e.message}: ${diff.length} differ, e.g. ${diff.slice(0, 3).map((k) => `${k}: page ${JSON.stringify(mine.get(k))} store ${JSON.stringify(truth.get(k))}`).join("; ")}`);
      });
      const job = await p.evaluate(async () => {
        const progress = [];
        // The cooldown (1 s here) may still hold from the test before: the
        // error says so, with Retry-After.
        for (let attempt = 0; ; attempt++) {
          try {
            const done = await window.live.refresh({ onProgress: (j) => progress.push(j.status) });
            return { status: done.status, tenant: done.tenant, progress };
          } catch (e) {
            if (e.code !== "refresh_cooldown" || attempt > 3) throw e;
            await new Promise((r) => setTimeout(r, 1000 * Number(e.response.headers.get("Retry-After"))));
          }
        }
      });
      assert.equal(job.status, "succeeded");
      assert.equal(job.tenant, "hennepin");
      assert.ok(job.progress.includes("running"), JSON.stringify(job));
      const log = await p.evaluate(() => window.log);
      assert.ok(log.some((l) => l.startsWith("change ")), log.join(", "));
      assert.ok(!log.some((l) => l.startsWith("error")), log.join(", "));
      assert.deepEqual(errors.filter((e) => !/status of 429/.test(e)), []);  // a cooldown answer is no error of the page
    });
  }

  test("the plain HTML page of docs/api.md runs as written and shows the tenant's laptops, live", async () => {
    const { page: p, errors } = st.browser;
    await p.goto(`${siteUrl}/example.html`);
    await p.waitForFunction(() => document.getElementById("status").textContent === "live", null, { timeout: 15000 * SLOW });
    await json(st.sim.url + "/_sim/changes", { method: "POST", body: { count: 20 } });
    await eventually(async () => {
      const want = (await stored(st.server.url)).length;
      const shown = await p.evaluate(() => [document.getElementById("count").textContent, document.querySelectorAll("#rows tr").length]);
      return shown[0] === String(want) && shown[1] === want;
    }, 10000 * SLOW, "the page to show as many laptops as the store holds");
    assert.deepEqual(errors.filter((e) => !/status of 429/.test(e)), []);
  });
});
