/**
 * The class of a refused event, as the shared wire vectors
 * (events/testdata/wire/invalid_events.json) name it.
 */
export type InvalidEventCode =
  | "no_objects"
  | "relative_url"
  | "not_http"
  | "bad_url"
  | "user_info"
  | "bad_port"
  | "bad_escape"
  | "fragment"
  | "bad_action"
  | "bad_network"
  | "bad_cpcode"
  | "bad_tag"
  | "bad_id"
  | "too_large"
  | "bad_metadata";

/** InvalidObjectError names one object that Akamai would refuse, and why. */
export class InvalidObjectError extends Error {
  override name = "InvalidObjectError";
  constructor(
    /** The object's type: `url`, `tag` or `cpcode`. */
    readonly type: "url" | "tag" | "cpcode",
    /** The object as given. */
    readonly object: string,
    /** Why it is refused. */
    readonly reason: string,
    /** The class of the refusal. */
    readonly code: InvalidEventCode,
  ) {
    super(`invalid ${type} ${JSON.stringify(object)}: ${reason}`);
  }
}

/**
 * InvalidEventError reports an event that the consumer would refuse (and
 * dead-letter): the publisher refuses it before anything is published.
 * It is Go's events.InvalidEventError.
 */
export class InvalidEventError extends Error {
  override name = "InvalidEventError";
  constructor(
    /** Why the event is refused. */
    readonly reason: string,
    /** The class of the refusal; with several bad objects, the first one's. */
    readonly code: InvalidEventCode,
    /** The objects Akamai would refuse, when that is the reason. */
    readonly objects: readonly InvalidObjectError[] = [],
  ) {
    let msg = "invalid event: " + reason;
    objects.slice(0, 5).forEach((o) => (msg += "; " + o.message));
    if (objects.length > 5) msg += `; and ${objects.length - 5} more`;
    super(msg);
  }
}

/**
 * PurgebusUnavailable reports that NATS could not be reached, or did not
 * store the event, within the timeout: nothing was published. It names the
 * servers tried (without credentials).
 */
export class PurgebusUnavailable extends Error {
  override name = "PurgebusUnavailable";
  constructor(
    /** The servers tried, credentials redacted. */
    readonly servers: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`purgebus unavailable: NATS ${servers}: ${message}`, options);
  }
}

/**
 * PurgeTimeoutError reports that an event's result did not come in time.
 * The event was published and will be purged all the same: its result can
 * be read later with {@link Publisher.results} or `purge results --id`.
 */
export class PurgeTimeoutError extends Error {
  override name = "PurgeTimeoutError";
  constructor(
    /** The ID of the event whose result did not come. */
    readonly eventId: string,
    /** How long was waited, in milliseconds. */
    readonly timeout: number,
  ) {
    super(`no result for event ${eventId} within ${timeout} ms (it was published; its result comes later)`);
  }
}

/** ResultDecodeError reports a message that is not a result event. */
export class ResultDecodeError extends Error {
  override name = "ResultDecodeError";
}

/**
 * DuplicateEventError reports a publish whose event ID JetStream had
 * already stored within its duplicates window with other content, or with
 * content that could no longer be compared: JetStream dropped the new
 * event, so its objects were not stored and will not be purged. Publish it
 * under a new ID. It is Go's events.DuplicateEventError.
 */
export class DuplicateEventError extends Error {
  override name = "DuplicateEventError";
  constructor(
    readonly id: string,
    readonly stream: string,
    /** The sequence of the event stored first. */
    readonly sequence: number,
    /** How the contents differ, or why they could not be compared. */
    readonly difference: string,
  ) {
    super(
      `event ID ${id} was already used (${stream} sequence ${sequence}) for an event with other content: ${difference}; ` +
        "the new event was NOT stored and its objects will not be purged: publish it under a new ID",
    );
  }
}
