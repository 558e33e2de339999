// A breakdown chart: an object's records counted by one field (laptops by
// status), each bar stacked by tenant (county), drawn as SVG from the
// records the page holds, so it moves with every change event and asks the
// server for nothing. Colours are Okabe and Ito's, told apart by people with
// any common colour-vision deficiency; every figure is also in a table for
// screen readers.
import { cellText, el, formatNumber } from "../format.js";

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
const MAX_CATEGORIES = 12;

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// The fields worth breaking down by: a few distinct values (2 to 12), most
// records having one. "status" first when there is one.
export function breakdownFields(records) {
  const distinct = new Map();
  let n = 0;
  for (const r of records) {
    if (++n > 5000) break;  // a sample is enough to choose
    for (const [k, v] of Object.entries(r)) {
      if (k === "id" || v === null || typeof v === "object") continue;
      const set = distinct.get(k) || new Set();
      if (set.size <= MAX_CATEGORIES) set.add(String(v));
      distinct.set(k, set);
    }
  }
  const fields = [...distinct.entries()].filter(([, s]) => s.size >= 2 && s.size <= MAX_CATEGORIES).map(([k]) => k).sort();
  return fields.includes("status") ? ["status", ...fields.filter((f) => f !== "status")] : fields;
}

// counts: Map(category -> Map(series -> n)), series being the tenant.
export function countBy(records, field, seriesField) {
  const counts = new Map();
  for (const r of records) {
    const c = cellText(r[field]) || "(none)";
    const s = seriesField ? cellText(r[seriesField]) || "(none)" : "all";
    const row = counts.get(c) || new Map();
    row.set(s, (row.get(s) || 0) + 1);
    counts.set(c, row);
  }
  return counts;
}

export function renderBreakdown(container, { object, records, field, seriesField, fields, onField }) {
  const counts = countBy(records.values(), field, seriesField);
  const categories = [...counts.keys()].sort();
  const series = [...new Set([...counts.values()].flatMap((m) => [...m.keys()]))].sort();
  const totals = categories.map((c) => [...counts.get(c).values()].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const rowH = 26, labelW = 150, width = 560, barW = width - labelW - 60;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${categories.length * rowH + 4}`, role: "img",
                             "aria-label": `${object} by ${field}${seriesField ? ", stacked by " + seriesField : ""}`,
                             class: "breakdown", "data-object": object, "data-field": field });
  categories.forEach((c, i) => {
    const y = i * rowH + 2;
    chart.append(svg("text", { x: labelW - 6, y: y + rowH / 2 + 4, "text-anchor": "end", class: "label" }, c));
    let x = labelW;
    series.forEach((s, j) => {
      const n = counts.get(c).get(s) || 0;
      if (!n) return;
      const w = (n / max) * barW;
      const rect = svg("rect", { x, y: y + 3, width: Math.max(w, 1), height: rowH - 8, fill: PALETTE[j % PALETTE.length],
                                 "data-category": c, "data-series": s, "data-value": String(n) },
                       svg("title", {}, `${c}, ${s}: ${formatNumber(n)}`));
      chart.append(rect);
      x += w;
    });
    chart.append(svg("text", { x: x + 6, y: y + rowH / 2 + 4, class: "total", "data-category": c }, formatNumber(totals[i])));
  });
  const legend = el("ul", { className: "legend", "aria-hidden": "true" },
    ...series.map((s, j) => el("li", {}, el("span", { className: "swatch", style: `background:${PALETTE[j % PALETTE.length]}` }), s)));
  // The same figures as a table, for screen readers and for copying.
  const table = el("table", { className: "visually-hidden" },
    el("caption", {}, `${object} by ${field}`),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, field), ...series.map((s) => el("th", { scope: "col" }, s)))),
    el("tbody", {}, ...categories.map((c) => el("tr", {}, el("th", { scope: "row" }, c),
      ...series.map((s) => el("td", {}, String(counts.get(c).get(s) || 0)))))));
  // The heading and the field's control are made once: a redraw replaces the
  // figure only, so a reader's focus on the control stays.
  let select = container.querySelector("select");
  if (!select) {
    select = el("select", { "aria-label": `Break ${object} down by` });
    select.addEventListener("change", () => container.onField(select.value));
    container.replaceChildren(
      el("div", { className: "chart-head" }, el("h3", {}, el("a", { href: `#/objects/${encodeURIComponent(object)}` }, object)),
         el("label", {}, "by ", select)),
      el("figure", {}));
  }
  container.onField = onField;
  if ([...select.options].map((o) => o.value).join() !== fields.join())
    select.replaceChildren(...fields.map((f) => el("option", { value: f }, f)));
  select.value = field;
  container.querySelector("figure").replaceChildren(chart, legend, table);
}
