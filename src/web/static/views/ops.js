// The operations page: connections by transport and topic, events per second
// over the last minutes, upstream requests, 429s and retries, webhook
// deliveries and rejections, the notifiers and their latest notifications,
// and the latest audit entries. It reads GET /api/stats, GET /api/audit and
// GET /api/notifications (the admin scope) every few seconds while it is shown.
import { call } from "../api.js";
import { el, formatNumber } from "../format.js";

const SVG = "http://www.w3.org/2000/svg";
const EVERY_MS = 2000;
const WINDOW_BUCKETS = 120;  // what /api/stats keeps: 10 minutes of 5-second buckets

export class OpsPage {
  constructor(container) {
    this.container = container;
    this.timer = null;
  }

  start() {
    this.container.replaceChildren(el("p", { className: "muted" }, "Loading…"));
    this.load();
    this.timer = setInterval(() => this.load(), EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async load() {
    let stats, audit, notes;
    try {
      [{ doc: stats }, { doc: audit }, { doc: notes }] = await Promise.all(
        [call("/api/stats"), call("/api/audit?latest=20"), call("/api/notifications?limit=20")]);
    } catch (e) {
      const why = e.status === 403 ? "The operations page needs a token with the admin scope." : e.message;
      this.container.replaceChildren(el("p", { className: "error", role: "alert" }, why));
      return;
    }
    this.render(stats, audit.entries || [], notes.notifications || []);
  }

  render(s, audit, notes) {
    const c = s.connections;
    const topics = Object.entries(c.by_topic || {}).sort((a, b) => b[1] - a[1]);
    const sources = Object.entries(s.sources || {});
    // A missing part is null: left out (replaceChildren would show it as the text "null").
    this.container.replaceChildren(...[
      el("h2", { className: "section" }, "Connections"),
      el("div", { className: "cards" },
        figure("SSE streams", c.sse, "sse"), figure("WebSocket streams", c.ws, "ws"), figure("Other HTTP", c.http, "http"),
        figure("Events / s", Math.round(s.events.per_second * 10) / 10, "events-per-second"),
        figure("Slow clients cut off", s.events.slow_client_drops, "drops")),
      topics.length ? table("Subscribers by topic", ["Topic", "Subscribers"], topics.map(([t, n]) => [t, formatNumber(n)])) : null,
      el("h2", { className: "section" }, "Events per second"),
      chart(s.events.recent),
      el("h2", { className: "section" }, "Upstreams"),
      sources.length
        ? table("Upstream requests", ["Source", "Requests", "429s", "Retries", "5xx", "Timeouts", "Failures",
                                     "Webhooks accepted", "Duplicates", "Rejected"],
                sources.map(([name, v]) => [name, v.upstream?.requests, v.upstream?.rate_limited, v.upstream?.retries,
                                            v.upstream?.server_errors, v.upstream?.timeouts, v.upstream?.failures,
                                            v.webhooks?.accepted, v.webhooks?.duplicates, v.webhooks?.rejected]
                                            .map((x, i) => (i === 0 ? x : formatNumber(x ?? 0)))))
        : el("p", { className: "muted" }, "No upstream is configured."),
      ...notifications(s.notifications, notes),
      el("h2", { className: "section" }, "Recent audit entries"),
      audit.length
        ? table("Audit", ["When", "Kind", "Source", "Who", "Outcome"],
                audit.slice(-20).reverse().map((a) => [new Date(a.at).toLocaleTimeString(), a.kind, a.source || "", a.who || "", a.outcome]))
        : el("p", { className: "muted" }, "Nothing audited yet.")].filter(Boolean));
  }
}

// The notifiers (a failing one says why) and the latest messages with their
// delivery state; nothing when no rules are configured.
function notifications(n, notes) {
  if (!n) return [];
  const state = (x) => (x.state === "ok" ? "delivering" : `${x.state}: ${x.reason}`);
  return [
    el("h2", { className: "section" }, "Notifications"),
    table("Notifiers", ["Notifier", "Kind", "State", "Sent", "Retried", "Failed", "429s"],
          n.notifiers.map((x) => [x.name, x.kind, state(x), formatNumber(x.sent), formatNumber(x.retried),
                                  formatNumber(x.failed), formatNumber(x.rate_limited)])),
    el("p", { className: "muted" },
       `Outbox: ${formatNumber(n.outbox.pending)} waiting, ${formatNumber(n.outbox.gathering)} gathering, ` +
       `${formatNumber(n.outbox.failed)} failed; ${formatNumber(n.rules.fired)} firings of ${n.rules.count} rules.`),
    notes.length
      ? table("Latest notifications", ["When", "Rule", "Notifier", "Status", "Attempts", "Message"],
              notes.map((m) => [new Date(m.created_ms).toLocaleTimeString(), m.rule, m.notifier, m.status,
                                String(m.attempts.length), m.text]))
      : el("p", { className: "muted" }, "No notification yet."),
  ];
}

function figure(label, value, key) {
  return el("article", { className: "card", dataset: { figure: key } },
    el("p", { className: "big" }, formatNumber(value ?? 0)), el("p", { className: "muted" }, label));
}

function table(label, head, rows) {
  return el("div", { className: "scroll" },
    el("table", { "aria-label": label },
      el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, String(v))))))));
}

// Events per second per bucket, oldest left; the newest bucket is still filling.
function chart(recent) {
  const counts = recent?.counts || [];
  const per = recent?.bucket_seconds || 1;
  const w = 600, h = 120;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  const rates = counts.map((n) => n / per);
  const max = Math.max(1, ...rates);
  const minutes = Math.round((counts.length * per) / 60);
  svg.setAttribute("aria-label", `Events per second over the last ${minutes || "<1"} minutes; peak ${Math.round(max * 10) / 10}`);
  // The x axis spans the server's whole window, newest at the right edge, so
  // a young server's short history does not stretch across the chart.
  const step = w / (Math.max(WINDOW_BUCKETS, rates.length) - 1);
  const pts = rates.map((r, i) => `${(w - (rates.length - 1 - i) * step).toFixed(1)},${(h - 4 - (r / max) * (h - 12)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" "));
  svg.append(line);
  const caption = el("p", { className: "muted" },
    `Last ${minutes || "<1"} min, ${per}-second buckets; peak ${formatNumber(Math.round(max * 10) / 10)}/s.`);
  return el("figure", { className: "chart-box" }, svg, caption);
}
