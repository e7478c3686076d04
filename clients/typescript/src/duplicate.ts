// A publish whose ID JetStream had already stored: Go's events package
// (duplicate.go) tells a harmless retry from a reused ID, and so does this.

import type { JetStreamManager } from "@nats-io/jetstream";

import { DuplicateEventError } from "./errors.js";
import { ACTION_INVALIDATE, ContentChanged, NETWORK_PRODUCTION, setOwn, type Action, type Network } from "./event.js";
import { normalizeURL } from "./objects.js";
import type { PurgeResult } from "./result.js";

/** Receipt is what JetStream's acknowledgement of a published event said (Go's events.Receipt). */
export interface Receipt {
  /** The event's ID, its Nats-Msg-Id. */
  id: string;
  /** Where the event is stored: for a duplicate, the one stored first. */
  stream: string;
  sequence: number;
  /**
   * JetStream had stored an event with this ID within its duplicates
   * window, with the same content: a harmless retry, purged once. (Other
   * content is a DuplicateEventError instead.)
   */
  duplicate: boolean;
}

/**
 * Content is what an event asks to purge: its normalized objects, each as
 * "type action network object", and its metadata. Source and time are not
 * content: a retry may differ in them.
 */
interface Content {
  objects: Set<string>;
  metadata: Record<string, string>;
}

function contentOf(e: ContentChanged): Content {
  const a: Action = e.action || ACTION_INVALIDATE;
  const n: Network = e.network || NETWORK_PRODUCTION;
  const objects = new Set<string>();
  for (const u of e.urls) objects.add(`url ${a} ${n} ${normalizeURL(u)}`);
  for (const t of e.tags) objects.add(`tag ${a} ${n} ${t}`);
  for (const c of e.cpcodes) objects.add(`cpcode ${a} ${n} ${c}`);
  return { objects, metadata: e.metadata };
}

/** contentOfResult is undefined when the result does not name each object with its type, action and network. */
function contentOfResult(r: PurgeResult): Content | undefined {
  const objects = new Set<string>();
  for (const g of [...r.purges, ...r.failures]) {
    if (!g.type || !g.action || !g.network || g.objects.length === 0) return undefined;
    for (const o of g.objects) objects.add(`${g.type} ${g.action} ${g.network} ${o}`);
  }
  return objects.size > 0 ? { objects, metadata: r.metadata ?? {} } : undefined;
}

/** difference says how want (the new event) differs from got (the stored one), or "". */
function difference(got: Content, want: Content): string {
  const only = [...want.objects].filter((k) => !got.objects.has(k));
  const missing = [...got.objects].filter((k) => !want.objects.has(k));
  const parts: string[] = [];
  if (only.length > 0) parts.push("the new event also has " + sample(only));
  if (missing.length > 0) parts.push("the stored one also has " + sample(missing));
  if (parts.length === 0 && !sameMetadata(got.metadata, want.metadata)) parts.push("their metadata differ");
  return parts.join("; ");
}

function sameMetadata(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

function sample(keys: string[]): string {
  keys.sort();
  return keys.length <= 3 ? keys.join(", ") : `${keys.slice(0, 3).join(", ")} (and ${keys.length - 3} more)`;
}

/**
 * ReadResult resolves with the stored result of event id, or undefined
 * when there is none; it rejects when it cannot be read.
 */
export type ReadResult = (id: string) => Promise<PurgeResult | undefined>;

/** mayNotRead and seeDocs frame the difference of a duplicate whose stored event this publisher could not read (Go's). */
const mayNotRead = "this publisher may not read the stored event";
const seeDocs = " (see docs/nats-permissions.md)";

/**
 * checkDuplicate compares e with the event JetStream stored first under its
 * ID: still in the content stream while it waits or is purged (a work
 * queue), else named by its result, which readResult reads. Other
 * content, or content that can no longer be compared, is a
 * DuplicateEventError: the new event was not stored. A publisher that may
 * not read the content stream (docs/nats-permissions.md: it holds every
 * source's events) compares with the result.
 */
export async function checkDuplicate(jsm: JetStreamManager, readResult: ReadResult, e: ContentChanged, r: Receipt): Promise<void> {
  const dup = (difference: string) => new DuplicateEventError(e.id, r.stream, r.sequence, difference);
  const want = contentOf(e);
  let readable = true;
  let stored: Awaited<ReturnType<typeof jsm.streams.getMessage>> = null;
  try {
    stored = await jsm.streams.getMessage(r.stream, { seq: r.sequence });
  } catch {
    // Refused (nats.js rejects a refused request) or no answer within the timeout.
    readable = false;
  }
  if (stored) {
    let got: Content;
    try {
      got = contentOf(decodeEvent(stored.string()));
    } catch (err) {
      throw dup(`the stored event is not valid (${(err as Error).message})`);
    }
    const d = difference(got, want);
    if (d) throw dup(d);
    return;
  }
  let res: PurgeResult | undefined;
  try {
    res = await readResult(e.id);
  } catch (err) {
    if (readable) throw err;
    throw dup(`${mayNotRead} or its result, so the content could not be compared${seeDocs}`);
  }
  if (!res && !readable) throw dup(`${mayNotRead}, which has no result yet, so the content could not be compared${seeDocs}`);
  if (!res) throw dup("the stored event was purged and its result is gone, so its content cannot be compared");
  const got = contentOfResult(res);
  if (!got) throw dup("its result does not name every object, so its content cannot be compared");
  const d = difference(got, want);
  if (d) throw dup(d);
}

/**
 * decodeEvent decodes an encoded content-changed event (without
 * validating its objects; see ContentChanged.validate). A member of the
 * wrong type is an error; unknown members are ignored.
 */
export function decodeEvent(text: string): ContentChanged {
  const v: unknown = JSON.parse(text);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new TypeError("event: not a JSON object");
  const o = v as Record<string, unknown>;
  const str = (k: string): string => {
    const x = o[k];
    if (x === undefined || x === null) return "";
    if (typeof x !== "string") throw new TypeError(`event: ${k} is not a string`);
    return x;
  };
  const list = <T>(k: string, ok: (x: unknown) => x is T): T[] => {
    const x = o[k];
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x) || !x.every(ok)) throw new TypeError(`event: ${k} is not a list of the right type`);
    return x;
  };
  const e = new ContentChanged(str("source"), undefined);
  e.id = str("id");
  e.urls = list("urls", (x): x is string => typeof x === "string");
  e.tags = list("tags", (x): x is string => typeof x === "string");
  e.cpcodes = list("cpcodes", (x): x is number => Number.isSafeInteger(x));
  e.action = str("action") as Action;
  e.network = str("network") as Network;
  const at = str("occurred_at");
  if (at) e.occurredAt = new Date(at);
  const m = o["metadata"];
  if (m !== undefined && m !== null) {
    if (typeof m !== "object" || Array.isArray(m) || !Object.values(m).every((x) => typeof x === "string")) {
      throw new TypeError("event: metadata is not an object of strings");
    }
    for (const [k, x] of Object.entries(m as Record<string, string>)) setOwn(e.metadata, k, x);
  }
  return e;
}
