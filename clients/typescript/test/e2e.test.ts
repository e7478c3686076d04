// End to end against the real consumer (cmd/consumer --sandbox): its
// embedded NATS, its fake Akamai that checks EdgeGrid signatures.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect as natsConnect, type NatsConnection } from "@nats-io/transport-node";

import {
  DEFAULT_CONTENT_STREAM,
  DEFAULT_DEAD_LETTER_STREAM,
  DEFAULT_RESULT_STREAM,
  DuplicateEventError,
  InvalidEventError,
  Publisher,
  PurgeTimeoutError,
  PurgebusUnavailable,
  connect,
  decodeResult,
  isControl,
  resultSubject,
  settingsFromEnv,
  deadLetterSubject,
  newContentChanged,
  type PurgeResult,
} from "../src/index.js";
import { freePort, startConsumer, type Consumer } from "./consumer.js";

const WAIT = 60_000; // for a result on a busy machine; not a timing assertion

function uniqueID(prefix: string): string {
  return `${prefix}-${randomUUID()}`;
}

/** contentLastSeq is the sequence of the last event the CONTENT stream stored. */
async function contentLastSeq(nc: NatsConnection): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(DEFAULT_CONTENT_STREAM)).state.last_seq;
}

/** next takes the next element of it, or fails after ms. */
async function next<T>(it: AsyncIterator<T>, ms = WAIT): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    assert.ok(!r.done, "iteration ended");
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

