// The client as people get it: `npm pack` of clients/js, installed into a
// scratch project from the tarball, imported by its name, used against the
// real server; and the same file served by the binary at /freshet.js.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BIN, CLIENT_DIR, TOKEN, deliver, freePort, startServe, tempDir } from "./harness.mjs";

let dir, server;
before(async () => {
  dir = tempDir("freshet-pack-");
  server = await startServe({ port: await freePort(), dataDir: dir.path + "/data" });
  for (let i = 0; i < 5; i++) await deliver(server.url, "record.created", `p${i}`, { name: `packed ${i}`, region: "north" });
});
after(async () => {
  await server?.stop();
  dir?.remove();
});

test("npm pack ships the module, its types and README; a project installs it and imports it by name", () => {
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir.path], { cwd: CLIENT_DIR, encoding: "utf8" });
  const [packed] = JSON.parse(out);
  assert.deepEqual(packed.files.map((f) => f.path).sort(), ["README.md", "freshet.d.ts", "freshet.js", "package.json"]);

  const project = join(dir.path, "project");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", join(dir.path, packed.filename)], { cwd: project, stdio: "pipe" });
  writeFileSync(join(project, "main.js"), `
import { connect, FreshetError } from "freshet";
const live = connect({ url: process.argv[2], token: process.argv[3], object: "contacts" });
await live.ready;
console.log(JSON.stringify({ size: live.records.size, name: live.records.get("p3")?.name, error: typeof FreshetError }));
live.close();
`);
  const result = JSON.parse(execFileSync("node", ["main.js", server.url, TOKEN], { cwd: project, encoding: "utf8", timeout: 30000 }));
  assert.deepEqual(result, { size: 5, name: "packed 3", error: "function" });
});

test("the binary serves the same client at /freshet.js, and its declarations", async () => {
  const res = await fetch(server.url + "/freshet.js");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /javascript/);
  assert.equal(await res.text(), readFileSync(join(CLIENT_DIR, "freshet.js"), "utf8"));
  const types = await fetch(server.url + "/freshet.d.ts");
  assert.equal(await types.text(), readFileSync(join(CLIENT_DIR, "freshet.d.ts"), "utf8"));
});

test("the client, the API reference and the binary carry one version", async () => {
  const binary = execFileSync(BIN, ["--version"], { encoding: "utf8" }).trim().replace(/^freshet /, "");
  const pkg = JSON.parse(readFileSync(join(CLIENT_DIR, "package.json"), "utf8"));
  const api = await (await fetch(server.url + "/api/openapi.json")).json();
  assert.deepEqual([pkg.version, api.info.version], [binary, binary]);
});
