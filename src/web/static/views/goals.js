// Goals: a progress bar per goal the server defines ([[goals]] in its
// config), moved by `metric` events as the records behind it change. With a
// tenant chosen, a per-tenant goal shows that tenant's figure.
import { el, formatNumber } from "../format.js";

export function renderGoals(container, goals, tenant = "") {
  container.replaceChildren(...[...goals.values()].map((g) => {
    const value = (tenant && g.tenants ? g.tenants[tenant] : g.value) ?? 0;
    const pct = Math.min(100, Math.round((value / g.target) * 1000) / 10);
    const meter = el("progress", { max: g.target, value, "aria-label": g.label });
    return el("div", { className: "goal", dataset: { goal: g.name, value: String(value) } },
      el("div", { className: "goal-head" }, el("strong", {}, tenant && g.tenants ? `${g.label} — ${tenant}` : g.label),
         el("span", {}, `${formatNumber(value)} of ${formatNumber(g.target)} (${pct}%)`)),
      meter);
  }));
}
