// purgebus: publish content-changed events to purgebus from Node, and read
// their results. The names mirror the Go events package.

export * from "./connect.js";
export { decodeEvent, type Receipt } from "./duplicate.js";
export * from "./errors.js";
export * from "./event.js";
export * from "./publisher.js";
export * from "./result.js";
export * from "./subject.js";
export { compareUTF8, jsonString, rfc3339 } from "./gojson.js";
export { normalizeURL } from "./objects.js";
