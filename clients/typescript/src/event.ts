// The content-changed event and its builder: Go's events.ContentChanged.

import { InvalidEventError, InvalidObjectError } from "./errors.js";
import { jsonString, jsonStringMap, rfc3339, utf8Length } from "./gojson.js";
import { checkCPCode, checkTag, checkURL } from "./objects.js";
import { MAX_ID_LENGTH, validID } from "./subject.js";

/** Action is what Akamai does to the objects: `invalidate` (the default) or `delete`. */
export type Action = "invalidate" | "delete";
/** Network is where: `production` (the default) or `staging`. */
export type Network = "production" | "staging";

/** ACTION_INVALIDATE marks content stale: the edge revalidates it (Akamai's recommendation). */
export const ACTION_INVALIDATE: Action = "invalidate";
/** ACTION_DELETE removes content from the edge. */
export const ACTION_DELETE: Action = "delete";
/** NETWORK_PRODUCTION is Akamai's production network. */
export const NETWORK_PRODUCTION: Network = "production";
/** NETWORK_STAGING is Akamai's staging network. */
export const NETWORK_STAGING: Network = "staging";

/** The consumer's default limit on an encoded event (its --max-event-bytes): 256 KiB. */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;
/** The most keys an event's metadata may have. */
export const MAX_METADATA_ENTRIES = 64;
/** The longest metadata key, in UTF-8 bytes. */
export const MAX_METADATA_KEY_BYTES = 128;
/** The longest metadata value, in UTF-8 bytes. */
export const MAX_METADATA_VALUE_BYTES = 1024;

/** URLer is anything that knows its absolute URL (Go's events.URLer). */
export interface URLer {
  absoluteURL(): string;
}

/**
 * ContentChanged is the event a service publishes when content changed and
 * its cached copies must be purged. Build it with {@link newContentChanged}
 * and the add/with methods, which return the event.
 */
export class ContentChanged {
  /** The event ID; the publisher assigns a UUID when it is empty. */
  id = "";
  /** Absolute http/https URLs or ARLs, sent as given. */
  urls: string[] = [];
  /** Cache tags. */
  tags: string[] = [];
  /** CP codes, positive integers. */
  cpcodes: number[] = [];
  /** The action; empty means invalidate, and is not written. */
  action: Action | "" = "";
  /** The network; empty means production, and is not written. */
  network: Network | "" = "";
  /** Who published: echoed in the result. */
  source = "";
  /** When the content changed; undefined is not written. */
  occurredAt: Date | undefined;
  /** The publisher's own labels, echoed in the result. */
  metadata: Record<string, string> = {};

  /** The event of source that occurred now; see {@link newContentChanged}. */
  constructor(source = "", occurredAt: Date | undefined = new Date()) {
    this.source = source;
    this.occurredAt = occurredAt;
  }

  /** objects returns the number of objects the event names. */
  objects(): number {
    return this.urls.length + this.tags.length + this.cpcodes.length;
  }

  /** addURLs adds URLs and returns the event. */
  addURLs(...urls: string[]): this {
    this.urls.push(...urls);
    return this;
  }

  /** addObjects adds the absolute URL of each object and returns the event. */
  addObjects(...objs: URLer[]): this {
    for (const o of objs) this.urls.push(o.absoluteURL());
    return this;
  }

  /** addTags adds cache tags and returns the event. */
  addTags(...tags: string[]): this {
    this.tags.push(...tags);
    return this;
  }

  /** addCPCodes adds CP codes and returns the event. */
  addCPCodes(...codes: number[]): this {
    this.cpcodes.push(...codes);
    return this;
  }

  /** withAction sets the action and returns the event. */
  withAction(a: Action): this {
    this.action = a;
    return this;
  }

  /** withNetwork sets the network and returns the event. */
  withNetwork(n: Network): this {
    this.network = n;
    return this;
  }

  /** withMetadata sets metadata key to value and returns the event. */
  withMetadata(key: string, value: string): this {
    setOwn(this.metadata, key, value);
    return this;
  }

  /**
   * encode returns the event as compact JSON, byte for byte what Go's
   * ContentChanged.Encode writes: fields in Go's order, empty ones left out.
   */
  encode(): string {
    const f: string[] = [];
    const list = (name: string, xs: readonly string[]) => {
      if (xs.length > 0) f.push(`"${name}":[${xs.map(jsonString).join(",")}]`);
    };
    if (this.id !== "") f.push(`"id":${jsonString(this.id)}`);
    list("urls", this.urls);
    list("tags", this.tags);
    if (this.cpcodes.length > 0) f.push(`"cpcodes":[${this.cpcodes.map((c) => cpcodeJSON(c)).join(",")}]`);
    if (this.action !== "") f.push(`"action":${jsonString(this.action)}`);
    if (this.network !== "") f.push(`"network":${jsonString(this.network)}`);
    if (this.source !== "") f.push(`"source":${jsonString(this.source)}`);
    if (this.occurredAt !== undefined) f.push(`"occurred_at":"${rfc3339(this.occurredAt)}"`);
    if (Object.keys(this.metadata).length > 0) f.push(`"metadata":${jsonStringMap(this.metadata)}`);
    return "{" + f.join(",") + "}";
  }