describe("against the real consumer", { timeout: 180_000 }, () => {
  let consumer: Consumer;
  let pub: Publisher;
  let nc: NatsConnection; // a plain NATS client, for what the publisher refuses to send

  before(async () => {
    consumer = await startConsumer();
    pub = await Publisher.connect({ url: consumer.url }, { subject: "content.changed.ts" });
    nc = await natsConnect({ servers: consumer.url });
  });

  after(async () => {
    await pub?.close();
    await nc?.close();
    await consumer?.stop();
  });

  it("purgeAndWait: a succeeded result with purge IDs, correlation ID and metadata", async () => {
    const e = newContentChanged("ts-test")
      .addURLs("https://www.example.com/ts/a", "https://www.example.com/ts/b?x=1&y=2")
      .addTags("ts-news")
      .withMetadata("page", "42")
      .withMetadata("editor", "Zoë");
    const r = await pub.purgeAndWait(e, { correlationId: "req-ts-1", timeout: WAIT });
    assert.match(e.id, /^[0-9a-f-]{36}$/);
    assert.equal(r.eventId, e.id);
    assert.equal(r.outcome, "succeeded");
    assert.equal(r.source, "ts-test");
    assert.equal(r.subject, "content.changed.ts");
    assert.equal(r.correlationId, "req-ts-1");
    assert.deepEqual(r.metadata, { page: "42", editor: "Zoë" });
    assert.deepEqual(r.failures, []);
    const byType = new Map(r.purges.map((p) => [p.type, p]));
    const urls = byType.get("url");
    const tags = byType.get("tag");
    assert.ok(urls && tags, `purges ${JSON.stringify(r.purges)}`);
    assert.deepEqual(urls.objects, ["https://www.example.com/ts/a", "https://www.example.com/ts/b?x=1&y=2"]);
    assert.deepEqual(tags.objects, ["ts-news"]);
    for (const p of r.purges) {
      assert.match(p.purgeId, /\S/);
      assert.equal(p.httpStatus, 201);
      assert.equal(p.action, "invalidate");
      assert.equal(p.network, "production");
      assert.ok(p.acceptedAt instanceof Date);
    }
    assert.ok(r.estimatedCompleteAt && r.estimatedCompleteAt >= r.receivedAt);
  });

  it("CP codes, delete on staging", async () => {
    const e = newContentChanged("ts-test").addCPCodes(12345).withAction("delete").withNetwork("staging");
    const r = await pub.purgeAndWait(e, { timeout: WAIT });
    assert.equal(r.outcome, "succeeded");
    assert.equal(r.purges.length, 1);
    assert.deepEqual(
      [r.purges[0]?.type, r.purges[0]?.action, r.purges[0]?.network, r.purges[0]?.objects],
      ["cpcode", "delete", "staging", ["12345"]],
    );
  });

  it("an undecodable event gets a failed result and a dead letter", async () => {
    const id = uniqueID("ts-raw");
    const since = new Date();
    const results = pub.results({ eventId: id, since });
    // Sent with the plain client: the publisher would refuse it.
    await jetstream(nc).publish("content.changed.ts", "{not json", { msgID: id });
    const r = await next(results);
    await results.return();
    assert.equal(r.eventId, id);
    assert.equal(r.outcome, "failed");
    assert.deepEqual(r.purges, []);
    assert.match(r.failures[0]?.detail ?? "", /undecodable JSON/);

    const js = jetstream(nc);
    const c = await js.consumers.get(DEFAULT_DEAD_LETTER_STREAM, { filter_subjects: [deadLetterSubject(id)] });
    const m = await c.next({ expires: WAIT });
    assert.ok(m, "no dead letter");
    const dl = m.json<{ event_id: string; reason: string; payload: string; subject: string }>();
    assert.equal(dl.event_id, id);
    assert.match(dl.reason, /undecodable JSON/);
    assert.equal(dl.payload, "{not json");
    assert.equal(dl.subject, "content.changed.ts");
  });

  it("refuses invalid events before publishing anything", async () => {
    const before = await contentLastSeq(nc);
    const cases: [string, () => Promise<unknown>][] = [
      ["relative_url", () => pub.publish(newContentChanged("ts").addURLs("/news/a"))],
      ["no_objects", () => pub.publish(newContentChanged("ts"))],
      ["too_large", () => pub.publish(newContentChanged("ts").addURLs(...Array.from({ length: 10000 }, (_, i) => `https://www.example.com/p/${i}`)))],
      ["bad_id", () => pub.purgeAndWait(Object.assign(newContentChanged("ts").addURLs("https://www.example.com/a"), { id: "a.b" }))],
    ];
    for (const [code, f] of cases) {
      await assert.rejects(f, (err: unknown) => err instanceof InvalidEventError && err.code === code, code);
    }
    assert.equal(await contentLastSeq(nc), before, "something was published");
  });

  it("results: filtered by outcome and source", async () => {
    const since = new Date();
    const srcA = uniqueID("ts-src-a");
    const srcB = uniqueID("ts-src-b");
    const filtered = pub.results({ outcomes: ["failed"], sources: [srcB], since });
    const all = pub.results({ sources: [srcA, srcB], since });
    const failedB1 = uniqueID("ts-failed-b1");
    const failedB2 = uniqueID("ts-failed-b2");
    const js = jetstream(nc);
    await pub.publish(newContentChanged(srcA).addURLs("https://www.example.com/ts/filter-a"));
    await pub.publish(newContentChanged(srcB).addURLs("https://www.example.com/ts/filter-b"));
    // No objects: valid JSON that the consumer refuses.
    await js.publish("content.changed.ts", JSON.stringify({ id: failedB1, source: srcB }), { msgID: failedB1 });
    await js.publish("content.changed.ts", JSON.stringify({ id: "ts-failed-a-" + randomUUID(), source: srcA }));

    const seen: PurgeResult[] = [];
    while (seen.length < 4) seen.push(await next(all));
    await all.return();
    const outcomes = seen.map((r) => `${r.source === srcA ? "a" : "b"}:${r.outcome}`).sort();
    assert.deepEqual(outcomes, ["a:failed", "a:succeeded", "b:failed", "b:succeeded"]);

    // The filtered subscription saw only b's failure; a second one, sent
    // after everything else, is the very next it yields.
    const first = await next(filtered);
    assert.equal(first.eventId, failedB1);
    await js.publish("content.changed.ts", JSON.stringify({ id: failedB2, source: srcB }), { msgID: failedB2 });
    const second = await next(filtered);
    assert.equal(second.eventId, failedB2);
    assert.equal(second.outcome, "failed");
    await filtered.return();
  });

  it("results skips messages that are not results, and ends on abort", async () => {
    const since = new Date();
    const ac = new AbortController();
    const results = pub.results({ outcomes: ["failed"], since, signal: ac.signal });
    const js = jetstream(nc);
    await js.publish(`purge.result.failed.${uniqueID("ts-junk")}`, "not a result");
    const id = uniqueID("ts-after-junk");
    await js.publish("content.changed.ts", JSON.stringify({ id, urls: ["ftp://www.example.com/x"] }), { msgID: id });
    let r = await next(results);
    while (r.eventId !== id) r = await next(results); // failures of other tests may come first
    assert.equal(r.failures[0]?.objects[0], "ftp://www.example.com/x");
    ac.abort();
    const end = await results.next();
    assert.equal(end.done, true);

    const aborted = AbortSignal.abort(new Error("caller gave up"));
    const before = await contentLastSeq(nc);
    await assert.rejects(
      pub.purgeAndWait(newContentChanged("ts").addURLs("https://www.example.com/ts/aborted"), { signal: aborted }),
      /caller gave up/,
    );
    assert.equal(await contentLastSeq(nc), before, "an aborted purgeAndWait published");
  });

  it("a duplicate ID is stored once, purgeAndWait finds the stored result, other content under it is refused", async () => {
    const id = uniqueID("ts-dup");
    const first = await pub.purgeAndWait(Object.assign(newContentChanged("ts-dup").addURLs("https://www.example.com/ts/dup"), { id }), { timeout: WAIT });
    assert.equal(first.outcome, "succeeded");
    const seq = await contentLastSeq(nc);
    // A retry: the same content (another source and time are no difference).
    const receipt = await pub.publishReceipt(Object.assign(newContentChanged("ts-dup-retry").addURLs("https://www.example.com/ts/dup"), { id }));
    assert.deepEqual([receipt.id, receipt.duplicate], [id, true]);
    assert.equal(await contentLastSeq(nc), seq, "the duplicate was stored");
    // The ID reused for other content: refused, as in Go.
    await assert.rejects(
      pub.publish(Object.assign(newContentChanged("ts-dup").addURLs("https://www.example.com/ts/other"), { id })),
      (err: unknown) => err instanceof DuplicateEventError && err.id === id && /ts\/other/.test(err.difference),
    );
    await assert.rejects(
      pub.purgeAndWait(Object.assign(newContentChanged("ts-dup").addURLs("https://www.example.com/ts/dup").withMetadata("k", "v"), { id })),
      (err: unknown) => err instanceof DuplicateEventError && /metadata differ/.test(err.difference),
    );
    const again = await pub.purgeAndWait(Object.assign(newContentChanged("ts-dup").addURLs("https://www.example.com/ts/dup"), { id }), { timeout: WAIT });
    assert.equal(again.eventId, id);
    assert.deepEqual(again.purges.map((p) => p.purgeId), first.purges.map((p) => p.purgeId));
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(DEFAULT_RESULT_STREAM, { subjects_filter: `purge.result.*.${id}` });
    assert.equal(Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0), 1, "one result for the event");
  });

  it("an empty message on a result subject (a batch control message) is not a result", async () => {
    assert.ok(isControl(new Uint8Array()) && !isControl("{}"));
    const since = new Date();
    const e = Object.assign(newContentChanged("ts-control").addURLs("https://www.example.com/ts/control"), { id: uniqueID("ts-control") });
    const results = pub.results({ eventId: e.id, since });
    await jetstream(nc).publish(resultSubject("succeeded", e.id), new Uint8Array());
    const r = await pub.purgeAndWait(e, { timeout: WAIT });
    assert.equal(r.eventId, e.id);
    assert.equal(r.outcome, "succeeded");
    const followed = await next(results);
    await results.return();
    assert.deepEqual(followed, r);
  });

  it("purgeAndWait timing out carries the event ID; the result comes later", async () => {
    const since = new Date();
    const e = newContentChanged("ts-timeout").addURLs("https://www.example.com/ts/timeout");
    await assert.rejects(pub.purgeAndWait(e, { timeout: 1 }), (err: unknown) => err instanceof PurgeTimeoutError && err.eventId === e.id);
    const results = pub.results({ eventId: e.id, since });
    const r = await next(results);
    await results.return();
    assert.equal(r.outcome, "succeeded");
  });

  it("results since a time yields results stored before the iteration began", async () => {
    const e = newContentChanged("ts-since").addURLs("https://www.example.com/ts/since");
    const since = new Date();
    const r0 = await pub.purgeAndWait(e, { timeout: WAIT });
    const results = pub.results({ eventId: e.id, since });
    const r = await next(results);
    await results.return();
    assert.equal(r.eventId, r0.eventId);
  });
});

