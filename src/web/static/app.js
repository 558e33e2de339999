// The placeholder dashboard: one EventSource on /api/events, rows for events,
// connection state always visible. EventSource resends Last-Event-ID by itself
// on reconnect, so the server resumes exactly where this page stopped.
const stateEl = document.getElementById("state");
const rows = document.getElementById("events");
const form = document.getElementById("token-form");
const MAX_ROWS = 200;

function setState(text, cls) {
  stateEl.textContent = text;
  stateEl.className = "state " + cls;
}

function addRow(ev) {
  const tr = document.createElement("tr");
  tr.className = "fresh";
  for (const v of [ev.id ?? "", ev.type, ev.tenant ?? "", ev.at ?? "", JSON.stringify(ev.message ?? ev)]) {
    const td = document.createElement("td");
    td.textContent = v;
    tr.appendChild(td);
  }
  rows.prepend(tr);
  while (rows.children.length > MAX_ROWS) rows.lastChild.remove();
}

function connect(token) {
  const url = new URL("/api/events", location.href);
  if (token) url.searchParams.set("access_token", token);
  const es = new EventSource(url);
  es.onopen = () => setState("live", "live");
  es.onerror = () => setState(es.readyState === EventSource.CLOSED ? "offline" : "reconnecting", es.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
  for (const type of ["message", "change", "job", "metric", "reset"]) {
    es.addEventListener(type, (e) => addRow(JSON.parse(e.data)));
  }
  return es;
}

async function start() {
  // Ask for a token only when the server wants one; keep it for this tab only.
  const probe = await fetch("/api/events?probe=1", { method: "HEAD" }).catch(() => null);
  const saved = sessionStorage.getItem("freshet-token");
  if (probe && probe.status === 401 && !saved) {
    form.hidden = false;
    setState("needs a token", "offline");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const t = document.getElementById("token").value.trim();
      sessionStorage.setItem("freshet-token", t);
      form.hidden = true;
      connect(t);
    });
    return;
  }
  connect(saved);
}
start();
