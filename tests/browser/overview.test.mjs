// The overview shows rather than tells, and keeps in step without asking:
// the breakdown chart and the activity feed move within a second of a change
// in the simulator (a deletion too), with no request to the server; and with
// the demo's trickle running, the page makes no request but its stream,
// which the server's own request counters confirm.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execFileSync } from "node:child_process";
import { ARTIFACTS, SLOW, eventually, json, openBrowser, startDemo, startServe, startStack, storeRecords, tempDir } from "./harness.mjs";

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

// The laptops chart's figures: "status|county" -> count, from the SVG's rects.
const chartCounts = (page) => page.$$eval('svg.breakdown[data-object="laptops"] rect', (rects) =>
  Object.fromEntries(rects.map((r) => [`${r.dataset.category}|${r.dataset.series}`, Number(r.dataset.value)])));

async function storeCounts(url) {
  const counts = {};
  for (const r of (await storeRecords(url, "laptops")).values()) {
    const k = `${r.status}|${r.county}`;
    counts[k] = (counts[k] || 0) + 1;
  }
  return counts;
}

// Requests the server has answered, by route, from its /metrics.
async function served(url) {
  const text = await (await fetch(url + "/metrics")).text();
  const out = {};
  for (const m of text.matchAll(/^freshet_http_requests_total\{route="([^"]+)",status="(\d+)"\} (\d+)$/gm))
    out[m[1]] = (out[m[1]] || 0) + Number(m[3]);
  return out;
}

describe("the overview, live", () => {
  let dir, demo, b;
  before(async () => {
    dir = tempDir("freshet-browser-overview-");
    demo = await startDemo(dir.path, 0);
    b = await openBrowser();
    await eventually(async () => (await json(demo.url + "/api/objects")).doc.objects.every((o) => o.last_sync_at),
                     30000 * SLOW, "the first sync");
  });
  after(async () => {
    await b?.browser.close();
    await demo?.stop();
    dir?.remove();
  });

  test("a change and a deletion in the simulator move the chart and the feed within a second", async () => {
    const { page, errors } = b;
    await page.goto(demo.url + "/");
    await page.waitForSelector('svg.breakdown[data-object="laptops"] rect', { timeout: 15000 * SLOW });
    assert.deepEqual(await chartCounts(page), await storeCounts(demo.url));
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));

    let sawUpdate = false, sawDelete = false;
    const feedShows = (id, ms) => page.waitForSelector(`.feed-item[data-id="${id}"]`, { state: "attached", timeout: ms }).then(() => true, () => false);
    for (let i = 0; i < 300 && !(sawUpdate && sawDelete); i++) {
      const { doc } = await json(demo.simUrl + "/_sim/changes", { method: "POST", body: { count: 1 } });
      const c = doc.applied[0];
      const t0 = Date.now();
      const wanted = c.object === "object_1" && ((c.op === "updated" && !sawUpdate) || (c.op === "deleted" && !sawDelete));
      if (!wanted) {
        await feedShows(c.id, 1000 * SLOW);  // let it land before the next one
        continue;
      }
      assert.ok(await feedShows(c.id, 1000 * SLOW), `the feed tells of ${c.op} ${c.id} within a second`);
      const want = await storeCounts(demo.url);
      await page.waitForFunction((want) => {
        const got = {};
        for (const r of document.querySelectorAll('svg.breakdown[data-object="laptops"] rect'))
          got[`${r.dataset.category}|${r.dataset.series}`] = Number(r.dataset.value);
        const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
        return [...keys].every((k) => (got[k] || 0) === (want[k] || 0));
      }, want, { timeout: 1000 * SLOW, polling: 20 });
      assert.ok(Date.now() - t0 <= 1000 * SLOW + 100, `within a second (${Date.now() - t0} ms)`);
      const told = await page.$eval(`.feed-item[data-id="${c.id}"] .what`, (e) => e.textContent);
      assert.match(told, c.op === "deleted" ? /removed from laptops/ : /^HTI-\d+ /, told);
      if (c.op === "deleted") sawDelete = true;
      else sawUpdate = true;
    }
    assert.ok(sawUpdate && sawDelete, "the simulator made an update of status and a deletion");
    assert.deepEqual(requests, [], "no request to the server for a change");
    assert.deepEqual(errors, []);
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-overview.png"), fullPage: true });
  });

  test("capacity: the training sessions fullest first, as the store holds them, and filling up live", async () => {
    const { page } = b;
    const shown = () => page.$$eval(".capacity li", (l) => l.map((li) => [li.dataset.id, Number(li.dataset.share)]));
    const expected = async () => [...(await storeRecords(demo.url, "training_sessions")).values()]
      .filter((r) => r.capacity > 0)
      .map((r) => [r.id, Math.round((r.registrations / r.capacity) * 1000) / 1000])
      .sort((a, b) => b[1] - a[1]);
    const check = async () => {
      const got = await shown(), want = await expected();
      // The same shares in the same order (ties may list either record first).
      return got.length === Math.min(12, want.length) && got.every(([, share], i) => share === want[i][1]) && got;
    };
    await eventually(check, 2000 * SLOW, "the capacity view to equal the store");
    // Registrations change in the simulator until one moves the view.
    const before = JSON.stringify(await shown());
    for (let i = 0; i < 200 && JSON.stringify(await shown()) === before; i++)
      await json(demo.simUrl + "/_sim/changes", { method: "POST", body: { count: 1 } });
    await eventually(check, 2000 * SLOW, "the capacity view to follow the change");
  });

  test("the feed holds still under the pointer and says what waits", async () => {
    const { page } = b;
    const firstNow = () => page.$eval(".feed-item .what", (e) => e.textContent);
    await page.hover(".feed");
    const held = await firstNow();
    for (let i = 0; i < 5; i++) await json(demo.simUrl + "/_sim/changes", { method: "POST", body: { count: 2 } });
    await page.waitForFunction(() => /Paused .*: \d+ new/.test(document.querySelector(".feed-note").textContent), null, { timeout: 3000 * SLOW });
    assert.equal(await firstNow(), held);
    await page.mouse.move(0, 0);
    await page.waitForFunction((h) => document.querySelector(".feed-item .what").textContent !== h, held, { timeout: 2000 * SLOW });
    assert.equal(await page.textContent(".feed-note"), "");
  });
});

