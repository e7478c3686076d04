// The publisher: Go's events.Publisher on @nats-io/jetstream.

import { randomUUID } from "node:crypto";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  TimeoutError,
  headers as natsHeaders,
  type NatsConnection,
} from "@nats-io/transport-node";
import {
  DeliverPolicy,
  JetStreamError,
  jetstream,
  type JetStreamClient,
  type JsMsg,
  type OrderedConsumerOptions,
} from "@nats-io/jetstream";

import { connect, DEFAULT_TIMEOUT, redactURLs, settingsFromEnv, type ConnectionSettings } from "./connect.js";
import { checkDuplicate, type Receipt } from "./duplicate.js";
import { PurgebusUnavailable, PurgeTimeoutError } from "./errors.js";
import { DEFAULT_MAX_EVENT_BYTES, type ContentChanged } from "./event.js";
import { decodeResult, isControl, type Outcome, type PurgeResult } from "./result.js";
import {
  CORRELATION_ID_HEADER,
  DEFAULT_RESULT_STREAM,
  SUBJECT_CONTENT_CHANGED,
  SUBJECT_RESULTS,
  resultFilter,
  validEventSubject,
  validID,
} from "./subject.js";

/** PublisherConfig configures a Publisher (Go's events.PublisherConfig). */
export interface PublisherConfig {
  /** Where events go: content.changed (the default) or a subject below it, such as content.changed.blog. */
  subject?: string;
  /** The stream results are read from; default PURGE_RESULTS. */
  resultStream?: string;
  /** Larger events are refused before publishing; default 256 KiB, the consumer's default. */
  maxEventBytes?: number;
  /** How long JetStream may take to store an event before PurgebusUnavailable, in milliseconds; default 2000. */
  timeout?: number;
}

/** PublishOptions are the options of one publish. */
export interface PublishOptions {
  /** Sent in the Correlation-Id header; the consumer copies it into the result's correlationId. */
  correlationId?: string;
}

/** PurgeAndWaitOptions are the options of one purgeAndWait. */
export interface PurgeAndWaitOptions extends PublishOptions {
  /** How long to wait for the result, in milliseconds; default 30000. */
  timeout?: number;
  /** Ends the wait early (with the signal's reason). */
  signal?: AbortSignal;
}

/** ResultsOptions select the results {@link Publisher.results} yields. */
export interface ResultsOptions {
  /** Only results with one of these outcomes. */
  outcomes?: readonly Outcome[];
  /** Only results of events from one of these sources. */
  sources?: readonly string[];
  /** Only the result of this event. */
  eventId?: string;
  /** Start with the results stored since then; default: only results that come from now on. */
  since?: Date;
  /** Stops the iteration. */
  signal?: AbortSignal;
}

/** The default wait of purgeAndWait, in milliseconds. */
export const DEFAULT_WAIT = 30_000;

/**
 * Publisher publishes content-changed events to NATS JetStream, and reads
 * their results. It is Go's events.Publisher.
 */
export class Publisher {
  readonly subject: string;
  readonly resultStream: string;
  readonly maxEventBytes: number;
  readonly timeout: number;
  private readonly js: JetStreamClient;
  private servers: string;
  private ownsConnection = false;

  /**
   * Publisher uses the connection nc, which stays the caller's; see
   * {@link Publisher.connect} for a publisher with a connection of its own.
   */
  constructor(
    readonly nc: NatsConnection,
    config: PublisherConfig = {},
  ) {
    this.subject = config.subject ?? SUBJECT_CONTENT_CHANGED;
    if (!validEventSubject(this.subject)) {
      throw new TypeError(`purgebus: subject ${JSON.stringify(this.subject)} is not ${SUBJECT_CONTENT_CHANGED} or below it`);
    }
    this.resultStream = config.resultStream ?? DEFAULT_RESULT_STREAM;
    this.maxEventBytes = config.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    this.timeout = config.timeout ?? DEFAULT_TIMEOUT;
    this.js = jetstream(nc, { timeout: this.timeout });
    this.servers = redactURLs(nc.getServer());
  }

