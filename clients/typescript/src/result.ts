// The result event: Go's events.PurgeResult, Purge and Failure.

import { ResultDecodeError } from "./errors.js";
import { setOwn } from "./event.js";

/** Outcome is how an event ended. */
export type Outcome = "succeeded" | "partial" | "failed";
/** OUTCOME_SUCCEEDED: every object of the event was purged. */
export const OUTCOME_SUCCEEDED: Outcome = "succeeded";
/** OUTCOME_PARTIAL: some objects were purged and some failed. */
export const OUTCOME_PARTIAL: Outcome = "partial";
/** OUTCOME_FAILED: no object was purged. */
export const OUTCOME_FAILED: Outcome = "failed";

/** PurgeResult is the one result the consumer publishes for every event. */
export interface PurgeResult {
  eventId: string;
  /** `succeeded`, `partial` or `failed` (a string, should the contract add one). */
  outcome: Outcome | (string & {});
  source?: string;
  /** The Fast Purge requests Akamai accepted, each with only this event's objects. */
  purges: Purge[];
  /** The objects that could not be purged, and why. */
  failures: Failure[];
  receivedAt: Date;
  /** When the outcome was decided. */
  completedAt: Date;
  /** When Akamai expects the last purge to have reached the edge; absent when nothing was purged. */
  estimatedCompleteAt?: Date;
  /** The subject the event was published to. */
  subject?: string;
  /** Follows the event through logs to its result (the Correlation-Id header, else the event ID). */
  correlationId?: string;
  /** The event's metadata, echoed. */
  metadata?: Record<string, string>;
  /**
   * Set when the result was shortened to fit the NATS server's message
   * size: long texts cut, objects left out (counted in objectsOmitted);
   * the outcome stays exact.
   */
  truncated?: boolean;
}

/** Purge is one Fast Purge request that Akamai accepted, as it concerns one event. */
export interface Purge {
  purgeId: string;
  supportId: string;
  estimatedSeconds: number;
  httpStatus: number;
  /** `url`, `tag` or `cpcode`. */
  type: string;
  action: string;
  network: string;
  /** The Akamai account that purged, when purgebus routes to several. */
  account?: string;
  /** The event's own objects in this request; CP codes as decimal strings. */
  objects: string[];
  acceptedAt?: Date;
  /** Why the consumer purged these objects another way than asked, when it did. */
  escalation?: Escalation;
  /** Objects of this request left out of objects to fit the result in a message. */
  objectsOmitted?: number;
}

/** Escalation tells that objects were purged by a wider object (a CP code for many URLs). */
export interface Escalation {
  type: string;
  object: string;
  reason: string;
}

/** Failure is a group of an event's objects that could not be purged. */
export interface Failure {
  type?: string;
  action?: string;
  network?: string;
  /** The failed objects; CP codes as decimal strings. */
  objects: string[];
  httpStatus?: number;
  title: string;
  detail?: string;
  supportId?: string;
  /** Failed objects left out of objects to fit the result in a message. */
  objectsOmitted?: number;
}

type JSONObject = Record<string, unknown>;

/**
 * isControl reports whether data, the body of a message on a result
 * subject, is a control message rather than a result: it is empty. A
 * consumer that stores results in fast batches may send one on the subject
 * of a result (a ping after a lost flow acknowledgement), which the stream
 * does not store but core NATS subscribers of purge.result.> receive.
 * Readers of results skip it. It is Go's events.IsControl.
 */
export function isControl(data: string | Uint8Array): boolean {
  return data.length === 0;
}

/**
 * decodeResult decodes a result event as Go's DecodeResult does: unknown
 * members are ignored, a member of the wrong type is an error, CP codes
 * become strings. Absent optional members are absent; absent lists empty.
 */
export function decodeResult(data: string | Uint8Array): PurgeResult {
  const text = typeof data === "string" ? data : new TextDecoder("utf-8", { fatal: true }).decode(data);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ResultDecodeError(`result: ${(err as Error).message}`, { cause: err });
  }
  const o = object(v, "result");
  const r: PurgeResult = {
    eventId: str(o, "event_id") ?? "",
    outcome: str(o, "outcome") ?? "",
    purges: list(o, "purges").map((p, i) => purge(object(p, `purges[${i}]`))),
    failures: list(o, "failures").map((f, i) => failure(object(f, `failures[${i}]`))),
    receivedAt: time(o, "received_at") ?? missing("received_at"),
    completedAt: time(o, "completed_at") ?? missing("completed_at"),
  };
  setOpt(r, "source", str(o, "source"));
  setOpt(r, "estimatedCompleteAt", time(o, "estimated_complete_at"));
  setOpt(r, "subject", str(o, "subject"));
  setOpt(r, "correlationId", str(o, "correlation_id"));
  setOpt(r, "metadata", stringMap(o, "metadata"));
  const truncated = o["truncated"];
  if (truncated !== undefined && truncated !== null && typeof truncated !== "boolean") {
    throw new ResultDecodeError("truncated: not a boolean");
  }
  if (truncated === true) r.truncated = true;
  return r;
}

