// Freshet's dashboard, and a reference client of its public API: one event
// stream for the chosen tenant (or all), snapshots of records loaded when a
// table is opened, and every change applied to them as it arrives.
//
// Gapless and exactly once: the stream is opened first; while an object's
// snapshot loads, that object's events are held; once it has loaded they go
// through the client's RecordSet, which skips what a snapshot page already
// included (the same rule as the client's connect()).
import { ApiError, call, client, setToken, token } from "./api.js";
import { RecordSet } from "./freshet.js";
import { ago, el } from "./format.js";
import { LiveStream } from "./stream.js";
import { breakdownFields, renderBreakdown } from "./views/breakdown.js";
import { capacityFields, renderCapacity } from "./views/capacity.js";
import { Feed } from "./views/feed.js";
import { renderGoals } from "./views/goals.js";
import { newest, renderOverview, tenantRows } from "./views/overview.js";
import { OpsPage } from "./views/ops.js";
import { RefreshDialog } from "./views/refresh.js";
import { ObjectTable } from "./views/table.js";

const $ = (id) => document.getElementById(id);
const TENANT_KEY = "freshet-tenant";

const model = {
  objects: [],              // GET /api/objects
  goals: new Map(),         // name -> {name, label, value, target}
  tenant: sessionStorage.getItem(TENANT_KEY) || "",
  staleAfter: 3600,
  lastChange: new Map(),    // tenant -> ISO time of the newest change seen here
};
const records = new Map();  // object -> RecordSet, once its snapshot loaded
const held = new Map();     // object -> events held while its snapshot loads
let view = null;            // {kind: "overview" | "table" | "ops", table?, ops?}
let reloadOnLive = true;    // the stream starts (or restarts) with no resume point
const refresh = new RefreshDialog();
const feed = new Feed();
const BREAKDOWN_KEY = "freshet-breakdown";
const breakdownChoice = JSON.parse(sessionStorage.getItem(BREAKDOWN_KEY) || "{}");  // object -> field

const stream = new LiveStream({
  onState: showState,
  onEvent: (type, ev) => {
    if (type === "change") onChange(ev);
    else if (type === "metric") onMetric(ev);
    else if (type === "job") refresh.onJob(ev);
    else if (type === "message" && !ev.message?.notification) showMessage(ev);  // a notification is the feed's
    if (type !== "change") feed.add(type, ev);
    else if (type === "reset") reloadAll();
  },
});

function showState(state, detail) {
  const s = $("state");
  const words = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline" };
  s.textContent = words[state] || state;
  s.className = "state " + state;
  s.title = detail || "";
  s.dataset.state = state;
  if (state === "live" && reloadOnLive) {
    reloadOnLive = false;
    reloadAll();
  }
  if (state === "reconnecting" && !stream.lastId) reloadOnLive = true;  // nothing to resume from
}

// ---- data ----

async function loadObjects() {
  const { doc } = await call("/api/objects");
  model.objects = doc.objects;
  model.staleAfter = doc.stale_after_seconds;
  model.access = doc.access || { scopes: [], tenants: null };
  for (const g of doc.goals || []) {
    const mine = model.goals.get(g.name);
    // A metric event may have overtaken this read: keep the newer figure.
    if (!mine || mine.fromEvent !== true) model.goals.set(g.name, g);
    else model.goals.set(g.name, { ...g, value: mine.value ?? g.value, tenants: mine.tenants ?? g.tenants, fromEvent: true });
  }
  fillTenants();
  renderGoals($("goals"), model.goals, model.tenant);
  if (view?.kind === "overview") drawOverview();
  showUpdated();
  watchStaleness();
}

// Counts and sync times come once from /api/objects; after that the change
// events keep the counts (the page makes no periodic request while live).
// What events cannot tell, a sync that changed nothing, matters only for the
// stale warning: the objects are read again once, when the first of them
// would turn stale.
let staleTimer = null;
function watchStaleness() {
  clearTimeout(staleTimer);
  const syncs = model.objects.flatMap((o) => o.tenants.map((t) => Date.parse(t.last_sync_at || 0))).filter((t) => t > 0);
  if (!syncs.length) return;
  const due = Math.min(...syncs) + model.staleAfter * 1000 - Date.now();
  staleTimer = setTimeout(() => loadObjects().catch(() => {}), Math.max(60000, due + 1000));
}

