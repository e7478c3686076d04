// URL normalization as the consumer does it (what Go's
// akamai.NormalizeObject returned for the same input), and redacted
// credentials in refusals.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { InvalidObjectError, normalizeURL } from "../src/index.js";

describe("normalizeURL", () => {
  const cases: [string, string][] = [
    ['HTTPS://www.example.com/a b?c="d"', "https://www.example.com/a%20b?c=%22d%22"],
    ["https://www.example.com/café?q=ü&x=<1>", "https://www.example.com/caf%C3%A9?q=%C3%BC&x=%3C1%3E"],
    ["/L/512/6848/1h/www.example.com/ä{x}", "/L/512/6848/1h/www.example.com/%C3%A4%7Bx%7D"],
    ["Http://www.example.com:8080/%7Euser/|", "http://www.example.com:8080/%7Euser/%7C"],
    ["https://[::1]:443/a^b", "https://[::1]:443/a%5Eb"],
    ["https://www.example.com/100%25", "https://www.example.com/100%25"],
  ];
  for (const [raw, want] of cases) it(raw, () => assert.equal(normalizeURL(raw), want));

  const redacted: [string, string][] = [
    ["https://user:pw@www.example.com/a", "https://user:[redacted]@www.example.com/a"],
    ["https://tok@www.example.com/a", "https://[redacted]@www.example.com/a"],
  ];
  for (const [raw, shown] of redacted) {
    it(`refuses ${shown} without its secret`, () => {
      assert.throws(
        () => normalizeURL(raw),
        (err: unknown) => err instanceof InvalidObjectError && err.code === "user_info" && err.object === shown && !err.message.includes(raw),
      );
    });
  }
});
