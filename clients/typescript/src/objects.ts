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
  normalizeURL(raw);
}

/**
 * normalizeURL returns the form in which the consumer sends raw to Akamai
 * (Go's akamai.NormalizeObject): the scheme lower-cased; in the path and
 * query, spaces, non-ASCII bytes and "<>\\^`{|} percent-encoded. It throws
 * an InvalidObjectError for what the consumer refuses.
 */
export function normalizeURL(raw: string): string {
  const bad = (reason: string, code: InvalidObjectError["code"] = "bad_url", shown = raw): never => {
    throw new InvalidObjectError("url", shown, reason, code);
  };
  if (typeof raw !== "string") bad("not a string");
  if (raw === "") bad("empty URL");
  let prefix: string; // the ARL's fields, or the scheme and "://" (ASCII)
  let lower = false;
  if (raw.length > 1 && raw[0] === "/" && raw[1] !== "/") {
    prefix = raw.slice(0, arlPrefix(raw) ?? bad(NOT_ABSOLUTE, "relative_url"));
  } else {
    const schemeEnd = raw.indexOf("://");
    if (schemeEnd < 0) bad("not an absolute http or https URL, nor an ARL (/L/…)", "relative_url");
    const scheme = raw.slice(0, schemeEnd);
    // ASCII case only: toLowerCase would fold other letters too.
    if (!/^[hH][tT][tT][pP][sS]?$/.test(scheme)) bad("scheme must be http or https", "not_http");
    lower = scheme !== "http" && scheme !== "https";
    prefix = raw.slice(0, schemeEnd + 3);
  }
  const restText = raw.slice(prefix.length);
  const rest = Buffer.from(restText, "utf8");
  let hostEnd = rest.findIndex((c) => c === 0x2f || c === 0x3f || c === 0x23); // / ? #
  if (hostEnd < 0) hostEnd = rest.length;
  if (hostEnd === 0 || rest[0] === 0x3a) bad("missing host");
  const problem = structureProblem(restText, rest.subarray(0, hostEnd).toString("latin1"));
  if (problem) bad(problem.reason, problem.code, problem.code === "user_info" ? prefix + redactAuthority(restText) : raw);
  let out = lower ? prefix.toLowerCase() : prefix;
  let start = 0;
  const parts: Buffer[] = [];
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] ?? 0;
    if (c < 0x20 || c === 0x7f) bad("control character in URL");
    if (i >= hostEnd && (c >= 0x80 || ESCAPE.has(c))) {
      parts.push(rest.subarray(start, i), Buffer.from("%" + HEX[c >> 4] + HEX[c & 15], "latin1"));
      start = i + 1;
      continue;
    }
    if (c >= 0x80) bad("non-ASCII host: use its punycode (xn--) form");
    if (c === 0x20) bad("space in host");
    if (ESCAPE.has(c)) bad(`character ${JSON.stringify(String.fromCharCode(c))} is not allowed in a host`);
  }
  parts.push(rest.subarray(start));
  // What is left is printable ASCII without '"' or '\\' (both escaped):
  // its JSON form is itself and the quotes.
  out += Buffer.concat(parts).toString("latin1");
  if (out.length + 2 > MAX_OBJECT_BYTES) {
    bad(`URL is ${out.length + 2} bytes encoded; a request body holds at most ${MAX_OBJECT_BYTES}`);
  }
  return out;
}

const HEX = "0123456789ABCDEF";

/**
 * structureProblem is what Go's akamai package refuses in a URL's
 * structure: user info, an invalid port, a '%' that starts no %XX escape,
 * a fragment. rest follows the "://" (or the ARL's fields); host is its
 * part before the first / ? or #.
 */
function structureProblem(rest: string, host: string): { reason: string; code: InvalidObjectError["code"] } | undefined {
  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  if (authority.includes("@")) {
    return {
      reason: "user info (user:password@) in URL: Akamai purges by host, path and query, and credentials must not travel with a purge",
      code: "user_info",
    };
  }
  const port = portProblem(host);
  if (port) return port;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "%" && !/^%[0-9A-Fa-f]{2}/.test(rest.slice(i, i + 3))) {
      return {
        reason: `invalid percent-escape ${JSON.stringify(rest.slice(i, i + 3))}: '%' must start %XX with two hexadecimal digits (write a literal '%' as %25)`,
        code: "bad_escape",
      };
    }
    if (rest[i] === "#") {
      return {
        reason: "fragment (#…) in URL: it never reaches the CDN, so the URL without it is what would be purged; remove it",
        code: "fragment",
      };
    }
  }
  return undefined;
}

function portProblem(host: string): { reason: string; code: InvalidObjectError["code"] } | undefined {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end < 0) return { reason: "IPv6 host without its closing ']'", code: "bad_url" };
    host = host.slice(end + 1);
    if (host === "") return undefined;
    if (host[0] !== ":") return { reason: "characters after an IPv6 host's ']' that are not a port", code: "bad_url" };
    host = "x" + host;
  }
  const i = host.indexOf(":");
  if (i < 0) return undefined;
  const port = host.slice(i + 1);
  if (port === "") return undefined; // RFC 3986 allows it: the scheme's default port
  if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return { reason: `invalid port ${JSON.stringify(port)}: a port is a number from 1 to 65535`, code: "bad_port" };
  }
  return undefined;
}

/**
 * redactAuthority hides the password of the user info of rest (the part
 * after "://"), or the whole user info when it has no password (it may be
 * a token), as Go's akamai.RedactUserinfo does.
 */
function redactAuthority(rest: string): string {
  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const at = authority.lastIndexOf("@");
  if (at < 0) return rest;
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(":");
  const shown = colon >= 0 ? userinfo.slice(0, colon) + ":[redacted]" : "[redacted]";
  return shown + rest.slice(at);
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
