// What the browser tests run: the real freshet binary (demo, serve, simulate)
// over loopback, and Debian's chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BIN, LAPTOPS_GOAL, SLOW, eventually, freePort, knackSource, sleep, stopProcess, tempDir } from "../common/harness.mjs";

export { BIN, SLOW, eventually, freePort, sleep, stopProcess, tempDir };
export const ARTIFACTS = process.env.FRESHET_ARTIFACTS || tmpdir();

// Starts `freshet args...` and resolves once stdout matched every pattern.
export function startProcess(args, patterns, env = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    const timer = setTimeout(() => fail(new Error(`freshet ${args[0]} did not start: ${out}${err.slice(-2000)}`)), 20000 * SLOW);
    const fail = (e) => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(e);
    };
    proc.stdout.on("data", (d) => {
      out += d;
      const found = patterns.map((p) => out.match(p));
      if (found.every(Boolean)) {
        clearTimeout(timer);
        resolve({ proc, matches: found, stderr: () => err, stop: () => stopProcess(proc) });
      }
    });
    proc.stderr.on("data", (d) => (err += d));
    proc.once("exit", (code) => fail(new Error(`freshet ${args[0]} exited (${code}): ${err.slice(-2000)}`)));
  });
}

// `freshet demo` on a free port: {url, simUrl, stop}.
export async function startDemo(dataDir, changesPerSecond = 0) {
  const p = await startProcess(
    ["demo", "--port", "0", "--data-dir", dataDir, "--changes-per-second", String(changesPerSecond)],
    [/open (http:\/\/127\.0\.0\.1:\d+)\//, /Simulated Knack app \(hti\): (http:\/\/127\.0\.0\.1:\d+)/]);
  return { ...p, url: p.matches[0][1], simUrl: p.matches[1][1] };
}

// A stand-alone Knack simulator of the hti data set that announces changes to
// `webhookUrl`, and the [[sources]] block that reads it.
export async function startKnackSim(webhookUrl, secret, extra = []) {
  const p = await startProcess(
    ["simulate", "knack", "--dataset", "hti", "--listen", "127.0.0.1:0", "--webhook-url", webhookUrl,
     "--webhook-secret", secret, ...extra],
    [/on (http:\/\/127\.0\.0\.1:\d+)\s+app id: (\w+)\s+api key: (\S+)/]);
  const [, url, appId, apiKey] = p.matches[0];
  return { ...p, url, env: { KNACK_APP_ID: appId, KNACK_API_KEY: apiKey, KNACK_WEBHOOK_SECRET: secret } };
}

export const WEBHOOK_SECRET = "whsec_" + Buffer.from("browser-tests-webhook-secret-32b").toString("base64");

// `extra`: TOML appended at the end (rules, notifiers).
export function serveConfig({ port, dataDir, simUrl, server = "", tokens = "", extra = "" }) {
  return `[server]
listen = "127.0.0.1:${port}"
data_dir = "${dataDir}"
auth = "${tokens ? "tokens" : "none"}"
${server}
${tokens}

${knackSource(simUrl)}
${LAPTOPS_GOAL}${extra}`;
}

export async function startServe(dir, opts, env) {
  const path = join(dir, "freshet.toml");
  writeFileSync(path, serveConfig(opts));
  // `serve` logs to stderr; it is up once /readyz answers.
  const proc = spawn(BIN, ["serve", "--config", path], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  const base = `http://127.0.0.1:${opts.port}`;
  for (let i = 0; i < 200 * SLOW; i++) {
    if (proc.exitCode !== null) throw new Error("freshet serve exited: " + err.slice(-2000));
    const ok = await fetch(base + "/readyz").then((r) => r.ok, () => false);
    if (ok) return { proc, url: base, stderr: () => err, stop: () => stopProcess(proc) };
    await sleep(100);
  }
  proc.kill("SIGKILL");
  throw new Error("freshet serve did not become ready: " + err.slice(-2000));
}

// A Knack simulator (hti) announcing its changes to a `freshet serve` that
// reads it, and a browser: {dir, sim, opts, env, server, browser, stop()}.
// `server.restart` keeps the data dir and port.
export async function startStack(prefix, { simArgs = [], server = "", tokens = "", extra = "", env = {} } = {}) {
  const dir = tempDir(prefix);
  const port = await freePort();
  const sim = await startKnackSim(`http://127.0.0.1:${port}/api/webhooks/hti`, WEBHOOK_SECRET, simArgs);
  const stack = { dir, sim, opts: { port, dataDir: dir.path, simUrl: sim.url, server, tokens, extra }, env: { ...sim.env, ...env } };
  try {
    stack.server = await startServe(dir.path, stack.opts, stack.env);
    stack.browser = await openBrowser();
  } catch (e) {
    await stack.server?.stop();
    await sim.stop();
    dir.remove();
    throw e;
  }
  stack.stop = async () => {
    await stack.browser.browser.close();
    await stack.server.stop();
    await sim.stop();
    dir.remove();
  };
  return stack;
}

export async function json(url, { method = "GET", body } = {}) {
  const res = await fetch(url, { method, body: body === undefined ? undefined : JSON.stringify(body),
                                 headers: body === undefined ? {} : { "Content-Type": "application/json" } });
  return { status: res.status, doc: await res.json().catch(() => null), headers: res.headers };
}

// Every record of an object as Freshet's store holds it: id -> record.
export async function storeRecords(base, object) {
  const out = new Map();
  let cursor = "";
  for (let i = 0; i < 100; i++) {
    const { doc } = await json(`${base}/api/objects/${object}/records?limit=1000${cursor ? "&cursor=" + cursor : ""}`);
    for (const r of doc.records) out.set(r.id, r);
    cursor = doc.next_cursor;
    if (!cursor) break;
  }
  return out;
}

// Chromium with a page that records console errors and uncaught exceptions.
export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
           "--disable-extensions", "--no-first-run"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  return { browser, page, errors };
}