  /**
   * connect opens a connection with settings (default: the environment's,
   * see {@link settingsFromEnv}) and returns a Publisher that owns it:
   * {@link Publisher.close} closes it. A server that cannot be reached is a
   * PurgebusUnavailable within settings.timeout (default 2 s).
   */
  static async connect(settings: ConnectionSettings = settingsFromEnv(), config: PublisherConfig = {}): Promise<Publisher> {
    const nc = await connect(settings);
    try {
      const p = new Publisher(nc, config);
      p.ownsConnection = true;
      p.servers = redactURLs((settings.url ?? "").trim() || nc.getServer());
      return p;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /**
   * publish is the queued form (django-akamai's queue_purge_request): it
   * assigns the event an ID when it has none, refuses an event the consumer
   * would refuse (InvalidEventError), and resolves once JetStream has
   * stored it, with the event's ID. The ID is the Nats-Msg-Id, so a retried
   * publish of the same event is stored once; the same ID with other
   * content is a DuplicateEventError. NATS unreachable, or no answer within
   * the timeout: PurgebusUnavailable.
   */
  async publish(e: ContentChanged, opts: PublishOptions = {}): Promise<string> {
    return (await this.publishReceipt(e, opts)).id;
  }

  /**
   * publishReceipt is publish, and also resolves with what JetStream
   * stored: receipt.duplicate tells a harmless retry (the same content
   * under an ID already stored) from a first publish. An ID that JetStream
   * stored before with other content is a DuplicateEventError: the new
   * content was not stored.
   */
  async publishReceipt(e: ContentChanged, opts: PublishOptions = {}): Promise<Receipt> {
    if (e.id === "") e.id = randomUUID();
    const data = e.validate(this.maxEventBytes);
    const h = natsHeaders();
    if (opts.correlationId) h.set(CORRELATION_ID_HEADER, opts.correlationId);
    let receipt: Receipt;
    try {
      const ack = await this.js.publish(this.subject, data, { msgID: e.id, headers: h, timeout: this.timeout });
      receipt = { id: e.id, stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate };
      if (receipt.duplicate) await checkDuplicate(await this.js.jetstreamManager(false), (id) => this.readResult(id), e, receipt);
    } catch (err) {
      throw this.unavailable(err, `event ${e.id} not stored`);
    }
    return receipt;
  }

  /**
   * purgeAndWait is the immediate form (django-akamai's purge_request): it
   * publishes e like publish and resolves with its result. The result
   * subscription starts before the event is published, so a fast result
   * cannot be missed, and a result already stored (the event was published
   * before) is found too; an ID published before with other content is a
   * DuplicateEventError, at once. No result within opts.timeout (default 30 s):
   * PurgeTimeoutError, carrying the event ID; the purge happens all the same.
   */
  async purgeAndWait(e: ContentChanged, opts: PurgeAndWaitOptions = {}): Promise<PurgeResult> {
    opts.signal?.throwIfAborted();
    if (e.id === "") e.id = randomUUID();
    e.validate(this.maxEventBytes); // refused before anything starts
    const wait = opts.timeout ?? DEFAULT_WAIT;
    const msgs = await this.watch({ filter_subjects: [resultFilter(e.id)], deliver_policy: DeliverPolicy.All });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      msgs.stop();
    }, wait);
    const abort = () => msgs.stop();
    opts.signal?.addEventListener("abort", abort, { once: true });
    try {
      await this.publish(e, opts);
      for await (const m of msgs) {
        if (isControl(m.data)) continue;
        return decodeResult(m.data);
      }
      opts.signal?.throwIfAborted();
      if (timedOut) throw new PurgeTimeoutError(e.id, wait);
      throw new PurgebusUnavailable(this.servers, `waiting for the result of event ${e.id}: the subscription ended`);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", abort);
      // stop, not close: close waits for an iteration that may never
      // have started (the publish failed).
      msgs.stop();
    }
  }

