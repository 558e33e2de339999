// The dashboard in a real browser (Debian's chromium, playwright-core)
// against the real binary and the real simulator, over loopback.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import {
  ARTIFACTS, SLOW, eventually, json, openBrowser, sleep, startDemo, startServe, startStack, stopProcess, storeRecords,
  tempDir,
} from "./harness.mjs";

// The text a cell of the laptops table shows for a simulator record's status.
async function simStatus(simUrl, id) {
  const { doc } = await json(`${simUrl}/_sim/state?object=object_1`);
  const r = doc.objects.object_1.find((x) => x.id === id);
  return r ? r.field_3_raw : null;
}

// Waits until every object has been synced once.
async function firstSync(url) {
  await eventually(async () => (await json(url + "/api/objects")).doc.objects.every((o) => o.last_sync_at),
                   30000 * SLOW, "the first sync");
}

async function rowIds(page) {
  return page.$$eval("table.records tbody tr[data-id]", (trs) => trs.map((tr) => tr.dataset.id));
}

describe("freshet demo in the browser", () => {
  let dir, demo, b;
  before(async () => {
    dir = tempDir("freshet-browser-demo-");
    demo = await startDemo(dir.path, 0);  // no trickle: the test makes every change
    b = await openBrowser();
  });
  after(async () => {
    await b?.browser.close();
    if (demo) assert.equal(await demo.stop(), 0);
    dir?.remove();
  });

  test("loads with no console error, shows every object and the goal", async () => {
    const { page, errors } = b;
    await page.goto(demo.url + "/");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    await page.waitForSelector('.card[data-object="laptops"] .big', { timeout: 10000 * SLOW });
    const cards = await page.$$eval(".card[data-object]", (cs) => cs.map((c) => c.dataset.object));
    assert.deepEqual(cards.sort(), ["donations", "laptops", "training_sessions"]);
    // The page may have opened during the demo's first sync: once it is over,
    // the count and the goal on the page come to the API's figures.
    await firstSync(demo.url);
    await page.waitForSelector('.goal[data-goal="laptops_donated"] progress');
    const figures = async () => {
      const { doc } = await json(demo.url + "/api/objects");
      const api = [doc.objects.find((o) => o.name === "laptops").records, doc.goals[0].value].join();
      const shown = [await page.getAttribute('.card[data-object="laptops"] .big', "data-count"),
                     await page.getAttribute('.goal[data-goal="laptops_donated"]', "data-value")].join();
      return { api, shown };
    };
    await eventually(async () => { const f = await figures(); return f.api === f.shown; }, 5000 * SLOW,
                     "the page's laptop count and goal equal the API's");
    assert.match(await page.textContent("#updated"), /Last updated: /);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-overview.png") });
    assert.deepEqual(errors, []);
  });

  test("a change in the simulator appears within a second, a deletion removes its row", async () => {
    const { page, errors } = b;
    // The page opened during the first sync (above); from here on the test
    // makes every change.
    await firstSync(demo.url);
    await page.goto(demo.url + "/#/objects/laptops");
    await page.waitForSelector("table.records tbody tr[data-id]", { timeout: 15000 * SLOW });
    const stored = await storeRecords(demo.url, "laptops");
    await eventually(async () => (await rowIds(page)).length === stored.size, 5000 * SLOW,
                     `the table shows the ${stored.size} stored records`);

    let sawUpdate = false, sawDelete = false, sawCreate = false;
    for (let i = 0; i < 300 && !(sawUpdate && sawDelete && sawCreate); i++) {
      const { doc } = await json(demo.simUrl + "/_sim/changes", { method: "POST", body: { count: 1 } });
      const c = doc.applied[0];
      if (c.object !== "object_1") continue;
      const t0 = Date.now();
      if (c.op === "updated" && !sawUpdate) {
        const want = await simStatus(demo.simUrl, c.id);
        await page.waitForFunction(([id, status]) => {
          const td = document.querySelector(`tr[data-id="${id}"] td[data-field="status"]`);
          return td && td.textContent === status;
        }, [c.id, want], { timeout: 1000 * SLOW, polling: 20 });
        sawUpdate = true;
      } else if (c.op === "created" && !sawCreate) {
        await page.waitForSelector(`tr[data-id="${c.id}"]`, { timeout: 1000 * SLOW });
        sawCreate = true;
      } else if (c.op === "deleted" && !sawDelete) {
        // Knack sends no deletion by polling; its webhook says so at once.
        await page.waitForSelector(`tr[data-id="${c.id}"]`, { state: "detached", timeout: 1000 * SLOW });
        sawDelete = true;
      } else {
        continue;
      }
      assert.ok(Date.now() - t0 <= 1000 * SLOW + 50);
    }
    assert.ok(sawUpdate && sawCreate && sawDelete, `update ${sawUpdate} create ${sawCreate} delete ${sawDelete}`);
    await sleep(500);
    const ids = await rowIds(page);
    assert.equal(new Set(ids).size, ids.length, "no row twice");
    assert.deepEqual(new Set(ids), new Set((await storeRecords(demo.url, "laptops")).keys()));
    assert.deepEqual(errors, []);
  });

  test("search and sort run in the page", async () => {
    const { page } = b;
    await page.goto(demo.url + "/#/objects/laptops");
    await page.waitForSelector("table.records tbody tr[data-id]", { timeout: 15000 * SLOW });
    await page.fill("#search", "HTI-00001");
    const visible = await page.$$eval("tbody tr[data-id]:not([hidden])", (trs) => trs.map((t) => t.querySelector('td[data-field="serial"]').textContent));
    assert.ok(visible.length >= 1 && visible.every((s) => s.includes("HTI-00001")), visible.join());
    await page.fill("#search", "");
    await page.click('th[data-field="serial"] button');
    await page.click('th[data-field="serial"] button');  // descending
    assert.equal(await page.getAttribute('th[data-field="serial"]', "aria-sort"), "descending");
    const serials = await page.$$eval("tbody tr[data-id]", (trs) => trs.slice(0, 20).map((t) => t.querySelector('td[data-field="serial"]').textContent));
    assert.deepEqual(serials, [...serials].sort((a, b) => b.localeCompare(a, undefined, { numeric: true })));
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-table.png") });
  });
});

