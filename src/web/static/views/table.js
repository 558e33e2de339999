// The live table of one object: rows appear, change (the changed cells flash)
// and leave as events arrive; sorting and text search run in the browser.
// Rows carry data-id (the record id) and cells data-field, for people's
// tools and for the browser tests alike.
//
// Up to WINDOW_ALL rows every row is drawn. Beyond, only the rows in view
// (and a margin) are, inside a scrolling box, with spacers standing in for
// the rest: a 50,000-record object scrolls, sorts and filters without a long
// task. Sorting compares precomputed keys; search matches a precomputed
// lower-case text of each record.
import { cellText, el, formatNumber, sortKey } from "../format.js";

const FLASH_MS = 1600;
const LEAVE_MS = 400;
const FRAME_MS = 16;
const REDRAW_OVER = 300;   // changes in one frame above which the table is redrawn
const WINDOW_ALL = 5000;   // up to this many rows, all are drawn
const ROW_PX = 33;         // a row's height in the windowed table (CSS: table.windowed td)
const MARGIN_ROWS = 40;    // drawn beyond the view, above and below

// Keys that compare with < as people expect: numbers as numbers, dates by
// time, text case-blind with its digit runs padded ("HTI-2" before "HTI-10").
function orderKey(v) {
  const k = sortKey(v);
  return typeof k === "number" ? k : k.replace(/\d+/g, (d) => d.padStart(16, "0"));
}

export class ObjectTable {
  // records: Map(id -> record) of the object (for the chosen tenant).
  constructor(container, object, records) {
    this.object = object;
    this.records = records;
    this.rows = new Map();   // id -> <tr>, the rows drawn
    this.sort = { field: null, dir: 1 };
    this.query = "";
    this.pending = [];       // changes waiting for the next frame
    this.text = new Map();   // id -> lower-case text of the record, for search
    this.fresh = [];         // ids created since the last full order, shown first when unsorted
    this.columns = this.columnsOf(records.values());
    this.container = container;
    this.render();
  }

  // Every field of the records given, and of the columns already shown.
  columnsOf(records) {
    const cols = new Set(this.columns || []);
    for (const r of records) for (const k of Object.keys(r)) if (k !== "id") cols.add(k);
    return [...cols].sort();
  }

  get windowed() {
    return this.records.size > WINDOW_ALL;
  }

  // Draws the whole table; a redraw keeps what the reader set (search text
  // and focus, sort order, scroll).
  render() {
    const hadFocus = document.activeElement?.id === "search";
    const scrolled = this.box?.scrollTop ?? 0;
    const search = el("input", { type: "search", id: "search", placeholder: "Search these records", autocomplete: "off" });
    search.value = this.searchText ?? "";
    search.addEventListener("input", () => {
      this.searchText = search.value;
      this.query = search.value.trim().toLowerCase();
      this.box.scrollTop = 0;  // the results from their first
      this.reorder();
    });
    this.countEl = el("p", { className: "count", role: "status", "aria-live": "polite" });
    this.head = el("tr");
    for (const c of this.columns) this.head.append(this.headerCell(c));
    this.body = el("tbody");
    const table = el("table", { className: `records${this.windowed ? " windowed" : ""}`, "aria-label": `${this.object} records`,
                                "aria-rowcount": String(this.records.size + 1) },
                     el("thead", {}, this.head), this.body);
    this.box = el("div", { className: `scroll${this.windowed ? " window" : ""}` }, table);
    this.box.addEventListener("scroll", () => this.drawSoon(), { passive: true });
    this.container.replaceChildren(
      el("div", { className: "table-tools" }, el("label", { className: "search" }, "Search ", search), this.countEl),
      this.box);
    this.text.clear();
    this.reorder();
    this.box.scrollTop = scrolled;
    if (hadFocus) search.focus();
  }

  headerCell(field) {
    const button = el("button", { type: "button", className: "sort" }, field);
    const th = el("th", { scope: "col", dataset: { field } }, button);
    button.addEventListener("click", () => {
      this.sort = { field, dir: this.sort.field === field ? -this.sort.dir : 1 };
      for (const h of this.head.children) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
      this.box.scrollTop = 0;
      this.reorder();
    });
    if (this.sort.field === field) th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
    return th;
  }

  makeRow(r) {
    const tr = el("tr", { dataset: { id: r.id } });
    for (const c of this.columns) tr.append(el("td", { dataset: { field: c } }, cellText(r[c])));
    return tr;
  }

  textOf(id) {
    let t = this.text.get(id);
    if (t === undefined) {
      const r = this.records.get(id) || {};
      t = this.columns.map((c) => cellText(r[c])).join("\u0000").toLowerCase();
      this.text.set(id, t);
    }
    return t;
  }

  matches(id) {
    return !this.query || this.textOf(id).includes(this.query);
  }

  // The ids shown, in order: filtered by the search, sorted by the chosen
  // column (or newest arrivals first, then the snapshot's order).
  reorder() {
    let ids = [...this.records.keys()];
    if (!this.sort.field && this.fresh.length) {
      const fresh = new Set(this.fresh.filter((id) => this.records.has(id)));
      ids = [...[...fresh].reverse(), ...ids.filter((id) => !fresh.has(id))];
    }
    if (this.query) ids = ids.filter((id) => this.matches(id));
    if (this.sort.field) {
      const f = this.sort.field, dir = this.sort.dir;
      const keyed = ids.map((id) => [orderKey((this.records.get(id) || {})[f]), id]);
      keyed.sort((a, b) => (a[0] < b[0] ? -dir : a[0] > b[0] ? dir : 0));
      ids = keyed.map((k) => k[1]);
    }
    this.order = ids;
    this.countEl.textContent = this.query
      ? `${formatNumber(ids.length)} of ${formatNumber(this.records.size)} records`
      : `${formatNumber(this.records.size)} records`;
    this.draw(true);
  }

