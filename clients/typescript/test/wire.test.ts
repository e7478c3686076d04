// The shared wire vectors (events/testdata/wire), which the Go and Python
// tests read too: a change to the contract fails every language until each
// follows.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

import { ContentChanged, InvalidEventError, decodeResult, type Action, type Network, type PurgeResult } from "../src/index.js";
import { repoRoot } from "./consumer.js";

const wireDir = join(repoRoot, "events", "testdata", "wire");

interface WireInput {
  source?: string;
  id?: string;
  occurred_at?: string;
  urls?: string[];
  urls_generate?: { prefix: string; count: number };
  tags?: string[];
  cpcodes?: number[];
  action?: string;
  network?: string;
  metadata?: Record<string, string>;
}

function read<T>(name: string): { cases: T[] } {
  return JSON.parse(readFileSync(join(wireDir, name), "utf8")) as { cases: T[] };
}

/** build makes the event with this package's builder, as a caller would. */
function build(input: WireInput): ContentChanged {
  const known = new Set(["source", "id", "occurred_at", "urls", "urls_generate", "tags", "cpcodes", "action", "network", "metadata"]);
  for (const k of Object.keys(input)) assert.ok(known.has(k), `unknown input key ${k}`);
  const e = new ContentChanged(input.source ?? "", input.occurred_at ? new Date(input.occurred_at) : new Date());
  if (input.id !== undefined) e.id = input.id;
  e.addURLs(...(input.urls ?? []));
  const g = input.urls_generate;
  if (g) for (let i = 0; i < g.count; i++) e.addURLs(g.prefix + String(i));
  e.addTags(...(input.tags ?? [])).addCPCodes(...(input.cpcodes ?? []));
  // The vectors hold invalid actions and networks on purpose.
  if (input.action) e.withAction(input.action as Action);
  if (input.network) e.withNetwork(input.network as Network);
  for (const [k, v] of Object.entries(input.metadata ?? {})) e.withMetadata(k, v);
  return e;
}

describe("events.json", () => {
  const cases = read<{ name: string; input: WireInput; json: string }>("events.json").cases;
  it("has cases", () => assert.ok(cases.length >= 10));
  for (const c of cases) {
    it(c.name, () => {
      const e = build(c.input);
      assert.equal(e.encode(), c.json);
      if (e.id === "") e.id = "wire-test";
      assert.doesNotThrow(() => e.validate());
    });
  }
});

describe("invalid_events.json", () => {
  const cases = read<{ name: string; input: WireInput; error: string }>("invalid_events.json").cases;
  it("has cases", () => assert.ok(cases.length >= 10));
  for (const c of cases) {
    it(c.name, () => {
      const e = build(c.input);
      if (e.id === "") e.id = "wire-test";
      assert.throws(
        () => e.validate(),
        (err: unknown) => err instanceof InvalidEventError && err.code === c.error,
        `want InvalidEventError ${c.error}`,
      );
    });
  }
});

// The times of results, compared in milliseconds: a Date's precision.
const timeKeys = new Set(["received_at", "completed_at", "estimated_complete_at", "accepted_at"]);

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
}

/** wireForm is a decoded result as expect writes it: snake_case, times in ms. */
function wireForm(v: unknown, key = ""): unknown {
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return v.map((x) => wireForm(x));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => {
        const sk = key === "metadata" ? k : snake(k);
        return [sk, wireForm(x, sk)];
      }),
    );
  }
  return v;
}

/** expectForm is expect with its times in ms. */
function expectForm(v: unknown, key = ""): unknown {
  if (typeof v === "string" && timeKeys.has(key)) return new Date(v.replace(/(\.\d{3})\d+/, "$1")).getTime();
  if (Array.isArray(v)) return v.map((x) => expectForm(x));
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, key === "metadata" ? x : expectForm(x, k)]));
  }
  return v;
}

describe("results.json", () => {
  const cases = read<{ name: string; json: string; expect: unknown }>("results.json").cases;
  it("has cases, one with an escalation", () => {
    assert.ok(cases.length >= 5);
    assert.ok(cases.some((c) => c.json.includes('"escalation"')));
  });
  for (const c of cases) {
    it(c.name, () => {
      const r: PurgeResult = decodeResult(c.json);
      assert.deepEqual(wireForm(r), expectForm(c.expect));
      // Bytes decode as the string does.
      assert.deepEqual(decodeResult(new TextEncoder().encode(c.json)), r);
    });
  }
});
