// The official Airtable JavaScript client (npm `airtable` 0.12.2), pointed at
// `freshet simulate airtable` with its endpointUrl option, as an independent
// peer: if it works against the simulator, the simulator speaks Airtable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import Airtable from "airtable";

const BIN = process.env.FRESHET_BIN ?? new URL("../../build/src/freshet", import.meta.url).pathname;

function startSimulator(...args) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, ["simulate", "airtable", "--listen", "127.0.0.1:0", ...args]);
    const lines = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error("simulator did not start")), 10000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const m = line.match(/http:\/\/127\.0\.0\.1:(\d+)\s+base id: (\w+)\s+token: (\S+)/);
      if (!m) return reject(new Error("unexpected banner: " + line));
      resolve({ proc, port: Number(m[1]), baseId: m[2], token: m[3] });
    });
  });
}

async function simState(sim) {
  const res = await fetch(`http://127.0.0.1:${sim.port}/_sim/state?object=Sign-ups`);
  const doc = await res.json();
  return Object.values(doc.objects)[0];
}

let sim;
let table;
before(async () => {
  sim = await startSimulator("--requests-per-second", "0");
  const base = new Airtable({ apiKey: sim.token, endpointUrl: `http://127.0.0.1:${sim.port}` }).base(sim.baseId);
  table = base("Sign-ups");
});
after(() => sim.proc.kill("SIGTERM"));

test("all() pages through every record in order", async () => {
  const truth = await simState(sim);
  const records = await table.select({ pageSize: 50 }).all();
  assert.equal(records.length, truth.length);
  assert.deepEqual(records.map((r) => r.id), truth.map((r) => r.id));
  assert.deepEqual(records[7].fields, truth[7].fields);
});

test("eachPage sees pages of the asked size; firstPage makes one", async () => {
  const sizes = [];
  await table.select({ pageSize: 100 }).eachPage((records, next) => {
    sizes.push(records.length);
    next();
  });
  assert.equal(sizes.length, 6);
  assert.ok(sizes.slice(0, -1).every((n) => n === 100));
  const first = await table.select({ maxRecords: 30 }).firstPage();
  assert.equal(first.length, 30);
});

test("filterByFormula, fields and sort as the client encodes them", async () => {
  const truth = (await simState(sim)).filter((r) => r.fields.Quarter === "Q4-2025");
  const got = await table
    .select({ filterByFormula: "{Quarter} = 'Q4-2025'", fields: ["Name", "Hours"], sort: [{ field: "Hours", direction: "desc" }] })
    .all();
  assert.equal(got.length, truth.length);
  assert.deepEqual(Object.keys(got[0].fields).sort(), ["Hours", "Name"]);
  const hours = got.map((r) => r.get("Hours"));
  assert.deepEqual(hours, [...hours].sort((a, b) => b - a));
});

test("find, create, update, replace, destroy", async () => {
  const truth = await simState(sim);
  const found = await table.find(truth[3].id);
  assert.deepEqual(found.fields, truth[3].fields);

  const one = await table.create({ Name: "Peer Test", Quarter: "Q1-2026", Status: "Signed up", Hours: 2 });
  assert.match(one.id, /^rec[A-Za-z0-9]{14}$/);
  const two = await table.create([{ fields: { Name: "A" } }, { fields: { Name: "B" } }]);
  assert.equal(two.length, 2);

  const updated = await table.update(one.id, { Status: "Confirmed" });
  assert.equal(updated.get("Status"), "Confirmed");
  assert.equal(updated.get("Hours"), 2);
  const replaced = await table.replace(one.id, { Name: "Only Name" });
  assert.deepEqual(replaced.fields, { Name: "Only Name" });

  const gone = await table.destroy(one.id);
  assert.equal(gone.id, one.id);
  const many = await table.destroy(two.map((r) => r.id));
  assert.equal(many.length, 2);
  const ids = new Set((await simState(sim)).map((r) => r.id));
  for (const r of [one, ...two]) assert.ok(!ids.has(r.id));
});

test("the real errors: unknown record, bad token, unknown field", async () => {
  await assert.rejects(table.find("recDOESNOTEXIST00"), (e) => e.statusCode === 404 && e.error === "NOT_FOUND");
  const wrong = new Airtable({ apiKey: "patWrong", endpointUrl: `http://127.0.0.1:${sim.port}` }).base(sim.baseId);
  await assert.rejects(wrong("Sign-ups").select().firstPage(),
    (e) => e.statusCode === 401 && e.error === "AUTHENTICATION_REQUIRED");
  await assert.rejects(table.create({ Nope: 1 }), (e) => e.statusCode === 422 && e.error === "UNKNOWN_FIELD_NAME");
});

test("the client ignores keys it does not know", async () => {
  const extra = await startSimulator("--requests-per-second", "0", "--extra-keys");
  try {
    const t = new Airtable({ apiKey: extra.token, endpointUrl: `http://127.0.0.1:${extra.port}` }).base(extra.baseId)("Sign-ups");
    const raw = await (await fetch(`http://127.0.0.1:${extra.port}/v0/${extra.baseId}/Sign-ups?pageSize=1`,
      { headers: { Authorization: `Bearer ${extra.token}` } })).json();
    assert.ok("_simExtra" in raw, "the simulator did add the key");
    const all = await t.select({ pageSize: 100 }).all();
    assert.equal(all.length, 600);
    const one = await t.find(all[0].id);
    assert.equal(one.id, all[0].id);
  } finally {
    extra.proc.kill("SIGTERM");
  }
});

test("a 429 is retried by the client until the penalty passes", async () => {
  const limited = await startSimulator("--requests-per-second", "1", "--penalty-seconds", "1");
  try {
    const t = new Airtable({ apiKey: limited.token, endpointUrl: `http://127.0.0.1:${limited.port}` })
      .base(limited.baseId)("Sign-ups");
    const pages = await Promise.all([1, 2, 3].map(() => t.select({ maxRecords: 1 }).firstPage()));
    assert.ok(pages.every((p) => p.length === 1));
    const stats = await (await fetch(`http://127.0.0.1:${limited.port}/_sim/stats`)).json();
    assert.ok(stats.rate_limited > 0, "the simulator did refuse some");
  } finally {
    limited.proc.kill("SIGTERM");
  }
});
