// The live connection: one EventSource on /api/events at a time, resumed from
// the last event id it delivered whenever it drops (server restart, network,
// sleep), with backoff. The dashboard never compares ids (they are opaque):
// it only echoes the last one back, and the server resumes right after it.
import { streamUrl } from "./api.js";

const TYPES = ["change", "job", "metric", "message", "reset"];
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

export class LiveStream {
  // onEvent(type, event), onState("connecting" | "live" | "reconnecting" | "offline", detail)
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.es = null;
    this.timer = null;
    this.failures = 0;
    this.tenant = "";
    this.lastId = null;
    addEventListener("online", () => this.es || this.reconnectSoon(0));
    addEventListener("offline", () => this.onState("offline", "the browser is offline"));
  }

  // Subscribes to `tenant` ("" = all) from just after `fromId`.
  start(tenant, fromId) {
    this.stop();
    this.tenant = tenant;
    this.lastId = fromId;
    this.failures = 0;
    this.open("connecting");
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.es) this.es.close();
    this.es = null;
  }

  open(state) {
    this.onState(state);
    const es = new EventSource(streamUrl(this.tenant, this.lastId));
    this.es = es;
    es.onopen = () => {
      this.failures = 0;
      this.onState("live");
    };
    // EventSource retries by itself only for some failures and gives up on
    // others (an HTTP error while the server restarts): take over every time.
    es.onerror = () => {
      if (this.es !== es) return;
      es.close();
      this.es = null;
      this.reconnectSoon(BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)]);
      this.failures++;
    };
    for (const type of TYPES) {
      es.addEventListener(type, (e) => {
        if (this.es !== es) return;
        if (e.lastEventId) this.lastId = e.lastEventId;
        let ev;
        try {
          ev = JSON.parse(e.data);
        } catch {
          return;
        }
        this.onEvent(type, ev);
      });
    }
  }

  reconnectSoon(ms) {
    clearTimeout(this.timer);
    this.onState(navigator.onLine === false ? "offline" : "reconnecting",
                 navigator.onLine === false ? "the browser is offline" : `retrying in ${Math.round(ms / 100) / 10} s`);
    this.timer = setTimeout(() => this.open("reconnecting"), ms);
  }
}