describe("NATS unavailable", { timeout: 60_000 }, () => {
  it("connect names the server tried, without its credentials", async () => {
    const port = await freePort();
    const url = `nats://someone:s3cret@127.0.0.1:${port}`;
    await assert.rejects(connect({ url, timeout: 2000 }), (err: unknown) => {
      assert.ok(err instanceof PurgebusUnavailable, String(err));
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  it("publish after the server went away is PurgebusUnavailable within the timeout", async () => {
    const consumer = await startConsumer();
    const pub = await Publisher.connect({ url: consumer.url }, { timeout: 2000 });
    try {
      await pub.publish(newContentChanged("ts").addURLs("https://www.example.com/ts/before"));
      await consumer.stop();
      const e = newContentChanged("ts").addURLs("https://www.example.com/ts/after");
      await assert.rejects(pub.publish(e), (err: unknown) => {
        assert.ok(err instanceof PurgebusUnavailable, String(err));
        assert.match(err.message, new RegExp(consumer.url.replace(/[.]/g, "\\.")));
        assert.match(err.message, new RegExp(e.id));
        return true;
      });
    } finally {
      await pub.nc.close();
      await consumer.stop();
    }
  });

  it("user and password from the consumer's environment variables; a wrong password is refused without showing it", async () => {
    const consumer = await startConsumer(["--nats-listen-user", "publisher", "--nats-listen-password", "s3cret-pw"]);
    try {
      const env = { NATS_URL: consumer.url, NATS_USER: "publisher", PURGEBUS_NATS_PASSWORD: "s3cret-pw" };
      const pub = await Publisher.connect(settingsFromEnv(env));
      try {
        const r = await pub.purgeAndWait(newContentChanged("ts-auth").addURLs("https://www.example.com/ts/auth"), { timeout: WAIT });
        assert.equal(r.outcome, "succeeded");
      } finally {
        await pub.close();
      }
      await assert.rejects(Publisher.connect(settingsFromEnv({ ...env, PURGEBUS_NATS_PASSWORD: "wrong-pw" })), (err: unknown) => {
        assert.ok(err instanceof PurgebusUnavailable, String(err));
        assert.match(err.message, /as user "publisher"/);
        assert.doesNotMatch(err.message, /wrong-pw|s3cret-pw/);
        return true;
      });
    } finally {
      await consumer.stop();
    }
  });

  it("decodeResult refuses what is not a result", () => {
    assert.throws(() => decodeResult("[]"));
    assert.throws(() => decodeResult('{"event_id":1}'));
  });
});