// A change moves its object's and tenant's counts (a move between tenants:
// the deleted with moved_to leaves one tenant and joins the other).
function countChange(ev) {
  const o = model.objects.find((x) => x.name === ev.object);
  if (!o) return;
  const tenantRow = (t) => {
    let row = o.tenants.find((x) => x.tenant === (t ?? null));
    if (!row) o.tenants.push((row = { tenant: t ?? null, records: 0, last_sync_at: null, stale: false }));
    return row;
  };
  if (ev.op === "created") {
    o.records++;
    tenantRow(ev.tenant).records++;
  } else if (ev.op === "deleted") {
    tenantRow(ev.tenant).records--;
    if (ev.moved_to !== undefined) tenantRow(ev.moved_to).records++;
    else o.records--;
  }
}

let overviewFrame = 0;
function redrawOverviewSoon() {
  if (overviewFrame || view?.kind !== "overview") return;
  overviewFrame = requestAnimationFrame(() => {
    overviewFrame = 0;
    if (view?.kind === "overview") drawOverview();
  });
}

function drawOverview() {
  renderOverview($("page"), model, feed.box);
  const charts = $("breakdowns");
  for (const o of model.objects) {
    const set = records.get(o.name);
    if (!set) continue;
    const fields = breakdownFields(set.records.values());
    if (!fields.length) continue;
    const field = fields.includes(breakdownChoice[o.name]) ? breakdownChoice[o.name] : fields[0];
    const cap = capacityFields(set.records.values());
    if (cap) {
      let capBox = charts.querySelector(`.capacity-card[data-object="${CSS.escape(o.name)}"]`);
      if (!capBox) charts.append((capBox = el("div", { className: "breakdown-card capacity-card", dataset: { object: o.name } })));
      renderCapacity(capBox, o.name, set.records, cap);
    }
    let box = charts.querySelector(`.breakdown-card:not(.capacity-card)[data-object="${CSS.escape(o.name)}"]`);
    if (!box) charts.append((box = el("div", { className: "breakdown-card", dataset: { object: o.name } })));
    renderBreakdown(box, {
      object: o.name, records: set.records, field, fields,
      seriesField: model.tenant ? null : o.tenant_field,
      onField: (f) => {
        breakdownChoice[o.name] = f;
        sessionStorage.setItem(BREAKDOWN_KEY, JSON.stringify(breakdownChoice));
        drawOverview();
      },
    });
  }
}

// Every object's records, for the charts (once the stream is open).
async function loadAllRecords() {
  for (const o of model.objects) if (!records.has(o.name) && !held.has(o.name)) await loadRecords(o.name);
  redrawOverviewSoon();
}

async function loadRecords(object) {
  held.set(object, []);
  const set = new RecordSet(await client.snapshot(object, { tenant: model.tenant || undefined }));
  records.set(object, set);
  for (const ev of held.get(object) || []) set.apply(ev);
  held.delete(object);
  return set;
}

function onChange(ev) {
  if (ev.tenant && ev.at) model.lastChange.set(ev.tenant, ev.at);
  if (held.has(ev.object)) held.get(ev.object).push(ev);
  else if (records.has(ev.object)) {
    const applied = records.get(ev.object).apply(ev);
    if (applied && view?.kind === "table" && view.object === ev.object) view.table?.applyChange(ev);
  }
  countChange(ev);
  feed.add("change", ev);
  redrawOverviewSoon();
  showUpdated();
}

// A goal's total has no tenant; a per-tenant goal's events carry their tenant
// and move that tenant's figure only.
function onMetric(ev) {
  if (!ev.metric) return;
  const g = model.goals.get(ev.metric) || { name: ev.metric };
  const next = { ...g, label: ev.label ?? g.label, target: ev.target ?? g.target, fromEvent: true };
  if (ev.tenant) next.tenants = { ...(g.tenants || {}), [ev.tenant]: ev.value };
  else next.value = ev.value;
  model.goals.set(ev.metric, next);
  renderGoals($("goals"), model.goals, model.tenant);
}

// After a tenant switch, a `reset`, or a stream that had nothing to resume from.
async function reloadAll() {
  records.clear();
  held.clear();
  try {
    await loadObjects();
    if (view?.kind === "table") await showTable(view.object);
    await loadAllRecords();
  } catch (e) {
    showError(e);
  }
}

// ---- tenants ----