function purge(o: JSONObject): Purge {
  const p: Purge = {
    purgeId: str(o, "purge_id") ?? "",
    supportId: str(o, "support_id") ?? "",
    estimatedSeconds: int(o, "estimated_seconds") ?? 0,
    httpStatus: int(o, "http_status") ?? 0,
    type: str(o, "type") ?? "",
    action: str(o, "action") ?? "",
    network: str(o, "network") ?? "",
    objects: objects(o),
  };
  setOpt(p, "account", str(o, "account"));
  setOpt(p, "acceptedAt", time(o, "accepted_at"));
  if (o["escalation"] !== undefined && o["escalation"] !== null) {
    const e = object(o["escalation"], "escalation");
    p.escalation = { type: str(e, "type") ?? "", object: str(e, "object") ?? "", reason: str(e, "reason") ?? "" };
  }
  const omitted = int(o, "objects_omitted");
  if (omitted) p.objectsOmitted = omitted;
  return p;
}

function failure(o: JSONObject): Failure {
  const f: Failure = { objects: objects(o), title: str(o, "title") ?? "" };
  setOpt(f, "type", str(o, "type"));
  setOpt(f, "action", str(o, "action"));
  setOpt(f, "network", str(o, "network"));
  const status = int(o, "http_status");
  if (status !== undefined && status !== 0) f.httpStatus = status;
  setOpt(f, "detail", str(o, "detail"));
  setOpt(f, "supportId", str(o, "support_id"));
  const omitted = int(o, "objects_omitted");
  if (omitted) f.objectsOmitted = omitted;
  return f;
}

// Optional members are set only when present and not empty, as Go's
// omitempty writes them, so that a decoded result compares with what was
// sent.
function setOpt<T extends object, K extends keyof T>(t: T, k: K, v: T[K] | undefined): void {
  if (v === undefined || v === "") return;
  if (typeof v === "object" && v !== null && !(v instanceof Date) && Object.keys(v).length === 0) return;
  t[k] = v;
}

function missing(name: string): never {
  throw new ResultDecodeError(`result: no ${name}`);
}

function object(v: unknown, what: string): JSONObject {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ResultDecodeError(`${what}: not a JSON object`);
  }
  return v as JSONObject;
}

function str(o: JSONObject, k: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ResultDecodeError(`${k}: not a string`);
  return v;
}

function int(o: JSONObject, k: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw new ResultDecodeError(`${k}: not an integer`);
  return v;
}

function list(o: JSONObject, k: string): unknown[] {
  const v = o[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ResultDecodeError(`${k}: not a list`);
  return v;
}

function objects(o: JSONObject): string[] {
  return list(o, "objects").map((x) => {
    if (typeof x === "string") return x;
    if (typeof x === "number" && Number.isInteger(x)) return String(x);
    throw new ResultDecodeError("objects: neither a string nor an integer");
  });
}

function stringMap(o: JSONObject, k: string): Record<string, string> | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const m = object(v, k);
  const out: Record<string, string> = {};
  for (const [key, val] of Object.entries(m)) {
    if (typeof val !== "string") throw new ResultDecodeError(`${k}.${key}: not a string`);
    setOwn(out, key, val);
  }
  return out;
}

// RFC 3339 as Go's time.Time.UnmarshalJSON takes it; Date keeps
// milliseconds.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

function time(o: JSONObject, k: string): Date | undefined {
  const v = str(o, k);
  if (v === undefined) return undefined;
  if (!RFC3339.test(v)) throw new ResultDecodeError(`${k}: ${JSON.stringify(v)} is not an RFC 3339 time`);
  // Date.parse takes at most milliseconds reliably: cut the fraction.
  const d = new Date(v.replace(/(\.\d{3})\d+/, "$1"));
  if (Number.isNaN(d.getTime())) throw new ResultDecodeError(`${k}: ${JSON.stringify(v)} is not a time`);
  return d;
}