describe("refresh and restart against freshet serve", () => {
  let st;
  // 150-250 ms a request: a refresh takes long enough to watch.
  before(async () => {
    st = await startStack("freshet-browser-serve-", { simArgs: ["--latency-ms", "150:250"], server: "refresh_cooldown_seconds = 60" });
  });
  after(async () => st && (await st.stop()));

  test("Refresh shows progress, then the summary; a second click shows the cooldown", async () => {
    const { page } = st.browser;
    await page.goto(st.server.url + "/");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    await page.waitForSelector('#tenant option[value="hennepin"]', { state: "attached", timeout: 10000 * SLOW });
    await page.selectOption("#tenant", "hennepin");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    // Everything the dialog shows, in the order it shows it: progress drawn
    // and replaced within a few milliseconds is still seen (a 10 ms poll of
    // the page missed it when the last pages came together).
    await page.evaluate(() => {
      window.refreshShown = [];
      const note = () => window.refreshShown.push({
        stage: document.getElementById("refresh-stage").textContent,
        counts: document.getElementById("refresh-counts").textContent,
        result: document.getElementById("refresh-result").textContent,
      });
      for (const id of ["refresh-stage", "refresh-counts", "refresh-result"])
        new MutationObserver(note).observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });
    });
    await page.click("#refresh");
    await page.waitForSelector("#refresh-dialog[open]");
    await page.waitForFunction(() => document.getElementById("refresh-result").textContent !== "", null, { timeout: 30000 * SLOW });
    // Progress from the job's events (a running stage with counts) before any result.
    const shown = await page.evaluate(() => window.refreshShown);
    const firstResult = shown.findIndex((s) => s.result !== "");
    assert.ok(shown.slice(0, firstResult).some((s) => s.stage.startsWith("Reading") && /records, \d+ pages?/.test(s.counts)),
              JSON.stringify(shown));
    const summary = await page.textContent("#refresh-result");
    assert.match(summary, /^Updated [\d,]+ records of hennepin in \d+(\.\d)? s: /);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-refresh.png") });
    await page.click("#refresh-close");
    await page.click("#refresh");
    await page.waitForFunction(() => document.getElementById("refresh-result").textContent !== "", null, { timeout: 5000 * SLOW });
    assert.match(await page.textContent("#refresh-result"), /hennepin was refreshed moments ago\. Try again in \d+ s\./);
    await page.click("#refresh-close");
  });

  test("a server restart shows reconnecting, then live, with no duplicated or missing row", async () => {
    const { page } = st.browser;
    await page.selectOption("#tenant", "");
    await page.goto(st.server.url + "/#/objects/laptops");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    await page.waitForSelector("table.records tbody tr[data-id]", { timeout: 15000 * SLOW });

    await stopProcess(st.server.proc);
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 10000 * SLOW });
    // Changes while Freshet is down reach it by polling after the restart.
    await json(st.sim.url + "/_sim/changes", { method: "POST", body: { count: 20 } });
    st.server = await startServe(st.dir.path, st.opts, st.env);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 15000 * SLOW });
    await json(st.sim.url + "/_sim/changes", { method: "POST", body: { count: 20 } });

    // The page converges on the store: the same ids, each once, the same statuses.
    await eventually(async () => {
      const stored = await storeRecords(st.server.url, "laptops");
      const rows = await page.$$eval("table.records tbody tr[data-id]", (trs) =>
        trs.map((tr) => [tr.dataset.id, tr.querySelector('td[data-field="status"]').textContent]));
      if (rows.length !== stored.size) return false;
      const seen = new Set();
      for (const [id, status] of rows) {
        if (seen.has(id) || !stored.has(id) || stored.get(id).status !== status) return false;
        seen.add(id);
      }
      return true;
    }, 30000 * SLOW, "the table equals the store after the restart");
  });
});