function fillTenants() {
  const select = $("tenant");
  // A tenant-scoped token lists its tenants (known before any is synced) and
  // may not watch all of them at once.
  const scoped = model.access?.tenants;
  const names = new Set(scoped || []);
  if (!scoped) for (const o of model.objects) for (const t of o.tenants) if (t.tenant !== null) names.add(t.tenant);
  const want = ["", ...[...names].sort()];
  const have = [...select.options].map((o) => o.value);
  if (want.join("\n") !== have.join("\n")) {
    select.replaceChildren(...want.map((t) => el("option", { value: t }, t || "All tenants")));
  }
  select.options[0].disabled = Boolean(scoped);
  select.value = model.tenant;
  $("refresh").disabled = !model.tenant;
  $("refresh").title = model.tenant ? `Re-read ${model.tenant} from the upstream now` : "Choose a tenant to refresh it";
}

$("tenant").addEventListener("change", (e) => {
  model.tenant = e.target.value;
  sessionStorage.setItem(TENANT_KEY, model.tenant);
  fillTenants();
  startStream();
});

function startStream() {
  reloadOnLive = true;
  stream.start(model.tenant, null);
}

$("refresh").addEventListener("click", () => {
  if (model.tenant) refresh.start(model.tenant);
});

// ---- header lines ----

function showUpdated() {
  const rows = tenantRows(model);
  const when = newest(rows.map((r) => r.updated));
  $("updated").textContent = `${model.tenant || "All tenants"} · Last updated: ${ago(when)}`;
}
setInterval(() => {
  showUpdated();
  redrawOverviewSoon();
}, 15000);

let messageTimer = null;
function showMessage(ev) {
  const text = typeof ev.message === "string" ? ev.message : ev.message?.text ?? JSON.stringify(ev.message);
  const box = $("updated");
  box.textContent = `Message: ${text}`;
  clearTimeout(messageTimer);
  messageTimer = setTimeout(showUpdated, 10000);
}

function showError(e) {
  $("page").replaceChildren(el("p", { className: "error", role: "alert" }, e.message || String(e)));
}

// ---- pages ----

async function showTable(object) {
  const page = $("page");
  const known = model.objects.find((o) => o.name === object);
  if (!known) {
    page.replaceChildren(el("p", { className: "error", role: "alert" }, `No object is called ${object}.`));
    return;
  }
  // A reload (a reset, a stream that could not resume) keeps the rows on
  // screen until the new snapshot replaces them: no flash of an empty table.
  const reloading = view?.table && $("table");
  if (!reloading) {
    page.replaceChildren(el("h2", { className: "section" }, object), el("div", { id: "table" }, el("p", { className: "muted" }, "Loading records…")));
  }
  if (reloadOnLive) return;  // the snapshot is read once the stream is open (reloadAll)
  const set = records.get(object) || (await loadRecords(object));
  if (view?.kind !== "table" || view.object !== object) return;  // navigated away meanwhile
  view.table = new ObjectTable($("table"), object, set.records);
  // Held events were applied to the map already; the table starts from it.
}

async function route() {
  view?.ops?.stop();
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("nav a")) a.removeAttribute("aria-current");
  const m = hash.match(/^#\/objects\/(.+)$/);
  if (m) {
    view = { kind: "table", object: decodeURIComponent(m[1]) };
    try {
      await showTable(view.object);
    } catch (e) {
      showError(e);
    }
  } else if (hash === "#/ops") {
    view = { kind: "ops", ops: new OpsPage($("page")) };
    document.querySelector('nav a[data-page="ops"]').setAttribute("aria-current", "page");
    view.ops.start();
  } else {
    view = { kind: "overview" };
    document.querySelector('nav a[data-page="overview"]').setAttribute("aria-current", "page");
    drawOverview();
  }
}
addEventListener("hashchange", route);

// ---- start ----

function askForToken(message) {
  const dialog = $("token-dialog");
  $("token-error").textContent = message || "";
  $("token").value = "";
  if (!dialog.open) dialog.showModal();
}

$("token-form").addEventListener("submit", () => {
  setToken($("token").value.trim());
  boot();
});

async function boot() {
  try {
    await loadObjects();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      setToken("");
      askForToken(token() ? "" : e.message);
      showState("offline", "needs a token");
      return;
    }
    showError(e);
    showState("offline", e.message);
    return;
  }
  // A token that may not watch every tenant starts on its first (or the one
  // chosen before in this tab, if it may); so does a deployment with a
  // single tenant, which makes Refresh ready.
  const scoped = model.access.tenants;
  const tenants = [...$("tenant").options].slice(1).map((o) => o.value);
  if (scoped ? !scoped.includes(model.tenant) : !model.tenant && tenants.length === 1) {
    model.tenant = tenants[0] || "";
    fillTenants();
  }
  await route();
  startStream();
}

boot();
