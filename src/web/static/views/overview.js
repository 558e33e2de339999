// The overview: every object with its record count, its tenants, when it was
// last synced and whether that is older than the server's stale threshold;
// then every tenant with "last updated N minutes ago".
import { ago, el, formatNumber } from "../format.js";

// feedBox: the activity feed's element, kept across redraws (it holds its own state).
export function renderOverview(container, model, feedBox) {
  const cards = el("div", { className: "cards" });
  for (const o of model.objects) {
    const tenants = o.tenants.filter((t) => t.tenant !== null);
    const shown = model.tenant ? tenants.filter((t) => t.tenant === model.tenant) : tenants;
    const count = model.tenant ? shown.reduce((n, t) => n + t.records, 0) : o.records;
    const lastSync = model.tenant ? newest(shown.map((t) => t.last_sync_at)) : o.last_sync_at;
    const stale = model.tenant ? shown.some((t) => t.stale) : o.stale;
    cards.append(el("article", { className: "card", dataset: { object: o.name } },
      el("h2", {}, el("a", { href: `#/objects/${encodeURIComponent(o.name)}` }, o.name)),
      el("p", { className: "big", dataset: { count: String(count) } }, formatNumber(count), el("span", {}, " records")),
      el("p", {}, o.tenant_field ? `${tenants.length} ${tenants.length === 1 ? "tenant" : "tenants"} by ${o.tenant_field}` : "no tenants"),
      el("p", { className: "muted" }, `Synced ${ago(lastSync)} · from ${o.source} (${o.kind})`),
      stale ? el("p", { className: "badge stale", role: "note" }, `Stale: not synced for over ${Math.round(model.staleAfter / 60)} minutes`) : null));
  }
  const rows = tenantRows(model);
  const table = el("table", { className: "tenants", "aria-label": "Tenants" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Tenant"), el("th", { scope: "col" }, "Records"),
                     el("th", { scope: "col" }, "Last updated"), el("th", { scope: "col" }, "State"))),
    el("tbody", {}, ...rows.map((t) => el("tr", { dataset: { tenant: t.tenant } },
      el("td", {}, t.tenant), el("td", {}, formatNumber(t.records)),
      el("td", { className: "ago" }, ago(t.updated)),
      el("td", {}, t.stale ? el("span", { className: "badge stale" }, "stale") : el("span", { className: "badge ok" }, "fresh"))))));
  // The page's parts are made once and then filled: a redraw (every frame
  // with changes) keeps the charts' controls, the feed and its scroll.
  if (!container.querySelector("#object-cards")) {
    container.replaceChildren(el("h2", { className: "section" }, "Objects"), el("div", { id: "object-cards" }),
                              el("h2", { className: "section" }, "Breakdowns"),
                              el("div", { id: "breakdowns", className: "charts" }),
                              el("div", { className: "columns" }, feedBox ?? "",
                                 el("section", { "aria-label": "Tenants" }, el("h2", { className: "section" }, "Tenants"),
                                    el("div", { className: "scroll", id: "tenant-table" }))));
  }
  container.querySelector("#object-cards").replaceChildren(cards);
  container.querySelector("#tenant-table").replaceChildren(table);
}

// One row per tenant across objects: records summed, the newest sync or
// change seen, stale when any object of it is.
export function tenantRows(model) {
  const by = new Map();
  for (const o of model.objects) {
    for (const t of o.tenants) {
      if (t.tenant === null) continue;
      if (model.tenant && t.tenant !== model.tenant) continue;
      const row = by.get(t.tenant) || { tenant: t.tenant, records: 0, updated: null, stale: false };
      row.records += t.records;
      row.updated = newest([row.updated, t.last_sync_at, model.lastChange.get(t.tenant)]);
      row.stale = row.stale || t.stale;
      by.set(t.tenant, row);
    }
  }
  return [...by.values()].sort((a, b) => a.tenant.localeCompare(b.tenant));
}

export function newest(isoTimes) {
  let best = null;
  for (const t of isoTimes) if (t && (!best || Date.parse(t) > Date.parse(best))) best = t;
  return best;
}
