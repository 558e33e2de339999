// The JavaScript client against the real server, in Node: a randomized run
// of changes while the server restarts (SIGTERM and kill -9) and while a
// stream is held back until its resume point has been pruned (a `reset`);
// at the end every view's Map equals the store, and no change was applied
// twice or out of order. Then short-lived tokens renewed mid-stream.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { compareIds, connect } from "../../clients/js/freshet.js";
import {
  TOKEN, deliver, eventually, freePort, mintJwt, seeded, sleep, startServe, storeRecords, tempDir,
} from "./harness.mjs";

const REGIONS = ["north", "south", "east"];

// Holds back new /api/events connections while closed, as a network
// partition would; requests already answered are not touched.
function gatedFetch() {
  let open = true, release = () => {};
  let opened = Promise.resolve();
  const f = async (url, opts) => {
    while (!open && String(url).includes("/api/events")) await opened;
    return fetch(url, opts);
  };
  f.close = () => {
    open = false;
    opened = new Promise((r) => (release = r));
  };
  f.open = () => {
    open = true;
    release();
  };
  return f;
}

// Follows what a Live view emits: every applied change's id (once, rising),
// and whether each change met the record as it was just before it: an
// update's `changed.old` is what the Map held, a creation found nothing. A
// change the snapshot already included would meet its own `new` values.
function watch(live) {
  const seen = { ids: [], snapshots: 0, resets: 0, statuses: [], stale: [] };
  live.addEventListener("change", (e) => {
    const { event, previous } = e.detail;
    seen.ids.push(event.id);
    if (event.op === "created" && previous) seen.stale.push(`${event.id} created ${event.record_id}, already there`);
    // A record moving into a tenant view arrives as an update it never held.
    const movedIn = !previous && event.changed?.region;
    if (event.op === "updated" && !movedIn) {
      for (const [field, { old }] of Object.entries(event.changed ?? {}))
        if ((previous?.[field] ?? null) !== (old ?? null))
          seen.stale.push(`${event.id} ${event.record_id}.${field}: held ${previous?.[field]}, the change says it was ${old}`);
    }
  });
  live.addEventListener("snapshot", () => seen.snapshots++);
  live.addEventListener("reset", () => seen.resets++);
  live.addEventListener("status", (e) => seen.statuses.push(e.detail.status));
  return seen;
}

function assertOnceInOrder({ ids, stale }, what) {
  assert.deepEqual(stale, [], `${what}: changes applied on top of themselves`);
  assert.ok(ids.length > 0, `${what}: changes arrived`);
  for (let i = 1; i < ids.length; i++)
    assert.equal(compareIds(ids[i - 1], ids[i]), -1, `${what}: event ${ids[i]} after ${ids[i - 1]} (applied twice or out of order)`);
}

const sorted = (map) => JSON.stringify([...map.entries()].sort(([a], [b]) => a.localeCompare(b)));

