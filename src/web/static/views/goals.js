// Goals: a progress bar per goal the server defines ([[goals]] in its
// config), moved by `metric` events as the records behind it change; with a
// tenant chosen, a per-tenant goal shows that tenant's figure. With the days
// the server remembers (the rules keep each day's closing figure), a
// sparkline of them and, with a deadline, the day the target is reached at
// the pace of the last 14 days, marked when that is after the deadline.
import { el, formatNumber } from "../format.js";

const SVG = "http://www.w3.org/2000/svg";
const PACE_DAYS = 14;
const DAY_MS = 86400000;

const dayNumber = (iso) => Math.round(Date.parse(iso + "T00:00:00Z") / DAY_MS);
const isoDay = (n) => new Date(n * DAY_MS).toISOString().slice(0, 10);
const today = () => dayNumber(new Date(Date.now() - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 10));

// {perDay, reached (YYYY-MM-DD) or null, behind} from the closing figures,
// the value now and the target; null without a day of history.
export function projectPace(days, value, target, deadline, now = today()) {
  const past = days.map((d) => [dayNumber(d.day), d.value]).filter(([n]) => n < now);
  if (!past.length) return null;
  // The figure at the end of the day PACE_DAYS ago, or the oldest there is.
  let [from, start] = past[0];
  for (const [n, v] of past) if (n <= now - PACE_DAYS) [from, start] = [n, v];
  const span = now - from;
  const perDay = (value - start) / span;
  const left = target - value;
  const reachedDay = left <= 0 ? now : perDay > 0 ? now + Math.ceil(left / perDay) : null;
  const behind = Boolean(deadline) && (reachedDay === null || reachedDay > dayNumber(deadline));
  return { perDay, reached: reachedDay === null ? null : isoDay(reachedDay), behind };
}

function sparkline(days, value, label) {
  const points = [...days.map((d) => d.value), value];
  const w = 160, h = 32, max = Math.max(...points), min = Math.min(...points);
  const xy = points.map((v, i) => `${(i / Math.max(1, points.length - 1)) * w},${h - 2 - ((v - min) / Math.max(1, max - min)) * (h - 4)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", xy.join(" "));
  const svg = document.createElementNS(SVG, "svg");
  for (const [k, v] of Object.entries({ viewBox: `0 0 ${w} ${h}`, class: "sparkline", role: "img",
                                        "aria-label": `${label}, the last ${days.length} days: ${formatNumber(points[0])} to ${formatNumber(value)}` }))
    svg.setAttribute(k, v);
  svg.append(line);
  return svg;
}

export function renderGoals(container, goals, tenant = "") {
  container.replaceChildren(...[...goals.values()].map((g) => {
    const value = (tenant && g.tenants ? g.tenants[tenant] : g.value) ?? 0;
    const pct = Math.min(100, Math.round((value / g.target) * 1000) / 10);
    const meter = el("progress", { max: g.target, value, "aria-label": g.label });
    // The days are the total's: a tenant's figure has no history to project.
    const days = !tenant || !g.tenants ? g.days ?? [] : [];
    // No projection from a figure not known yet (computed again after a restart).
    const known = (tenant && g.tenants ? g.tenants[tenant] : g.value) != null;
    const pace = days.length && known ? projectPace(days, value, g.target, g.deadline) : null;
    let paceText = null;
    if (pace) {
      const rate = `${formatNumber(Math.round(pace.perDay * 10) / 10)} a day`;
      paceText = el("p", { className: `pace${pace.behind ? " behind" : ""}`, dataset: { reached: pace.reached ?? "", behind: String(pace.behind) } },
        pace.reached === null ? `At ${rate} the target is not reached${g.deadline ? `: behind the ${g.deadline} deadline` : ""}.`
          : `At ${rate}: reached ${pace.reached}` + (g.deadline ? (pace.behind ? `, after the ${g.deadline} deadline.` : `, before the ${g.deadline} deadline.`) : "."));
    } else if (g.deadline) {
      paceText = el("p", { className: "pace muted" }, `Deadline ${g.deadline}; the pace shows after a day of history.`);
    }
    return el("div", { className: "goal", dataset: { goal: g.name, value: String(value) } },
      el("div", { className: "goal-head" }, el("strong", {}, tenant && g.tenants ? `${g.label} — ${tenant}` : g.label),
         days.length ? sparkline(days, value, g.label) : null,
         el("span", {}, `${formatNumber(value)} of ${formatNumber(g.target)} (${pct}%)`)),
      meter, paceText);
  }));
}
