// Connection settings: the consumer's names, its refusals, no secrets in messages.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { checkSettings, describeAuth, natsOptions, redactURLs, settingsFromEnv } from "../src/index.js";

describe("settingsFromEnv", () => {
  it("reads the consumer's variables, then natscli's", () => {
    assert.deepEqual(
      settingsFromEnv({
        NATS_URL: "nats://n1:4222,nats://n2:4222",
        NATS_CREDS: "/etc/purgebus/nats.creds",
        PURGEBUS_NATS_TLS_CA: "/ca.pem",
        NATS_CA: "/ignored.pem",
        NATS_CERT: "/cert.pem",
        NATS_KEY: "/key.pem",
      }),
      { url: "nats://n1:4222,nats://n2:4222", credsFile: "/etc/purgebus/nats.creds", tlsCa: "/ca.pem", tlsCert: "/cert.pem", tlsKey: "/key.pem" },
    );
    assert.deepEqual(settingsFromEnv({ NATS_USER: "u", PURGEBUS_NATS_PASSWORD: "p", NATS_PASSWORD: "q" }), { user: "u", password: "p" });
    assert.deepEqual(settingsFromEnv({ NATS_TOKEN: "t", PURGEBUS_NATS_NKEY: "/seed", NATS_URL: "" }), { token: "t", nkeyFile: "/seed" });
    assert.deepEqual(settingsFromEnv({}), {});
  });
});

describe("checkSettings", () => {
  const refused: [string, Parameters<typeof checkSettings>[0], RegExp][] = [
    ["two ways to authenticate", { token: "t", credsFile: "/c" }, /choose one/],
    ["user without password", { user: "u" }, /go together/],
    ["password without user", { password: "p" }, /go together/],
    ["certificate without key", { tlsCert: "/c" }, /certificate and key/],
    ["zero timeout", { timeout: 0 }, /timeout/],
  ];
  for (const [name, s, re] of refused) {
    it(`refuses ${name}`, () => assert.throws(() => checkSettings(s), re));
  }
  it("accepts one way to authenticate, with TLS", () => {
    assert.doesNotThrow(() => checkSettings({ user: "u", password: "p", tlsCa: "/ca", tlsCert: "/c", tlsKey: "/k" }));
  });
});

describe("natsOptions", () => {
  it("defaults to the consumer's embedded NATS and reconnects forever", () => {
    const o = natsOptions({});
    assert.deepEqual(o.servers, ["nats://127.0.0.1:4222"]);
    assert.equal(o.timeout, 2000);
    assert.equal(o.maxReconnectAttempts, -1);
  });
  it("splits URL lists and sets user, TLS", () => {
    const o = natsOptions({ url: " nats://a:4222, nats://b:4222 ", user: "u", password: "p", tlsCa: "/ca.pem" });
    assert.deepEqual(o.servers, ["nats://a:4222", "nats://b:4222"]);
    assert.equal(o.user, "u");
    assert.equal(o.pass, "p");
    assert.deepEqual(o.tls, { caFile: "/ca.pem" });
  });
});

describe("secrets", () => {
  it("redactURLs hides user information", () => {
    assert.equal(redactURLs("nats://u:secret@h1:4222,tok@h2,nats://h3"), "nats://[redacted]@h1:4222,[redacted]@h2,nats://h3");
  });
  it("describeAuth names no password or token", () => {
    assert.equal(describeAuth({ user: "u", password: "secret" }), 'as user "u"');
    assert.equal(describeAuth({ token: "secret" }), "with a token");
  });
});
