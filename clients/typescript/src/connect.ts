// Connecting to NATS with the settings the consumer uses (flags
// --nats-url, --nats-creds, … and their environment variables).

import { readFileSync } from "node:fs";
import {
  connect as natsConnect,
  credsAuthenticator,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";

import { PurgebusUnavailable } from "./errors.js";

/** The server tried when no URL is set: the consumer's embedded NATS. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
/** How long connecting and publishing may take by default, in milliseconds. */
export const DEFAULT_TIMEOUT = 2000;

/**
 * ConnectionSettings are the NATS connection's settings, named like the
 * consumer's flags (Go's bus.ConnectConfig): --nats-url, --nats-creds,
 * --nats-nkey, --nats-user/--nats-password, --nats-token, --nats-tls-ca,
 * --nats-tls-cert/--nats-tls-key. At most one way to authenticate.
 */
export interface ConnectionSettings {
  /** Comma-separated server URLs; credentials may be embedded (nats://user:pass@host). Default nats://127.0.0.1:4222. */
  url?: string;
  /** A JWT credentials file (.creds), as nsc writes it. */
  credsFile?: string;
  /** A file holding an NKey seed (SU…). */
  nkeyFile?: string;
  /** User name, with password. */
  user?: string;
  password?: string;
  /** A token. */
  token?: string;
  /** PEM file of the CAs that verify the servers (implies TLS). */
  tlsCa?: string;
  /** PEM client certificate and its key, for mutual TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** The connection's name in the server's monitoring; default "purgebus-ts". */
  name?: string;
  /** How long connecting may take before PurgebusUnavailable, in milliseconds; default 2000. */
  timeout?: number;
}

/**
 * settingsFromEnv reads ConnectionSettings from the consumer's environment
 * variables: NATS_URL, NATS_CREDS, and PURGEBUS_NATS_NKEY, _USER,
 * _PASSWORD, _TOKEN, _TLS_CA, _TLS_CERT, _TLS_KEY, each falling back to
 * natscli's NATS_NKEY, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_CA,
 * NATS_CERT, NATS_KEY.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  const s: ConnectionSettings = {};
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");
  const set = (k: keyof ConnectionSettings, v: string | undefined) => {
    if (v !== undefined) (s as Record<string, unknown>)[k] = v;
  };
  set("url", pick("NATS_URL"));
  set("credsFile", pick("NATS_CREDS"));
  set("nkeyFile", pick("PURGEBUS_NATS_NKEY", "NATS_NKEY"));
  set("user", pick("PURGEBUS_NATS_USER", "NATS_USER"));
  set("password", pick("PURGEBUS_NATS_PASSWORD", "NATS_PASSWORD"));
  set("token", pick("PURGEBUS_NATS_TOKEN", "NATS_TOKEN"));
  set("tlsCa", pick("PURGEBUS_NATS_TLS_CA", "NATS_CA"));
  set("tlsCert", pick("PURGEBUS_NATS_TLS_CERT", "NATS_CERT"));
  set("tlsKey", pick("PURGEBUS_NATS_TLS_KEY", "NATS_KEY"));
  return s;
}

/** checkSettings throws a TypeError for settings that cannot work together, as the consumer refuses them. */
export function checkSettings(s: ConnectionSettings): void {
  const errs: string[] = [];
  const auth = [s.credsFile, s.nkeyFile, s.user || s.password, s.token].filter(Boolean).length;
  if (auth > 1) errs.push("choose one of credentials file, NKey, user/password and token");
  if (!s.user !== !s.password) errs.push("user and password go together (a token alone is a token, not a user)");
  if (!s.tlsCert !== !s.tlsKey) errs.push("TLS client certificate and key go together");
  if (s.timeout !== undefined && !(s.timeout > 0)) errs.push("timeout must be positive");
  if (errs.length > 0) throw new TypeError("purgebus: NATS connection: " + errs.join("; "));
}

/**
 * redactURLs hides the user information (user and password, or token) of
 * each URL of a comma-separated list: it is a credential.
 */
export function redactURLs(list: string): string {
  return list
    .split(",")
    .map((p) => {
      const at = p.lastIndexOf("@");
      if (at < 0) return p;
      const j = p.indexOf("://");
      const start = j >= 0 && j < at ? j + 3 : 0;
      return p.slice(0, start) + "[redacted]@" + p.slice(at + 1);
    })
    .join(",");
}

/** natsOptions turns settings into the NATS client's options. */
export function natsOptions(s: ConnectionSettings): NodeConnectionOptions {
  checkSettings(s);
  const servers = (s.url ?? "").trim() || DEFAULT_NATS_URL;
  const opts: NodeConnectionOptions = {
    servers: servers.split(",").map((u) => u.trim()).filter((u) => u !== ""),
    name: s.name ?? "purgebus-ts",
    timeout: s.timeout ?? DEFAULT_TIMEOUT,
    // A publisher outlives NATS restarts, as the consumer does: it
    // reconnects forever, and a publish while disconnected fails with
    // PurgebusUnavailable after its timeout.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    waitOnFirstConnect: false,
  };
  let auth: Authenticator | undefined;
  if (s.credsFile) {
    const file = s.credsFile;
    auth = credsAuthenticator(readFileSync(file));
  } else if (s.nkeyFile) {
    auth = nkeyAuthenticator(new TextEncoder().encode(readFileSync(s.nkeyFile, "utf8").trim()));
  } else if (s.user) {
    opts.user = s.user;
    opts.pass = s.password ?? "";
  } else if (s.token) {
    opts.token = s.token;
  }
  if (auth) opts.authenticator = auth;
  if (s.tlsCa || s.tlsCert) {
    opts.tls = {};
    if (s.tlsCa) opts.tls.caFile = s.tlsCa;
    if (s.tlsCert) opts.tls.certFile = s.tlsCert;
    if (s.tlsKey) opts.tls.keyFile = s.tlsKey;
  }
  return opts;
}

/** describeAuth says how s authenticates, without any secret. */
export function describeAuth(s: ConnectionSettings): string {
  let d = "without credentials";
  if (s.credsFile) d = "with credentials file " + s.credsFile;
  else if (s.nkeyFile) d = "with NKey seed file " + s.nkeyFile;
  else if (s.user) d = `as user ${JSON.stringify(s.user)}`;
  else if (s.token) d = "with a token";
  if (s.tlsCert) d += " and TLS client certificate " + s.tlsCert;
  return d;
}

/**
 * connect opens a NATS connection with settings (default: the
 * environment's, see {@link settingsFromEnv}). A server that cannot be
 * reached within the timeout is a {@link PurgebusUnavailable} naming the
 * servers tried.
 */
export async function connect(settings: ConnectionSettings = settingsFromEnv()): Promise<NatsConnection> {
  const opts = natsOptions(settings);
  const servers = redactURLs((opts.servers as string[]).join(","));
  try {
    return await natsConnect(opts);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new PurgebusUnavailable(servers, `cannot connect ${describeAuth(settings)}: ${why}`, { cause: err });
  }
}