describe("goal pace against known days", () => {
  let st;
  const GOAL = `[[goals]]\nname = "laptops_ready"\nlabel = "Laptops ready"\nobject = "laptops"\n` +
               `where = { status = "Ready for Donation" }\ntarget = 5000\ndeadline = 2027-01-15\n`;
  before(async () => {
    st = await startStack("freshet-browser-pace-", { extra: GOAL });
    await eventually(async () => (await json(st.server.url + "/api/objects")).doc.objects.every((o) => o.last_sync_at),
                     30000 * SLOW, "the first sync");
    // The closing figures of three past days, as the rules would have kept them.
    await st.server.stop();
    const today = Math.floor((Date.now() - new Date().getTimezoneOffset() * 60000) / 86400000);
    const rows = [[today - 14, 100], [today - 7, 150], [today - 1, 190]];
    execFileSync("sqlite3", [join(st.dir.path, "freshet.db"),
      rows.map(([d, v]) => `INSERT INTO rule_state(key, value) VALUES ('day:laptops_ready:${d}', '${v}');`).join("\n")]);
    st.server = await startServe(st.dir.path, st.opts, st.env);
  });
  after(async () => st && (await st.stop()));

  test("the sparkline has the days, the projection is the 14-day pace's, and it says behind the deadline", async () => {
    const { page, errors } = st.browser;
    await page.goto(st.server.url + "/");
    const goal = '.goal[data-goal="laptops_ready"]';
    // The goal's figure is computed again after the restart: the projection
    // comes once it is known (a metric event may bring it after the page loaded).
    await page.waitForSelector(`${goal} svg.sparkline`, { timeout: 15000 * SLOW });
    await page.waitForSelector(`${goal} .pace[data-reached]:not([data-reached=""])`, { timeout: 15000 * SLOW });
    const value = Number(await page.getAttribute(goal, "data-value"));
    const points = (await page.getAttribute(`${goal} svg.sparkline polyline`, "points")).trim().split(/\s+/);
    assert.equal(points.length, 4, "three days and now");
    // Worked out here, independently: (value now - value 14 days ago) / 14 a day.
    const perDay = (value - 100) / 14;
    const today = Math.floor((Date.now() - new Date().getTimezoneOffset() * 60000) / 86400000);
    const reached = new Date((today + Math.ceil((5000 - value) / perDay)) * 86400000).toISOString().slice(0, 10);
    assert.equal(await page.getAttribute(`${goal} .pace`, "data-reached"), reached);
    const behind = reached > "2027-01-15";
    assert.equal(await page.getAttribute(`${goal} .pace`, "data-behind"), String(behind));
    assert.equal(await page.$eval(`${goal} .pace`, (e) => e.classList.contains("behind")), behind);
    assert.match(await page.textContent(`${goal} .pace`), behind ? /after the 2027-01-15 deadline/ : /before the 2027-01-15 deadline/);
    assert.deepEqual(errors, []);
  });
});

