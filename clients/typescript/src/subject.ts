// Subjects and stream names of the wire contract, as Go's events package
// names them (subject.go).

/** The subject content-changed events go to; subjects below it work too. */
export const SUBJECT_CONTENT_CHANGED = "content.changed";
/** The prefix of every result subject. */
export const SUBJECT_RESULTS = "purge.result";
/** The prefix of every dead-letter subject. */
export const SUBJECT_DEAD_LETTERS = "purge.deadletter";
/** The default name of the stream that captures content-changed events. */
export const DEFAULT_CONTENT_STREAM = "CONTENT";
/** The default name of the results stream. */
export const DEFAULT_RESULT_STREAM = "PURGE_RESULTS";
/** The default name of the dead-letter stream. */
export const DEFAULT_DEAD_LETTER_STREAM = "PURGE_DEADLETTER";
/** The NATS header that carries a correlation ID into the event's result. */
export const CORRELATION_ID_HEADER = "Correlation-Id";
/** The longest event ID accepted. */
export const MAX_ID_LENGTH = 128;

/** resultSubject is the subject of event id's result with this outcome. */
export function resultSubject(outcome: string, id: string): string {
  return `${SUBJECT_RESULTS}.${outcome}.${id}`;
}

/** resultFilter matches event id's result whatever its outcome. */
export function resultFilter(id: string): string {
  return `${SUBJECT_RESULTS}.*.${id}`;
}

/** deadLetterSubject is the dead-letter subject of event id. */
export function deadLetterSubject(id: string): string {
  return `${SUBJECT_DEAD_LETTERS}.${id}`;
}

/**
 * validID reports whether id can name an event: it becomes one NATS
 * subject token, so it is 1 to 128 letters, digits and "-_:=+".
 */
export function validID(id: string): boolean {
  return id.length >= 1 && id.length <= MAX_ID_LENGTH && /^[A-Za-z0-9\-_:=+]+$/.test(id);
}

/** validEventSubject reports whether s is content.changed or below it. */
export function validEventSubject(s: string): boolean {
  return (
    s === SUBJECT_CONTENT_CHANGED ||
    (s.startsWith(SUBJECT_CONTENT_CHANGED + ".") && s.length > SUBJECT_CONTENT_CHANGED.length + 1)
  );
}