  drawSoon() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw(false);
    });
  }

  // Draws the rows of the order that are in view (every row when not
  // windowed), reusing the <tr> of rows already drawn.
  draw(all) {
    let from = 0, to = this.order.length;
    if (this.windowed) {
      const top = this.box.scrollTop, height = this.box.clientHeight || 600;
      // (A scroll position past a shorter order, before the box catches up, draws its end.)
      from = Math.max(0, Math.min(Math.floor(top / ROW_PX), this.order.length - Math.ceil(height / ROW_PX)) - MARGIN_ROWS);
      to = Math.min(this.order.length, Math.ceil((top + height) / ROW_PX) + MARGIN_ROWS);
      if (!all && from === this.drawn?.from && to === this.drawn?.to) return;
    }
    this.drawn = { from, to };
    const keep = new Map();
    const frag = document.createDocumentFragment();
    if (this.windowed) frag.append(spacer(from * ROW_PX, this.columns.length));
    for (let i = from; i < to; i++) {
      const id = this.order[i];
      const tr = this.rows.get(id) || this.makeRow(this.records.get(id) || { id });
      tr.hidden = false;  // in the order: it matches the search
      tr.setAttribute("aria-rowindex", String(i + 2));
      keep.set(id, tr);
      frag.append(tr);
    }
    if (this.windowed) frag.append(spacer((this.order.length - to) * ROW_PX, this.columns.length));
    this.rows = keep;
    this.body.replaceChildren(frag);
  }

  // A change event of this object (already applied to `records`). Changes
  // are drawn together once per frame: a burst (a full sync, a refresh)
  // costs one pass, not one layout per event.
  applyChange(ev) {
    this.pending.push(ev);
    if (this.pending.length === 1) setTimeout(() => this.flush(), FRAME_MS);
  }

  flush() {
    const batch = this.pending;
    this.pending = [];
    for (const ev of batch) this.text.delete(ev.record_id);
    if (batch.length > REDRAW_OVER || batch.some((ev) => this.hasNewField(ev)) ||
        (this.records.size > WINDOW_ALL) !== this.box.classList.contains("window")) {
      // Many at once, a field seen for the first time, or the table crossed
      // into (or out of) windowing: redraw from the records, which already
      // hold every change.
      this.columns = this.columnsOf(batch.filter((ev) => ev.record).map((ev) => ev.record));
      for (const ev of batch) if (ev.op === "created") this.fresh.push(ev.record_id);
      this.render();
      return;
    }
    for (const ev of batch) this.drawChange(ev);
    if (this.windowed) this.draw(true);  // once for the batch: the rows in view, their new order
    if (this.sort.field || this.query) this.reorderSoon();
    else this.countEl.textContent = `${formatNumber(this.records.size)} records`;
  }

  hasNewField(ev) {
    if (ev.op === "deleted" || !ev.record) return false;
    return Object.keys(ev.record).some((k) => k !== "id" && !this.columns.includes(k));
  }

  drawChange(ev) {
    const id = ev.record_id;
    const old = this.rows.get(id);
    if (ev.op === "deleted") {
      const at = this.order.indexOf(id);
      if (at >= 0) this.order.splice(at, 1);
      if (!old) return;
      this.rows.delete(id);
      delete old.dataset.id;  // gone at once for anyone looking it up; it fades out
      old.classList.add("leaving");
      setTimeout(() => {
        old.remove();
        if (this.windowed) this.draw(true);
      }, LEAVE_MS);
      return;
    }
    // The newest state of the record: a later event of the same batch may
    // have replaced or deleted it already.
    const record = this.records.get(id);
    if (!record) return;
    const tr = this.makeRow(record);
    if (old) {
      old.replaceWith(tr);
      this.rows.set(id, tr);
      tr.hidden = !this.matches(id);
      for (const f of Object.keys(ev.changed || {})) flash(tr.querySelector(`td[data-field="${CSS.escape(f)}"]`));
      return;
    }
    // A row not drawn: out of view (drawn from the records when it comes
    // into view), or filtered out (the reorder after the batch decides), or
    // a new record, first in the unsorted order (the sorted one places it).
    if (ev.op !== "created" || this.order.includes(id)) return;
    this.fresh.push(id);
    if (!this.matches(id)) return;
    this.order.unshift(id);
    if (this.windowed) return;  // drawn with the batch
    this.body.prepend(tr);
    this.rows.set(id, tr);
    flash(tr);
  }

  reorderSoon() {
    clearTimeout(this.reorderTimer);
    this.reorderTimer = setTimeout(() => this.reorder(), 250);
  }
}

// Stands in for the rows out of view: one cell as tall as they would be.
function spacer(px, columns) {
  const td = el("td", { colSpan: columns });
  td.style.height = `${px}px`;
  return el("tr", { className: "spacer", "aria-hidden": "true" }, td);
}

// Every node flashed is new (a changed row is drawn afresh), so adding the
// class starts the animation without forcing a layout.
function flash(node) {
  if (!node) return;
  node.classList.add("flash");
  setTimeout(() => node.classList.remove("flash"), FLASH_MS);
}
