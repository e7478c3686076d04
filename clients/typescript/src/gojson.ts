// Encoding as Go's encoding/json writes it with HTML escaping off (the Go
// events package's marshal), so that an event published from TypeScript
// is byte for byte the one Go would publish. The shared wire vectors
// (events/testdata/wire/events.json) check it.

/**
 * jsonString quotes s as encoding/json does with escapeHTML false: what
 * JSON.stringify writes (no HTML escaping; \b \f \n \r \t short, other
 * control characters as \u00xx), with a lone surrogate, which Go cannot
 * hold, as U+FFFD and U+2028 and U+2029 escaped.
 */
export function jsonString(s: string): string {
  return JSON.stringify(s.toWellFormed()).replace(/[\u2028\u2029]/g, (c) =>
    c === "\u2028" ? "\\u2028" : "\\u2029",
  );
}

/**
 * compareUTF8 orders strings by their UTF-8 bytes, as Go sorts map keys;
 * that is code point order, which UTF-16 comparison (JavaScript's <) is
 * not above U+FFFF.
 */
export function compareUTF8(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

/** jsonStringMap encodes m as encoding/json encodes a map[string]string. */
export function jsonStringMap(m: Readonly<Record<string, string>>): string {
  const keys = Object.keys(m).sort(compareUTF8);
  return "{" + keys.map((k) => jsonString(k) + ":" + jsonString(m[k] ?? "")).join(",") + "}";
}

/**
 * rfc3339 writes t as Go's time.Time.MarshalJSON writes a UTC time:
 * RFC 3339 with "Z", the fraction without trailing zeros.
 */
export function rfc3339(t: Date): string {
  const iso = t.toISOString();
  if (!/^\d{4}-/.test(iso)) {
    throw new RangeError(`time ${iso} is outside the years 0000-9999 that RFC 3339 allows`);
  }
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : "Z"));
}

/** utf8Length is the number of bytes of s in UTF-8. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}
