// Notifications on the operations page, in a real browser: rules fire on
// changes the Knack simulator makes, one notifier delivers to the Slack
// receiver (`freshet simulate slack`) and one is refused by it for good; the
// overview's feed tells each delivered one as it arrives on the stream, and
// the operations page shows both notifiers' states and the messages with
// their status.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { join } from "node:path";
import { ARTIFACTS, SLOW, eventually, json, startProcess, startStack, stopProcess } from "./harness.mjs";

const RULES = `
[notifications]
allow_private_targets = true

[[notifiers]]
name = "good"
kind = "slack"
url_env = "GOOD_SLACK_URL"

[[notifiers]]
name = "broken"
kind = "slack"
url_env = "BROKEN_SLACK_URL"

[[rules]]
name = "laptop_changed"
object = "laptops"
when = 'op = "updated"'
notify = ["good", "broken"]
message = "{serial} is now {status} in {tenant}"
summary = "{count} laptops changed in {tenant}: {names}"
name_field = "serial"
coalesce_seconds = 1
`;

describe("notifications on the operations page", () => {
  let slack, st;
  before(async () => {
    slack = await startProcess(["simulate", "slack", "--listen", "127.0.0.1:0"], [/on (http:\/\/127\.0\.0\.1:\d+)/]);
    const base = slack.matches[0][1];
    st = await startStack("freshet-browser-notify-", {
      extra: RULES,
      env: { GOOD_SLACK_URL: base + "/services/T1/B1/laptops", BROKEN_SLACK_URL: base + "/services/T1/B2/channel_not_found" },
    });
  });
  after(async () => {
    await st?.stop();
    if (slack) await stopProcess(slack.proc);
  });

  test("shows delivered messages, and the failing notifier with its reason and waiting messages", async () => {
    const { page, errors } = st.browser;
    // Wait for the first sync, so that the changes below are updates the rules see.
    await eventually(async () => (await json(st.server.url + "/api/objects")).doc.objects.every((o) => o.last_sync_at),
                     30000 * SLOW, "the first sync");
    // The overview's feed, live before the changes: each delivered
    // notification arrives on the stream and is told there.
    await page.goto(st.server.url + "/");
    await page.waitForSelector('#state[data-state="live"]', { timeout: 15000 * SLOW });
    const { doc: made } = await json(st.sim.url + "/_sim/changes", { method: "POST", body: { count: 40 } });
    assert.ok(made.applied.some((c) => c.op === "updated" && c.object === "object_1"), "some laptop was updated");
    await eventually(async () => (await json(slack.matches[0][1] + "/_sim/messages")).doc.messages.length > 0,
                     15000 * SLOW, "a message at the Slack receiver");
    const told = () => page.$$eval("ol.feed li.feed-item.notification .what", (els) => els.map((e) => e.textContent));
    await eventually(async () => (await told()).length > 0, 15000 * SLOW, "a delivered notification in the feed");
    {
      const { doc: got } = await json(slack.matches[0][1] + "/_sim/messages");
      // Every one told was delivered by "good", in the words the receiver got;
      // "broken" delivered nothing, so the feed has nothing of it.
      for (const line of await told()) {
        assert.match(line, /^Notified good: /);
        assert.ok(got.messages.some((m) => m.text === line.replace(/^Notified good: /, "")), line);
      }
    }

    await page.goto(st.server.url + "/#/ops");
    const notifier = (name) => page.$$eval('table[aria-label="Notifiers"] tbody tr', (trs, n) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent)).find((r) => r[0] === n), name);
    await eventually(async () => (await notifier("good"))?.[2] === "delivering" &&
                                 /^failing: .*channel_not_found/.test((await notifier("broken"))?.[2] ?? ""),
                     15000 * SLOW, "both notifiers' states on the page");
    const rows = async () => page.$$eval('table[aria-label="Latest notifications"] tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    await eventually(async () => {
      const r = await rows();
      return r.some((x) => x[2] === "good" && x[3] === "delivered" && /laptops? changed|is now/.test(x[5])) &&
             r.some((x) => x[2] === "broken" && x[3] === "pending");
    }, 15000 * SLOW, "a delivered and a waiting message in the list");
    // What the page says is what the receiver got.
    const { doc: got } = await json(slack.matches[0][1] + "/_sim/messages");
    const delivered = (await rows()).filter((x) => x[2] === "good" && x[3] === "delivered").map((x) => x[5]);
    for (const text of delivered) assert.ok(got.messages.some((m) => m.text === text), text);
    assert.equal(got.rate_limited, 0);
    await page.screenshot({ path: join(ARTIFACTS, "ops-notifications.png"), fullPage: true });
    assert.deepEqual(errors, []);
  });
});
