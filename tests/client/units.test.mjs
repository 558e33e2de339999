// The client's pieces on their own (no server): the rule that skips what a
// snapshot page already holds, id order, backoff, token renewal, the
// text/event-stream parser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RecordSet, backoffMs, compareIds, readEventStream, renewalDelayMs } from "../../clients/js/freshet.js";

const rec = (id, v) => ({ id, v });
const upd = (id, rid, v, extra = {}) => ({ id, op: "updated", record_id: rid, record: rec(rid, v), tenant: "t", ...extra });

test("a change a later snapshot page already includes is skipped; one after it applies", () => {
  // Page 1 read at 10 holds a; page 2 read at 14 holds b (b changed at 12 meanwhile).
  const set = new RecordSet({ records: [rec("a", 1), rec("b", 12)], versions: new Map([["a", "10"], ["b", "14"]]) });
  assert.equal(set.apply(upd("11", "a", 11)).previous.v, 1);
  assert.equal(set.apply(upd("12", "b", 12)), null, "b at 12 is in page 2 already");
  assert.equal(set.apply(upd("15", "b", 15)).previous.v, 12);
  assert.equal(set.records.get("b").v, 15);
  // A creation of a record no page held applies; a deletion of one never seen does nothing.
  assert.ok(set.apply({ id: "16", op: "created", record_id: "c", record: rec("c", 16), tenant: "t" }));
  assert.equal(set.apply({ id: "17", op: "deleted", record_id: "zz", record: null, tenant: "t" }), null);
});

test("a move between tenants: the arrival's previous is the record that left, only for that arrival", () => {
  const set = new RecordSet({ records: [rec("a", 1)], versions: new Map([["a", "1"]]) });
  assert.equal(set.apply({ id: "2", op: "deleted", record_id: "a", record: null, tenant: "t", moved_to: "u" }).previous.v, 1);
  assert.equal(set.records.has("a"), false);
  assert.equal(set.apply(upd("3", "a", 3, { tenant: "u" })).previous.v, 1);
  // A view that does not follow `u` never sees the arrival: a later return is no continuation.
  set.apply({ id: "4", op: "deleted", record_id: "a", record: null, tenant: "u", moved_to: "v" });
  assert.equal(set.apply(upd("9", "a", 9, { tenant: "t" })).previous, null);
});

test("ids compare by their numbers, decimal and stream-style; other forms do not compare", () => {
  assert.equal(compareIds("9", "10"), -1);
  assert.equal(compareIds("100", "100"), 0);
  assert.equal(compareIds("1700000000000-10", "1700000000000-9"), 1);
  assert.equal(compareIds("18446744073709551615", "18446744073709551614"), 1);
  assert.equal(compareIds("abc", "1"), null);
  // Incomparable ids are applied rather than skipped.
  const set = new RecordSet({ records: [rec("a", 1)], versions: new Map([["a", "x"]]) });
  assert.ok(set.apply(upd("y", "a", 2)));
});

test("backoff doubles to a cap, jittered between half and all of it", () => {
  assert.equal(backoffMs(0, { random: () => 0 }), 250);
  assert.equal(backoffMs(0, { random: () => 1 }), 500);
  assert.equal(backoffMs(3, { random: () => 1 }), 4000);
  assert.equal(backoffMs(30, { random: () => 1 }), 30000);
  const spread = new Set(Array.from({ length: 50 }, () => backoffMs(4)));
  assert.ok(spread.size > 10, "jittered");
});

test("a JWT is renewed a minute before exp, or at 80% of a life under five minutes; others never", () => {
  const jwt = (claims) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;
  assert.equal(renewalDelayMs(jwt({ exp: 1000 + 3600 }), 1000 * 1000), 3540000);
  assert.equal(renewalDelayMs(jwt({ exp: 1000 + 30 }), 1000 * 1000), 24000);
  assert.equal(renewalDelayMs(jwt({ exp: 1000 + 280 }), 1000 * 1000), 224000);
  assert.equal(renewalDelayMs(jwt({ exp: 999 }), 1000 * 1000), 0);
  assert.equal(renewalDelayMs(jwt({ sub: "x" })), null);
  assert.equal(renewalDelayMs("a-configured-token"), null);
});

test("the event-stream parser: fields, comments, multi-line data, lines split across chunks", async () => {
  const text = ": ping\nretry: 2000\n\nid: 7\nevent: change\ndata: {\"a\":\ndata: 1}\n\r\nid: 8\r\nevent: job\r\ndata: {}\r\n\r\ndata: x\n\n";
  // Every split point, so a \r\n or a field can fall across two reads.
  for (let cut = 1; cut < text.length; cut += 3) {
    const bytes = new TextEncoder().encode(text);
    const body = new ReadableStream({
      start(c) {
        c.enqueue(bytes.slice(0, cut));
        c.enqueue(bytes.slice(cut));
        c.close();
      },
    });
    const got = [];
    await readEventStream(body, (type, data, id) => got.push([type, data, id]));
    assert.deepEqual(got, [["change", "{\"a\":\n1}", "7"], ["job", "{}", "8"], ["message", "x", "8"]], `cut at ${cut}`);
  }
});
