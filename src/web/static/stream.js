// The live connection: the client's Stream on /api/events for the chosen
// tenant (or all), resumed from the last event id it delivered whenever it
// drops (server restart, network, sleep), with jittered backoff. The
// dashboard never compares ids itself: the client's RecordSet does.
import { client } from "./api.js";

export class LiveStream {
  // onEvent(type, event), onState("connecting" | "live" | "reconnecting" | "offline", detail)
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.stream = null;
    addEventListener("online", () => this.stream?.reopen());
    addEventListener("offline", () => this.onState("offline", "the browser is offline"));
  }

  get lastId() {
    return this.stream?.lastEventId ?? null;
  }

  // Subscribes to `tenant` ("" = all) from just after `fromId`.
  start(tenant, fromId) {
    this.stop();
    this.stream = client.stream({
      tenants: tenant || [],
      since: fromId,
      onEvent: (type, ev) => this.onEvent(type, ev),
      onStatus: (state, detail) => this.onState(state, typeof detail === "string" ? detail : detail?.message),
    });
  }

  stop() {
    this.stream?.close();
    this.stream = null;
  }
}
