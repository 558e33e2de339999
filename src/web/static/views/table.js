// The live table of one object: rows appear, change (the changed cells flash)
// and leave as events arrive; sorting and text search run in the browser.
// Rows carry data-id (the record id) and cells data-field, for people's
// tools and for the browser tests alike.
import { cellText, compareKeys, el, formatNumber, sortKey } from "../format.js";

const FLASH_MS = 1600;
const LEAVE_MS = 400;
const FRAME_MS = 16;
const REDRAW_OVER = 300;  // changes in one frame above which the table is redrawn

export class ObjectTable {
  // records: Map(id -> record) of the object (for the chosen tenant).
  constructor(container, object, records) {
    this.object = object;
    this.records = records;
    this.rows = new Map();  // id -> <tr>
    this.sort = { field: null, dir: 1 };
    this.query = "";
    this.pending = [];      // changes waiting for the next frame
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

  // Draws the whole table; a redraw keeps what the reader set (search text
  // and focus, sort order).
  render() {
    const hadFocus = document.activeElement?.id === "search";
    const search = el("input", { type: "search", id: "search", placeholder: "Search these records", autocomplete: "off" });
    search.value = this.searchText ?? "";
    search.addEventListener("input", () => {
      this.searchText = search.value;
      this.query = search.value.trim().toLowerCase();
      this.applyFilter();
    });
    this.countEl = el("p", { className: "count", role: "status", "aria-live": "polite" });
    this.head = el("tr");
    for (const c of this.columns) this.head.append(this.headerCell(c));
    this.body = el("tbody");
    const table = el("table", { className: "records", "aria-label": `${this.object} records` },
                     el("thead", {}, this.head), this.body);
    this.container.replaceChildren(
      el("div", { className: "table-tools" }, el("label", { className: "search" }, "Search ", search), this.countEl),
      el("div", { className: "scroll" }, table));
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const r of this.records.values()) {
      const tr = this.makeRow(r);
      this.rows.set(r.id, tr);
      frag.append(tr);
    }
    this.body.append(frag);
    this.applyFilter();
    if (this.sort.field) {
      const th = [...this.head.children].find((h) => h.dataset.field === this.sort.field);
      th?.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
      this.reorder();
    }
    if (hadFocus) search.focus();
  }

  headerCell(field) {
    const button = el("button", { type: "button", className: "sort" }, field);
    button.addEventListener("click", () => {
      this.sort = { field, dir: this.sort.field === field ? -this.sort.dir : 1 };
      for (const th of this.head.children) th.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", this.sort.dir > 0 ? "ascending" : "descending");
      this.reorder();
    });
    const th = el("th", { scope: "col", dataset: { field } }, button);
    return th;
  }

  makeRow(r) {
    const tr = el("tr", { dataset: { id: r.id } });
    for (const c of this.columns) tr.append(el("td", { dataset: { field: c } }, cellText(r[c])));
    return tr;
  }

  matches(r) {
    if (!this.query) return true;
    for (const c of this.columns) if (cellText(r[c]).toLowerCase().includes(this.query)) return true;
    return false;
  }

  applyFilter() {
    let shown = 0;
    for (const [id, tr] of this.rows) {
      const visible = this.matches(this.records.get(id) || {});
      tr.hidden = !visible;
      if (visible) shown++;
    }
    this.countEl.textContent = this.query
      ? `${formatNumber(shown)} of ${formatNumber(this.records.size)} records`
      : `${formatNumber(this.records.size)} records`;
  }

  reorder() {
    if (!this.sort.field) return;
    const f = this.sort.field, dir = this.sort.dir;
    const ids = [...this.rows.keys()];
    const key = new Map(ids.map((id) => [id, sortKey((this.records.get(id) || {})[f])]));
    ids.sort((a, b) => dir * compareKeys(key.get(a), key.get(b)));
    const frag = document.createDocumentFragment();
    for (const id of ids) frag.append(this.rows.get(id));
    this.body.append(frag);
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
    if (batch.length > REDRAW_OVER || batch.some((ev) => this.hasNewField(ev))) {
      // Many at once, or a field seen for the first time: redraw from the
      // records, which already hold every change.
      this.columns = this.columnsOf(batch.filter((ev) => ev.record).map((ev) => ev.record));
      this.render();
      return;
    }
    for (const ev of batch) this.drawChange(ev);
    if (this.sort.field) this.reorderSoon();
    this.applyFilterCount();
  }

  hasNewField(ev) {
    if (ev.op === "deleted" || !ev.record) return false;
    return Object.keys(ev.record).some((k) => k !== "id" && !this.columns.includes(k));
  }

  drawChange(ev) {
    const id = ev.record_id;
    const old = this.rows.get(id);
    if (ev.op === "deleted") {
      if (!old) return;
      this.rows.delete(id);
      delete old.dataset.id;  // gone at once for anyone looking it up; it fades out
      old.classList.add("leaving");
      setTimeout(() => old.remove(), LEAVE_MS);
      return;
    }
    // The newest state of the record: a later event of the same batch may
    // have replaced or deleted it already.
    const record = this.records.get(id);
    if (!record) return;
    const tr = this.makeRow(record);
    if (old) {
      old.replaceWith(tr);
      for (const f of Object.keys(ev.changed || {})) flash(tr.querySelector(`td[data-field="${CSS.escape(f)}"]`));
    } else {
      this.body.prepend(tr);
      flash(tr);
    }
    this.rows.set(id, tr);
    tr.hidden = !this.matches(record);
  }

  applyFilterCount() {
    if (this.query) this.applyFilter();
    else this.countEl.textContent = `${formatNumber(this.records.size)} records`;
  }

  reorderSoon() {
    clearTimeout(this.reorderTimer);
    this.reorderTimer = setTimeout(() => this.reorder(), 250);
  }
}

// Every node flashed is new (a changed row is drawn afresh), so adding the
// class starts the animation without forcing a layout.
function flash(node) {
  if (!node) return;
  node.classList.add("flash");
  setTimeout(() => node.classList.remove("flash"), FLASH_MS);
}
