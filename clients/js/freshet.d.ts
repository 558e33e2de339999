// Type declarations for freshet.js (Freshet's JavaScript client).

/** One record as Freshet stores it: its id and its local fields. */
export interface FreshetRecord {
  id: string;
  [field: string]: unknown;
}

/** A `change` event as the server sends it (docs/api.md, "Event types"). */
export interface ChangeEvent {
  id: string;
  type: "change";
  source: string;
  object: string;
  tenant: string | null;
  op: "created" | "updated" | "deleted";
  record_id: string;
  at: string;
  changed?: Record<string, { old: unknown; new: unknown }>;
  record: FreshetRecord | null;
  moved_to?: string | null;
}

/** A refresh job, as `job` events and GET /api/jobs/{id} tell it. */
export interface Job {
  job_id: string;
  tenant: string;
  status: "running" | "succeeded" | "failed" | "timed_out";
  stage: string;
  object: string | null;
  pages: number;
  records: number;
  total: number | null;
  elapsed_seconds: number;
  started_at: string;
  summary?: { records?: number; created?: number; updated?: number; deleted?: number; duration_seconds?: number };
  error?: string;
}

export interface MetricEvent {
  id: string;
  type: "metric";
  metric: string;
  label?: string;
  value: number;
  target?: number;
  tenant?: string | null;
  [key: string]: unknown;
}

export interface MessageEvent {
  id: string;
  type: "message";
  tenant: string | null;
  message: unknown;
}

export interface ResetEvent {
  id?: string;
  type: "reset";
  [key: string]: unknown;
}

export type Status = "connecting" | "live" | "reconnecting" | "offline";
export type EventType = "change" | "job" | "metric" | "message" | "reset";
/** A token, or a function that returns a fresh one (called before a JWT's exp and after a 401). */
export type TokenSource = string | (() => string | Promise<string>);

export class FreshetError extends Error {
  readonly status: number;
  /** The API's error.code, e.g. "forbidden_tenant", "token_expired", "refresh_cooldown"; "unreachable" for no answer. */
  readonly code: string;
  readonly response: Response | null;
}

export interface ClientOptions {
  /** Freshet's origin; default: this page's. */
  url?: string;
  token?: TokenSource;
  /** "auto": EventSource where there is one, else fetch streaming. */
  transport?: "auto" | "eventsource" | "fetch";
  fetch?: typeof fetch;
}

export interface Snapshot {
  records: FreshetRecord[];
  /** record id -> the event id its page was read at */
  versions: Map<string, string>;
  /** the first page's position: subscribe from it */
  lastEventId: string;
}

export class Client {
  constructor(options?: ClientOptions);
  readonly url: string;
  token(): Promise<string>;
  setToken(token: TokenSource): void;
  renewToken(): Promise<boolean>;
  request(path: string, options?: { method?: string; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal }):
    Promise<{ doc: any; response: Response }>;
  get(path: string, options?: { method?: string; body?: unknown; signal?: AbortSignal }): Promise<any>;
  snapshot(object: string, options?: { tenant?: string | string[]; pageSize?: number; signal?: AbortSignal }): Promise<Snapshot>;
  refresh(tenant: string): Promise<{ job_id: string; joined: boolean }>;
  job(id: string): Promise<Job>;
  stream(options: StreamOptions): Stream;
  close(): void;
}

export interface StreamOptions {
  objects?: string | string[];
  tenants?: string | string[];
  /** resume right after this event id */
  since?: string | null;
  onEvent: (type: EventType, event: any, id: string) => void;
  onStatus?: (status: Status, detail?: FreshetError | string) => void;
  random?: () => number;
}

export class Stream {
  constructor(client: Client, options: StreamOptions);
  readonly lastEventId: string | null;
  readonly status: Status | null;
  reopen(): void;
  close(): void;
}

export class RecordSet {
  constructor(snapshot?: Pick<Snapshot, "records" | "versions">);
  readonly records: Map<string, FreshetRecord>;
  load(snapshot: Pick<Snapshot, "records" | "versions">): void;
  apply(event: ChangeEvent): { record: FreshetRecord | null; previous: FreshetRecord | null } | null;
}

export interface ConnectOptions extends ClientOptions {
  object: string;
  tenant?: string | string[];
  pageSize?: number;
  /** share one Client (and its token) between several views */
  client?: Client;
  random?: () => number;
}

export interface LiveEventMap {
  status: CustomEvent<{ status: Status; error?: FreshetError }>;
  snapshot: CustomEvent<{ records: Map<string, FreshetRecord> }>;
  change: CustomEvent<{ event: ChangeEvent; record: FreshetRecord | null; previous: FreshetRecord | null }>;
  job: CustomEvent<Job>;
  metric: CustomEvent<MetricEvent>;
  message: CustomEvent<MessageEvent>;
  reset: CustomEvent<ResetEvent>;
  error: CustomEvent<FreshetError>;
}

export class Live extends EventTarget {
  readonly object: string;
  readonly client: Client;
  /** the object's records, kept in step with the stream */
  readonly records: Map<string, FreshetRecord>;
  readonly status: Status;
  readonly lastEventId: string | null;
  /** settles once the (first or latest) snapshot has loaded */
  readonly ready: Promise<void>;
  addEventListener<K extends keyof LiveEventMap>(type: K, listener: (event: LiveEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  refresh(options?: { tenant?: string; onProgress?: (job: Job) => void }): Promise<Job>;
  close(): void;
}

export function connect(options: ConnectOptions): Live;
export function compareIds(a: string, b: string): -1 | 0 | 1 | null;
export function backoffMs(attempt: number, options?: { baseMs?: number; capMs?: number; random?: () => number }): number;
export function renewalDelayMs(token: string, nowMs?: number): number | null;
export function readEventStream(body: ReadableStream<Uint8Array>, onEvent: (type: string, data: string, id: string) => void): Promise<void>;
export const EVENT_TYPES: EventType[];
