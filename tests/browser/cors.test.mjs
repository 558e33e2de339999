// CORS in a real browser: a page served from one loopback origin calls
// Freshet's API (with an Authorization header, so a preflight) and opens an
// EventSource on Freshet at another port. With the page's origin in
// allowed_origins both work; with it removed, chromium blocks both.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { BIN, SLOW, eventually, freePort, openBrowser, sleep, stopProcess, tempDir } from "./harness.mjs";

const TOKEN = "cors-dashboard-secret";

// The page: it reports what it could do into #api and #stream.
function page(freshet) {
  return `<!doctype html><meta charset="utf-8"><title>elsewhere</title>
<p id="api">pending</p><p id="stream">pending</p>
<script>
fetch("${freshet}/api/objects", { headers: { Authorization: "Bearer ${TOKEN}" } })
  .then((r) => r.json().then((d) => { document.getElementById("api").textContent = "ok " + r.status + " " + d.access.scopes.join(","); }))
  .catch((e) => { document.getElementById("api").textContent = "blocked " + e.name; });
const es = new EventSource("${freshet}/api/events?access_token=${TOKEN}");
es.addEventListener("message", (e) => { document.getElementById("stream").textContent = "event " + JSON.parse(e.data).message; });
es.onerror = () => { if (es.readyState === EventSource.CLOSED) document.getElementById("stream").textContent = "blocked"; };
</script>`;
}

async function startFreshet(dir, port, origins) {
  const path = join(dir, `freshet-${port}.toml`);
  writeFileSync(path, `[server]
listen = "127.0.0.1:${port}"
data_dir = "${dir}/data"
allowed_origins = ${JSON.stringify(origins)}

[[tokens]]
name = "elsewhere"
secret_env = "CORS_TOKEN"
scopes = ["read", "admin"]
`);
  const proc = spawn(BIN, ["serve", "--config", path], { env: { ...process.env, CORS_TOKEN: TOKEN }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => {
    if (proc.exitCode !== null) throw new Error("freshet serve exited: " + err.slice(-2000));
    return fetch(url + "/readyz").then((r) => r.ok, () => false);
  }, 20000 * SLOW, "freshet serve to be ready");
  return { url, stop: () => stopProcess(proc) };
}

describe("a dashboard on another origin", () => {
  let dir, site, siteUrl, freshetPort, b;
  before(async () => {
    dir = tempDir("freshet-cors-");
    freshetPort = await freePort();
    site = createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(page(`http://127.0.0.1:${freshetPort}`));
    });
    await new Promise((r) => site.listen(0, "127.0.0.1", r));
    siteUrl = `http://127.0.0.1:${site.address().port}`;
    b = await openBrowser();
  });
  after(async () => {
    await b?.browser.close();
    site?.close();
    dir?.remove();
  });

  test("with its origin allowed, the API and an EventSource work across origins", async () => {
    const freshet = await startFreshet(dir.path, freshetPort, [siteUrl]);
    try {
      await b.page.goto(siteUrl + "/");
      await b.page.waitForFunction(() => document.getElementById("api").textContent !== "pending", null, { timeout: 10000 * SLOW });
      assert.equal(await b.page.textContent("#api"), "ok 200 read,admin");
      // A broadcast reaches the page's EventSource.
      await eventually(async () => {
        await fetch(freshet.url + "/api/broadcast", { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` },
                                                      body: JSON.stringify({ message: "across origins" }) });
        await sleep(200);
        return (await b.page.textContent("#stream")) === "event across origins";
      }, 10000 * SLOW, "the event on the page");
    } finally {
      await freshet.stop();
    }
  });

  test("with its origin removed from the list, chromium blocks both", async () => {
    const freshet = await startFreshet(dir.path, freshetPort, ["http://127.0.0.1:1"]);
    try {
      await b.page.goto(siteUrl + "/");
      await b.page.waitForFunction(() => document.getElementById("api").textContent !== "pending", null, { timeout: 10000 * SLOW });
      assert.equal(await b.page.textContent("#api"), "blocked TypeError");
      await b.page.waitForFunction(() => document.getElementById("stream").textContent === "blocked", null, { timeout: 10000 * SLOW });
      assert.ok(b.errors.some((e) => /CORS|Access-Control-Allow-Origin/.test(e)), b.errors.join("\n"));
    } finally {
      await freshet.stop();
    }
  });
});