  /**
   * results yields result events as they come, oldest first: those of
   * opts.outcomes (subject filters), opts.sources, opts.eventId, from
   * opts.since (default: from the first next() on, as an async generator
   * starts then; pass since not to miss results published before). It runs
   * until the loop breaks or opts.signal aborts; an ordered consumer on
   * the results stream, it resumes by itself after a reconnection.
   * Messages on the result subjects that are not results are skipped.
   */
  async *results(opts: ResultsOptions = {}): AsyncGenerator<PurgeResult, void, undefined> {
    const last = opts.eventId ?? ">";
    if (opts.eventId !== undefined && !validID(opts.eventId)) {
      throw new TypeError(`purgebus: ${JSON.stringify(opts.eventId)} is not an event ID`);
    }
    const filters = opts.outcomes?.length
      ? [...new Set(opts.outcomes)].map((o) => `${SUBJECT_RESULTS}.${o}.${last}`)
      : [opts.eventId ? resultFilter(opts.eventId) : `${SUBJECT_RESULTS}.>`];
    const cfg: Partial<OrderedConsumerOptions> = { filter_subjects: filters };
    if (opts.since) {
      cfg.deliver_policy = DeliverPolicy.StartTime;
      cfg.opt_start_time = opts.since.toISOString();
    } else {
      cfg.deliver_policy = DeliverPolicy.New;
    }
    const msgs = await this.watch(cfg);
    const abort = () => msgs.stop();
    if (opts.signal?.aborted) abort();
    opts.signal?.addEventListener("abort", abort, { once: true });
    const sources = opts.sources ? new Set(opts.sources) : undefined;
    try {
      for await (const m of msgs) {
        const r = decodeOrSkip(m);
        if (r && (!sources || sources.has(r.source ?? ""))) yield r;
      }
    } finally {
      opts.signal?.removeEventListener("abort", abort);
      msgs.stop();
    }
  }

  /** close closes the connection if the publisher opened it (Publisher.connect), after flushing. */
  async close(): Promise<void> {
    if (this.ownsConnection && !this.nc.isClosed()) await this.nc.drain();
  }

  /**
   * readResult resolves with the stored result of event id, or undefined
   * when none came within the timeout. It reads through an ordered
   * consumer filtered on the event's result, which a publisher that waits
   * may create (a direct get of the result stream would read any result).
   */
  private async readResult(id: string): Promise<PurgeResult | undefined> {
    const c = await this.js.consumers.get(this.resultStream, {
      filter_subjects: [resultFilter(id)],
      deliver_policy: DeliverPolicy.LastPerSubject,
    });
    const m = await c.next({ expires: Math.max(this.timeout, 1000) });
    return m && !isControl(m.data) ? decodeResult(m.data) : undefined;
  }

  /** watch starts an ordered consumer on the result stream. */
  private async watch(cfg: Partial<OrderedConsumerOptions>) {
    try {
      const c = await this.js.consumers.get(this.resultStream, cfg);
      return await c.consume();
    } catch (err) {
      throw this.unavailable(err, `watching results in stream ${this.resultStream}`);
    }
  }

  /** unavailable wraps what NATS says when it cannot take or answer a request. */
  private unavailable(err: unknown, what: string): Error {
    if (
      err instanceof TimeoutError ||
      err instanceof ClosedConnectionError ||
      err instanceof DrainingConnectionError ||
      err instanceof NoRespondersError ||
      err instanceof JetStreamError
    ) {
      let why = err.message;
      if (err instanceof NoRespondersError) why = "no stream takes the subject (is the purgebus consumer running?)";
      if (err instanceof TimeoutError) why = `no answer within ${this.timeout} ms`;
      return new PurgebusUnavailable(this.servers, `${what}: ${why}`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}

function decodeOrSkip(m: JsMsg): PurgeResult | undefined {
  if (isControl(m.data)) return undefined;
  try {
    return decodeResult(m.data);
  } catch {
    return undefined;
  }
}
