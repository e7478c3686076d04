// Validation of objects as Go's akamai.NormalizeObject does it: the
// publisher refuses what the consumer would refuse, before publishing.
// Objects are sent as they are given; the consumer normalizes them
// (percent-encoding, the scheme's case).

import { InvalidObjectError } from "./errors.js";

/** The longest cache tag Akamai purges, in characters (all ASCII). */
export const MAX_TAG_LENGTH = 128;

/** Akamai's largest request body, and the empty body's size. */
const MAX_BODY_BYTES = 50000;
const MAX_OBJECT_BYTES = MAX_BODY_BYTES - '{"objects":[]}'.length;

// Bytes percent-encoded in a path, query or fragment (akamai.escapeByte).
const ESCAPE = new Set([..." \"<>\\^`{|}"].map((c) => c.charCodeAt(0)));

const NOT_ABSOLUTE =
  "not an absolute http or https URL, nor an ARL (/<type code>/<serial>/<CP code>/<TTL>/<host>/<path>, e.g. /L/512/6848/1h/www.example.com/)";

/** checkURL throws an InvalidObjectError unless raw is a URL or an ARL the consumer purges. */
export function checkURL(raw: string): void {
  const bad = (reason: string, code: InvalidObjectError["code"] = "bad_url"): never => {
    throw new InvalidObjectError("url", raw, reason, code);
  };
  if (typeof raw !== "string") bad("not a string");
  if (raw === "") bad("empty URL");
  let prefixLength: number;
  if (raw.length > 1 && raw[0] === "/" && raw[1] !== "/") {
    prefixLength = arlPrefix(raw) ?? bad(NOT_ABSOLUTE, "relative_url");
  } else {
    const schemeEnd = raw.indexOf("://");
    if (schemeEnd < 0) bad("not an absolute http or https URL, nor an ARL (/L/…)", "relative_url");
    const scheme = raw.slice(0, schemeEnd);
    // ASCII case only: toLowerCase would fold other letters too.
    if (!/^(?:[hH][tT][tT][pP][sS]?)$/.test(scheme)) bad("scheme must be http or https", "not_http");
    prefixLength = schemeEnd + 3;
  }
  const rest = Buffer.from(raw.slice(prefixLength), "utf8");
  let hostEnd = rest.findIndex((c) => c === 0x2f || c === 0x3f || c === 0x23); // / ? #
  if (hostEnd < 0) hostEnd = rest.length;
  if (hostEnd === 0 || rest[0] === 0x3a) bad("missing host");
  let size = prefixLength + 2; // the ASCII prefix, and the quotes
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] ?? 0;
    if (c < 0x20 || c === 0x7f) bad("control character in URL");
    if (i >= hostEnd && (c >= 0x80 || ESCAPE.has(c))) {
      size += 3;
      continue;
    }
    if (c >= 0x80) bad("non-ASCII host: use its punycode (xn--) form");
    if (c === 0x20) bad("space in host");
    if (ESCAPE.has(c)) bad(`character ${JSON.stringify(String.fromCharCode(c))} is not allowed in a host`);
    size++;
  }
  if (size > MAX_OBJECT_BYTES) {
    bad(`URL is ${size} bytes encoded; a request body holds at most ${MAX_OBJECT_BYTES}`);
  }
}

/**
 * arlPrefix returns the length of an ARL's fields before its origin host
 * (/<type code>/<serial>/<CP code>/<TTL>/), or undefined if raw is no ARL.
 */
function arlPrefix(raw: string): number | undefined {
  const m = /^\/[A-Za-z0-9=]\/[0-9]+\/[0-9]+\/(?:[0-9]+|[0-9]+[A-Za-z])\//.exec(raw);
  return m ? m[0].length : undefined;
}

/** checkTag throws an InvalidObjectError unless tag is a cache tag Akamai purges. */
export function checkTag(tag: string): void {
  const bad = (reason: string): never => {
    throw new InvalidObjectError("tag", tag, reason, "bad_tag");
  };
  if (typeof tag !== "string") bad("not a string");
  if (tag === "") bad("empty tag");
  const bytes = Buffer.byteLength(tag, "utf8");
  if (bytes > MAX_TAG_LENGTH) bad(`tag is ${bytes} characters; Akamai purges at most ${MAX_TAG_LENGTH}`);
  const m = /[^A-Za-z0-9!#$%'+\-.^_`|~&]/.exec(tag);
  if (m) {
    bad(`character ${JSON.stringify(m[0])} is not allowed in a tag (allowed: letters, digits and !#$%'+-.^_\`|~&)`);
  }
}

/** checkCPCode throws an InvalidObjectError unless code is a positive integer. */
export function checkCPCode(code: number): void {
  if (!Number.isSafeInteger(code) || code <= 0) {
    throw new InvalidObjectError("cpcode", String(code), "CP code must be a positive integer", "bad_cpcode");
  }
}