// Whether a stream resumed from `id` now starts with a reset (its point was pruned).
async function resumeIsReset(url, id) {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/events?last_event_id=${id}`, { headers: { Authorization: `Bearer ${TOKEN}` }, signal: abort.signal });
  const reader = res.body.getReader();
  let text = "";
  const deadline = Date.now() + 2000;
  while (!/\n\n/.test(text.replace(/^(:[^\n]*\n|retry:[^\n]*\n)+/g, "")) && Date.now() < deadline) {
    const { value, done } = await Promise.race([reader.read(), sleep(200).then(() => ({ value: null }))]);
    if (done) break;
    if (value) text += Buffer.from(value).toString();
  }
  abort.abort();
  return /event: reset/.test(text);
}

describe("connect() in Node against freshet serve", () => {
  let dir, port, server;
  const start = () => startServe({ port, dataDir: dir.path + "/data", server: "retain_events = 40" }).then((s) => (server = s));

  before(async () => {
    dir = tempDir("freshet-client-");
    port = await freePort();
    await start();
  });
  after(async () => {
    await server?.stop();
    dir?.remove();
  });

  test("a randomized run with restarts and a reset ends with every Map equal to the store", async () => {
    const seed = Number(process.env.FRESHET_SEED ?? Date.now() % 100000);
    console.log(`seed ${seed} (FRESHET_SEED=${seed} repeats this run)`);
    const random = seeded(seed);
    const pick = (xs) => xs[Math.floor(random() * xs.length)];
    const change = async () => {
      const id = `c${Math.floor(random() * 40)}`;
      if (random() < 0.2) await deliver(server.url, "record.deleted", id);
      else await deliver(server.url, "record.updated", id, { name: `n${Math.floor(random() * 1000)}`, region: pick(REGIONS), visits: Math.floor(random() * 50) });
    };
    for (let i = 0; i < 30; i++) await change();

    // Small pages: the snapshots span pages read at different log positions.
    const gate = gatedFetch();
    const all = connect({ url: server.url, token: TOKEN, object: "contacts", pageSize: 7, fetch: gate, random });
    const north = connect({ url: server.url, token: TOKEN, object: "contacts", tenant: "north", pageSize: 5, random });
    const seenAll = watch(all), seenNorth = watch(north);
    try {
      // Every kind of interruption at least once, in a seeded order.
      const rounds = ["term", "kill", "reset", "none", "term", "kill", "none"].sort(() => random() - 0.5);
      for (const round of rounds) {
        const writes = (async () => { for (let i = 0; i < 15; i++) await change(); })();
        if (round === "term" || round === "kill") {
          await sleep(random() * 100);
          await writes;
          await server.stop(round === "term" ? "SIGTERM" : "SIGKILL");
          await start();
        } else if (round === "reset") {
          await writes;
          gate.close();
          await server.stop("SIGTERM");  // drops the stream; its reconnection waits at the gate
          await start();
          const resumeFrom = all.lastEventId;
          for (let i = 0; i < 50; i++) await change();  // more than the 40 events retained
          await eventually(() => resumeIsReset(server.url, resumeFrom), 15000, "the resume point to be pruned");
          const resets = seenAll.resets;
          gate.open();
          await eventually(() => seenAll.resets > resets, 10000, "the client to get the reset");
        } else {
          await writes;
        }
      }
      for (let i = 0; i < 20; i++) await change();

      const truth = await storeRecords(server.url);
      const truthNorth = await storeRecords(server.url, "north");
      await eventually(() => sorted(all.records) === sorted(truth) && sorted(north.records) === sorted(truthNorth),
                       10000, "the client's Maps to equal the store");
      assert.ok(truth.size > 0 && truthNorth.size > 0, "the run left records to compare");
      assertOnceInOrder(seenAll, "all tenants");
      assertOnceInOrder(seenNorth, "north");
      assert.ok(seenAll.resets >= 1 && seenAll.snapshots >= 2, "the reset reloaded the snapshot");
      assert.ok(seenAll.statuses.includes("reconnecting") && seenAll.statuses.at(-1) === "live", seenAll.statuses.join(","));
      for (const r of north.records.values()) assert.equal(r.region, "north");
    } finally {
      all.close();
      north.close();
    }
  });

  test("a short-lived token is renewed before it expires and the stream goes on without a gap", async () => {
    let minted = 0;
    const token = async () => {
      minted++;
      return mintJwt({ sub: "staff-1", scope: "read", tenants: ["south"], exp: Math.floor(Date.now() / 1000) + 5 });
    };
    const live = connect({ url: server.url, token, object: "contacts", tenant: "south" });
    const seen = watch(live);
    try {
      await live.ready;
      // Renewal falls due 4 s in (80% of a short life); changes keep coming across it.
      for (let i = 0; i < 60; i++) {
        await deliver(server.url, "record.updated", `s${i % 12}`, { name: `renewed ${i}`, region: "south", visits: i });
        await sleep(100);
      }
      assert.ok(minted >= 2, `the token was renewed (${minted} minted)`);
      const truth = await storeRecords(server.url, "south");
      await eventually(() => sorted(live.records) === sorted(truth), 10000, "the Map to equal the store");
      assertOnceInOrder(seen, "south");
      assert.equal(live.records.get("s11").name, "renewed 59");
    } finally {
      live.close();
    }
  });

  test("a token for another tenant ends in an error, not a retry loop", async () => {
    const live = connect({ url: server.url, object: "contacts", tenant: "north",
                           token: () => mintJwt({ scope: "read", tenants: ["south"], exp: Math.floor(Date.now() / 1000) + 600 }) });
    try {
      const err = await new Promise((resolve) => live.addEventListener("error", (e) => resolve(e.detail)));
      assert.equal(err.status, 403);
      assert.equal(err.code, "forbidden_tenant");
      assert.equal(live.status, "offline");
    } finally {
      live.close();
    }
  });
});