describe("accessibility", () => {
  let dir, demo, b, context;
  before(async () => {
    dir = tempDir("freshet-browser-a11y-");
    demo = await startDemo(dir.path, 0);
    b = await openBrowser();
    // axe-core is injected into the page, which the dashboard's own CSP forbids.
    context = await b.browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await b?.browser.close();
    await demo?.stop();
    dir?.remove();
  });

  // The table for one tenant (some 450 rows): axe reads every cell, and all
  // 2,400 make it slow without finding more.
  for (const [name, hash, ready, tenant] of [["overview", "#/", 'svg.breakdown[data-object="laptops"] rect'],
                                             ["an object's table", "#/objects/laptops", "table.records tbody tr[data-id]", "hennepin"],
                                             ["operations", "#/ops", "#page h2"]]) {
    test(`${name}: no WCAG 2 A or AA violation (axe-core), every control reachable by keyboard`, async () => {
      const page = await context.newPage();
      if (tenant) await page.addInitScript((t) => sessionStorage.setItem("freshet-tenant", t), tenant);
      await page.goto(demo.url + "/" + hash);
      await page.waitForSelector(ready, { timeout: 15000 * SLOW });
      await page.waitForTimeout(300);
      await page.addScriptTag({ path: AXE });
      const result = await page.evaluate(() => window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa"] }));
      const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")}`);
      assert.deepEqual(found, []);
      // Tab through the page: every visible control gets the focus.
      const selector = "a[href], button:not([disabled]), select, input, [tabindex]:not([tabindex='-1'])";
      const visible = (sel) => page.$$eval(sel, (els) => els.filter((e) => e.offsetParent !== null && !e.closest("dialog")).map((e) => e.outerHTML.slice(0, 80)));
      const controls = await visible(selector);
      for (let i = 0; i < controls.length + 5; i++) {
        await page.keyboard.press("Tab");
        await page.evaluate(() => document.activeElement?.setAttribute("data-tab-reached", ""));
      }
      const missed = await page.$$eval(selector, (els) => els.filter((e) => e.offsetParent !== null && !e.closest("dialog") &&
                                                                      !e.hasAttribute("data-tab-reached")).map((e) => e.outerHTML.slice(0, 80)));
      assert.deepEqual(missed, [], `controls Tab never reached (of ${controls.length})`);
      await page.close();
    });
  }
});

describe("no polling behind the stream", () => {
  let dir, demo, b;
  const SECONDS = SLOW > 1 ? 15 : 60;  // 60 s as the issue measures it; the sanitizer build's run checks memory, shorter
  before(async () => {
    dir = tempDir("freshet-browser-nopoll-");
    demo = await startDemo(dir.path, 2);
    b = await openBrowser();
  });
  after(async () => {
    await b?.browser.close();
    await demo?.stop();
    dir?.remove();
  });

  test(`with the trickle running for ${SECONDS} s the page asks for nothing but its stream`, async () => {
    const { page, errors } = b;
    await page.goto(demo.url + "/");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 15000 * SLOW });
    await page.waitForSelector('svg.breakdown[data-object="training_sessions"] rect', { timeout: 15000 * SLOW });
    await page.waitForTimeout(1000);  // the initial loads are done
    const requests = [];
    page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
    const feedBefore = await page.$$eval(".feed-item", (l) => l.length);
    const before = await served(demo.url);
    await page.waitForTimeout(SECONDS * 1000);
    const afterwards = await served(demo.url);
    assert.deepEqual(requests, [], "the page made requests while live");
    // The server agrees: besides this test's /metrics read and the simulator's
    // webhooks (the trickle's changes), it answered nothing.
    for (const [route, n] of Object.entries(afterwards))
      if (route !== "/api/webhooks/{source}")
        assert.equal(n - (before[route] || 0), route === "/metrics" ? 1 : 0, `${route} was requested`);
    assert.ok((afterwards["/api/webhooks/{source}"] || 0) > (before["/api/webhooks/{source}"] || 0), "the trickle's webhooks came in");
    assert.ok((await page.$$eval(".feed-item", (l) => l.length)) > feedBefore, "changes kept arriving");
    assert.deepEqual(errors, []);
  });
});
