// The activity feed: the latest changes as sentences ("HTI-01234 status:
// Received → Ready for Donation · hennepin · 3 s ago"), messages, delivered
// notifications and the ends of refresh jobs, newest first. New items slide in; while the pointer is
// over the feed (or it has focus) it holds still and counts what waits.
import { ago, cellText, el, formatNumber } from "../format.js";

const KEEP = 50;
const LABEL_FIELDS = ["serial", "name", "title", "organisation", "identifier"];

export function recordLabel(record, id) {
  for (const f of LABEL_FIELDS) if (record && record[f]) return cellText(record[f]);
  return id;
}

// One sentence for an event, or null for events the feed does not tell.
export function describe(type, ev) {
  if (type === "change") {
    const who = recordLabel(ev.record ?? ev.previous, ev.record_id);
    const where = ev.tenant ? ` · ${ev.tenant}` : "";
    if (ev.op === "created") return `${who}: new in ${ev.object}${where}`;
    if (ev.op === "deleted") return ev.moved_to ? `${who} moved to ${ev.moved_to}` : `${who}: removed from ${ev.object}${where}`;
    const [field, d] = Object.entries(ev.changed ?? {}).find(([f]) => f !== "modified") ?? Object.entries(ev.changed ?? {})[0] ?? [];
    if (!field) return `${who} updated${where}`;
    return `${who} ${field}: ${cellText(d.old) || "(none)"} → ${cellText(d.new) || "(none)"}${where}`;
  }
  if (type === "message" && ev.message?.notification) {
    // A delivered notification (docs/rules.md): its text as sent, with &, <
    // and > escaped as Slack wants them (every notifier's text is).
    const n = ev.message.notification;
    const text = String(n.text ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
    return `Notified ${n.notifier}: ${text}`;
  }
  if (type === "message") return `Message: ${typeof ev.message === "string" ? ev.message : ev.message?.text ?? JSON.stringify(ev.message)}`;
  if (type === "job" && ev.status !== "running") {
    const s = ev.summary || {};
    return ev.status === "succeeded" ? `Refresh of ${ev.tenant}: ${formatNumber(s.records ?? ev.records)} records read, ${(s.created || 0) + (s.updated || 0) + (s.deleted || 0)} changed`
                                     : `Refresh of ${ev.tenant}: ${ev.status.replace("_", " ")}`;
  }
  return null;
}

export class Feed {
  constructor() {
    this.items = [];     // {text, at, kind}
    this.waiting = [];   // arrived while held
    this.held = false;
    this.list = el("ol", { className: "feed", "aria-label": "Latest activity" });
    this.note = el("p", { className: "muted feed-note", "aria-live": "polite" });
    this.box = el("section", { className: "activity", "aria-labelledby": "activity-title" },
      el("h2", { className: "section", id: "activity-title" }, "Activity"), this.note, this.list);
    const hold = () => { this.held = true; };
    const release = () => { this.held = false; this.flush(); };
    this.box.addEventListener("pointerenter", hold);
    this.box.addEventListener("pointerleave", release);
    this.box.addEventListener("focusin", hold);
    this.box.addEventListener("focusout", release);
    // The ages move on; the items do not.
    setInterval(() => this.refreshAges(), 5000);
  }

  add(type, ev) {
    const text = describe(type, ev);
    if (!text) return;
    const kind = type === "message" && ev.message?.notification ? "notification" : type;
    const item = { text, at: ev.at ?? new Date().toISOString(), kind, object: ev.object, id: ev.record_id };
    if (this.held) {
      this.waiting.push(item);
      this.note.textContent = `Paused while the pointer is here: ${this.waiting.length} new`;
      return;
    }
    this.prepend([item]);
  }

  flush() {
    if (!this.waiting.length) return;
    const items = this.waiting.splice(0);
    this.note.textContent = "";
    this.prepend(items);
  }

  prepend(items) {
    for (const item of items) {
      this.items.unshift(item);
      this.list.prepend(this.row(item, true));
    }
    this.items.length = Math.min(this.items.length, KEEP);
    while (this.list.children.length > KEEP) this.list.lastElementChild.remove();
  }

  row(item, fresh) {
    const li = el("li", { className: `feed-item ${item.kind}${fresh ? " arriving" : ""}`, dataset: { at: item.at, object: item.object ?? "", id: item.id ?? "" } },
      el("span", { className: "what" }, item.text), " ", el("span", { className: "when" }, ago(item.at)));
    // Once in, an item no longer arrives (moving the feed must not replay it).
    li.addEventListener("animationend", () => li.classList.remove("arriving"), { once: true });
    return li;
  }

  refreshAges() {
    for (const li of this.list.children) li.querySelector(".when").textContent = ago(li.dataset.at);
  }
}
