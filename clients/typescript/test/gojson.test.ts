// The Go-compatible encoding's edges that the shared vectors cannot hold
// (a JSON file cannot carry a lone surrogate, which Go has no string for).

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { compareUTF8, decodeResult, jsonString, newContentChanged, rfc3339 } from "../src/index.js";

describe("jsonString", () => {
  const cases: [string, string, string][] = [
    // As Go writes the string it would hold: U+FFFD.
    ["lone high surrogate", "a\ud800b", '"a\ufffdb"'],
    ["lone low surrogate", "\udc00", '"\ufffd"'],
    ["pair", "\ud83d\ude00", '"😀"'],
    ["separators", "\u2028\u2029", '"\\u2028\\u2029"'],
    ["HTML", "<&>", '"<&>"'],
    ["controls", "\u0000\u001f\u007f\t", '"\\u0000\\u001f\u007f\\t"'],
  ];
  for (const [name, s, want] of cases) it(name, () => assert.equal(jsonString(s), want));
});

describe("rfc3339", () => {
  const cases: [string, string][] = [
    ["2026-11-25T12:00:00.000Z", "2026-11-25T12:00:00Z"],
    ["2026-11-25T12:00:00.100Z", "2026-11-25T12:00:00.1Z"],
    ["2026-11-25T12:00:00.123Z", "2026-11-25T12:00:00.123Z"],
    ["2026-11-25T12:00:10.000Z", "2026-11-25T12:00:10Z"],
  ];
  for (const [iso, want] of cases) it(iso, () => assert.equal(rfc3339(new Date(iso)), want));
  it("refuses years RFC 3339 cannot write", () => assert.throws(() => rfc3339(new Date(Date.UTC(10000, 0, 1)))));
});

describe("compareUTF8", () => {
  it("sorts by code point, as Go sorts map keys", () => {
    assert.deepEqual(["😀", "ｚ", "z", "é", "", "a"].sort(compareUTF8), ["", "a", "z", "é", "ｚ", "😀"]);
  });
});

describe("metadata keys that name Object.prototype's members", () => {
  it("are keys like any other", () => {
    const e = newContentChanged("s").addTags("t").withMetadata("__proto__", "p").withMetadata("constructor", "c");
    e.occurredAt = undefined;
    assert.equal(e.encode(), '{"tags":["t"],"source":"s","metadata":{"__proto__":"p","constructor":"c"}}');
    const r = decodeResult('{"event_id":"e","outcome":"failed","purges":[],"failures":[],"received_at":"2026-11-25T12:00:00Z","completed_at":"2026-11-25T12:00:00Z","metadata":{"__proto__":"p"}}');
    assert.deepEqual(Object.entries(r.metadata ?? {}), [["__proto__", "p"]]);
  });
});