describe("with tokens", () => {
  const SECRET = "hennepin-dashboard-token-5f1c";
  let st;
  before(async () => {
    const tokens = `[[tokens]]\nname = "hennepin"\nsecret_env = "TOKEN_HENNEPIN"\nscopes = ["read", "refresh"]\ntenants = ["hennepin"]\n`;
    st = await startStack("freshet-browser-auth-", { tokens, env: { TOKEN_HENNEPIN: SECRET } });
  });
  after(async () => st && (await st.stop()));

  test("asks for a token, keeps it for the tab, stays in its tenant, never logs it", async () => {
    const { page } = st.browser;
    await page.goto(st.server.url + "/");
    await page.waitForSelector("#token-dialog[open]", { timeout: 10000 * SLOW });
    await page.fill("#token", "not-a-token");
    await page.click('#token-form button[type="submit"]');
    await page.waitForFunction(() => document.getElementById("token-dialog").open &&
                               document.getElementById("token-error").textContent !== "", null, { timeout: 10000 * SLOW });
    await page.fill("#token", SECRET);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    // Scoped to hennepin: the page starts there, with only hennepin to choose.
    assert.equal(await page.inputValue("#tenant"), "hennepin");
    assert.deepEqual(await page.$$eval("#tenant option", (os) => os.map((o) => o.value)), ["", "hennepin"]);
    await page.waitForSelector('.card[data-object="laptops"] .big', { timeout: 10000 * SLOW });
    // A reload keeps the token (sessionStorage): no prompt, live again.
    await page.reload();
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10000 * SLOW });
    assert.equal(await page.$eval("#token-dialog", (d) => d.open), false);
    // The operations page says plainly that it needs the admin scope.
    await page.goto(st.server.url + "/#/ops");
    await page.waitForFunction(() => /admin scope/.test(document.getElementById("page").textContent), null, { timeout: 10000 * SLOW });
    assert.ok(!st.server.stderr().includes(SECRET), "the token is not in the server's log");
  });
});