  /**
   * validate throws an {@link InvalidEventError} for an event the consumer
   * would refuse, as Go's Publish does before publishing: an invalid ID, an
   * unknown action or network, no objects, metadata over its limits, an
   * object Akamai would refuse, or an encoding larger than maxBytes. It
   * returns the encoded event.
   */
  validate(maxBytes = DEFAULT_MAX_EVENT_BYTES): string {
    if (!validID(this.id)) {
      throw new InvalidEventError(
        `event ID ${JSON.stringify(this.id)} is not 1-${MAX_ID_LENGTH} characters from letters, digits and -_:=+`,
        "bad_id",
      );
    }
    if (this.action !== "" && this.action !== ACTION_INVALIDATE && this.action !== ACTION_DELETE) {
      throw new InvalidEventError(`action ${JSON.stringify(this.action)} is neither invalidate nor delete`, "bad_action");
    }
    if (this.network !== "" && this.network !== NETWORK_PRODUCTION && this.network !== NETWORK_STAGING) {
      throw new InvalidEventError(`network ${JSON.stringify(this.network)} is neither production nor staging`, "bad_network");
    }
    if (this.objects() === 0) {
      throw new InvalidEventError("no objects: at least one of urls, tags or cpcodes is required", "no_objects");
    }
    const meta = checkMetadata(this.metadata);
    if (meta) throw new InvalidEventError(meta, "bad_metadata");
    const bad: InvalidObjectError[] = [];
    const check = <T>(xs: readonly T[], fn: (x: T) => void) => {
      for (const x of xs) {
        try {
          fn(x);
        } catch (err) {
          if (!(err instanceof InvalidObjectError)) throw err;
          bad.push(err);
        }
      }
    };
    check(this.urls, checkURL);
    check(this.tags, checkTag);
    check(this.cpcodes, checkCPCode);
    if (bad.length > 0) {
      throw new InvalidEventError(`${bad.length} invalid object(s)`, bad[0]?.code ?? "bad_url", bad);
    }
    const data = this.encode();
    const n = utf8Length(data);
    if (n > maxBytes) {
      throw new InvalidEventError(`event is ${n} bytes; the limit is ${maxBytes}`, "too_large");
    }
    return data;
  }
}

function cpcodeJSON(c: number): string {
  if (!Number.isSafeInteger(c)) {
    throw new InvalidEventError(`CP code ${c} is not an integer`, "bad_cpcode", [
      new InvalidObjectError("cpcode", String(c), "CP code must be a positive integer", "bad_cpcode"),
    ]);
  }
  return String(c);
}

/**
 * newContentChanged returns an empty invalidate-on-production event of
 * source that occurred now; add objects with its add methods.
 */
export function newContentChanged(source: string): ContentChanged {
  return new ContentChanged(source);
}

/** addAll adds the absolute URL of every object of objs (any iterable) to e and returns e. */
export function addAll<T extends URLer>(e: ContentChanged, objs: Iterable<T>): ContentChanged {
  for (const o of objs) e.urls.push(o.absoluteURL());
  return e;
}

/**
 * checkMetadata returns why m cannot be an event's metadata, or undefined:
 * at most 64 keys, each of 1 to 128 UTF-8 bytes, each value a string of at
 * most 1024 bytes, all well-formed Unicode. It is Go's CheckMetadata.
 */
export function checkMetadata(m: Readonly<Record<string, unknown>>): string | undefined {
  const keys = Object.keys(m);
  if (keys.length > MAX_METADATA_ENTRIES) {
    return `metadata has ${keys.length} keys, more than ${MAX_METADATA_ENTRIES}`;
  }
  for (const k of keys.sort()) {
    const v = m[k];
    const kb = utf8Length(k);
    if (k === "") return "metadata key is empty";
    if (kb > MAX_METADATA_KEY_BYTES) return `metadata key ${JSON.stringify(k.slice(0, 40))} is ${kb} bytes, more than ${MAX_METADATA_KEY_BYTES}`;
    if (typeof v !== "string") return `metadata value of ${JSON.stringify(k)} is not a string`;
    const vb = utf8Length(v);
    if (vb > MAX_METADATA_VALUE_BYTES) return `metadata value of ${JSON.stringify(k)} is ${vb} bytes, more than ${MAX_METADATA_VALUE_BYTES}`;
    if (!k.isWellFormed() || !v.isWellFormed()) return `metadata key ${JSON.stringify(k)} or its value is not valid UTF-8`;
  }
  return undefined;
}

/**
 * setOwn sets m[key] as an own property, so that a key such as "__proto__"
 * is a key like any other instead of the object's prototype.
 */
export function setOwn(m: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(m, key, { value, enumerable: true, writable: true, configurable: true });
}
