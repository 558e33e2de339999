// How values read on screen. Records hold raw upstream values: Knack dates are
// objects with their own formatted text, connections are lists of
// {id, identifier}; everything else is shown as it is.

export function cellText(v) {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) return v.map(cellText).join(", ");
  if (typeof v === "object") {
    if ("timestamp" in v) return String(v.timestamp);
    if ("date_formatted" in v) return String(v.date_formatted);
    if ("identifier" in v) return String(v.identifier);
    if ("full" in v) return String(v.full);  // Knack names and addresses
    if ("email" in v) return String(v.email);
    return JSON.stringify(v);
  }
  return String(v);
}

// A key that sorts the way people expect: numbers as numbers, dates by time.
export function sortKey(v) {
  if (v && typeof v === "object" && !Array.isArray(v) && "unix_timestamp" in v) return Number(v.unix_timestamp);
  if (typeof v === "number") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return cellText(v).toLowerCase();
}

export function compareKeys(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

const numberFormat = new Intl.NumberFormat("en");
export const formatNumber = (n) => numberFormat.format(n);

// "just now", "3 minutes ago", "2 hours ago", "4 days ago".
export function ago(iso, now = Date.now()) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? "1 minute ago" : `${m} minutes ago`;
  const h = Math.round(m / 60);
  if (h < 36) return h === 1 ? "1 hour ago" : `${h} hours ago`;
  const d = Math.round(h / 24);
  return d === 1 ? "1 day ago" : `${d} days ago`;
}

export function seconds(s) {
  return s < 10 ? `${(Math.round(s * 10) / 10).toFixed(1)} s` : `${Math.round(s)} s`;
}

// Builds an element: el("td", {className: "x", dataset: {id}}, "text", child...)
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("aria-") || k === "role" || k === "scope") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
