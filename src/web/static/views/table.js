// The live table of one object: rows appear, change (the changed cells flash)
// and leave as events arrive; sorting and text search run in the browser.
// Rows carry data-id (the record id) and cells data-field, for people's
// tools and for the browser tests alike.
import { cellText, compareKeys, el, formatNumber, sortKey } from "../format.js";

const FLASH_MS = 1600;
const LEAVE_MS = 400;

export class ObjectTable {
  // records: Map(id -> record) of the object (for the chosen tenant).
  constructor(container, object, records) {
    this.object = object;
    this.records = records;
    this.rows = new Map();  // id -> <tr>
    this.sort = { field: null, dir: 1 };
    this.query = "";
    this.columns = this.columnsOf(records);
    this.container = container;
    this.render();
  }

  columnsOf(records) {
    const cols = new Set();
    let n = 0;
    for (const r of records.values()) {
      for (const k of Object.keys(r)) if (k !== "id") cols.add(k);
      if (++n > 200) break;
    }
    return [...cols].sort();
  }

  render() {
    const search = el("input", { type: "search", id: "search", placeholder: "Search these records", autocomplete: "off" });
    search.addEventListener("input", () => {
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

  // A change event of this object (already applied to `records`).
  applyChange(ev) {
    const id = ev.record_id;
    const old = this.rows.get(id);
    if (ev.op === "deleted") {
      if (!old) return;
      this.rows.delete(id);
      delete old.dataset.id;  // gone at once for anyone looking it up; it fades out
      old.classList.add("leaving");
      setTimeout(() => old.remove(), LEAVE_MS);
    } else if (ev.record) {
      for (const k of Object.keys(ev.record)) {
        if (k !== "id" && !this.columns.includes(k)) {
          // A field seen for the first time: rebuild the table once.
          this.columns = this.columnsOf(this.records);
          this.render();
          return;
        }
      }
      const tr = this.makeRow(ev.record);
      if (old) {
        old.replaceWith(tr);
        for (const f of Object.keys(ev.changed || {})) flash(tr.querySelector(`td[data-field="${CSS.escape(f)}"]`));
      } else {
        this.body.prepend(tr);
        flash(tr);
      }
      this.rows.set(id, tr);
      tr.hidden = !this.matches(ev.record);
      if (this.sort.field) this.reorderSoon();
    }
    this.applyFilterCount();
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

function flash(node) {
  if (!node) return;
  node.classList.remove("flash");
  void node.offsetWidth;  // restart the animation
  node.classList.add("flash");
  setTimeout(() => node.classList.remove("flash"), FLASH_MS);
}
