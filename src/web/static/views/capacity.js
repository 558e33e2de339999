// Capacity: for an object whose records have a numeric `capacity` and a
// count of places taken (`registrations`, `registered`, `booked` or
// `attendees`), as the demo's training sessions do, each record as a bar
// that fills up live, the fullest first. Computed from the records the page
// holds; nothing is asked of the server.
import { cellText, el, formatNumber } from "../format.js";

const TAKEN = ["registrations", "registered", "booked", "attendees"];
const LABELS = ["title", "name", "serial"];
const SHOWN = 12;

// {capacity, taken, label} field names, or null when the object has none.
export function capacityFields(records) {
  for (const r of records) {
    if (typeof r.capacity !== "number") return null;
    const taken = TAKEN.find((f) => typeof r[f] === "number");
    if (!taken) return null;
    return { capacity: "capacity", taken, label: LABELS.find((f) => r[f]) ?? "id" };
  }
  return null;
}

export function renderCapacity(container, object, records, f) {
  const rows = [...records.values()]
    .filter((r) => r[f.capacity] > 0)
    .map((r) => ({ r, share: r[f.taken] / r[f.capacity] }))
    .sort((a, b) => b.share - a.share || cellText(a.r[f.label]).localeCompare(cellText(b.r[f.label])));
  const full = rows.filter((x) => x.share >= 0.9).length;
  container.replaceChildren(
    el("div", { className: "chart-head" }, el("h3", {}, `${object}: places taken`),
       el("span", { className: "muted" }, `${full} of ${rows.length} at 90% or more`)),
    el("ol", { className: "capacity", "aria-label": `${object}, fullest first` },
      ...rows.slice(0, SHOWN).map(({ r, share }) => el("li", { dataset: { id: r.id, share: share.toFixed(3) } },
        el("span", { className: "cap-label" }, `${cellText(r[f.label])}${r.county ? " · " + cellText(r.county) : ""}`),
        el("meter", { min: 0, max: r[f.capacity], low: r[f.capacity] * 0.75, high: r[f.capacity] * 0.9, optimum: 0,
                      value: r[f.taken], "aria-label": `${cellText(r[f.label])}: ${r[f.taken]} of ${r[f.capacity]}` }),
        el("span", { className: "cap-figure" }, `${formatNumber(r[f.taken])} / ${formatNumber(r[f.capacity])}`)))));
}
