"""Connection settings: the consumer's names, and authentication against a real consumer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumerproc import Consumer, start_consumer, stop_consumer
from purgebus import ConnectionSettings, Publisher, PurgebusUnavailable, new_content_changed


def test_from_env_reads_the_consumers_variables() -> None:
    env = {
        "NATS_URL": "nats://n1:4222,nats://n2:4222",
        "NATS_CREDS": "/etc/purgebus/nats.creds",
        "NATS_NKEY": "/etc/nkey-fallback",
        "PURGEBUS_NATS_NKEY": "/etc/nkey",
        "NATS_TOKEN": "t0ken",
        "NATS_USER": "natscli-user",
        "PURGEBUS_NATS_USER": "purgebus-user",
        "NATS_PASSWORD": "pw",
        "NATS_CA": "/ca.pem",
        "PURGEBUS_NATS_TLS_CERT": "/cert.pem",
        "NATS_KEY": "/key.pem",
    }
    s = ConnectionSettings.from_env(env, timeout=5)
    assert s.servers == ["nats://n1:4222", "nats://n2:4222"]
    assert (s.creds, s.nkey, s.token) == ("/etc/purgebus/nats.creds", "/etc/nkey", "t0ken")
    assert (s.user, s.password) == ("purgebus-user", "pw"), "PURGEBUS_NATS_* wins over natscli's NATS_*"
    assert (s.tls_ca, s.tls_cert, s.tls_key) == ("/ca.pem", "/cert.pem", "/key.pem")
    assert s.timeout == 5
    assert "pw" not in repr(s) and "t0ken" not in repr(s), "secrets stay out of repr"
    assert ConnectionSettings.from_env({}).url == "nats://127.0.0.1:4222"
    assert ConnectionSettings.from_env(env, url="nats://override:4222").url == "nats://override:4222"


def test_problems_are_named(tmp_path: Path) -> None:
    assert ConnectionSettings().problems() == []
    problems = ConnectionSettings(
        url="http://x:4222", user="u", tls_cert=str(tmp_path / "missing.pem"), timeout=0
    ).problems()
    assert len(problems) == 5, problems
    assert any("scheme" in p for p in problems) and any("password" in p for p in problems)
    assert any("missing.pem" in p for p in problems) and any("timeout" in p for p in problems)


@pytest.fixture(scope="module")
def auth_consumer(consumer_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consumer]:
    c = start_consumer(
        consumer_bin,
        tmp_path_factory.mktemp("auth-consumer"),
        "--nats-listen-user",
        "site",
        "--nats-listen-password",
        "s3cret",
    )
    yield c
    stop_consumer(c)


def test_user_and_password(auth_consumer: Consumer) -> None:
    async def main() -> str:
        s = ConnectionSettings(url=auth_consumer.nats_url, user="site", password="s3cret")
        pub = await Publisher.connect(s)
        try:
            r = await pub.purge_and_wait(new_content_changed("py-auth").add_urls("https://www.example.com/auth"), 20)
            return r.outcome.value
        finally:
            await pub.close()

    assert asyncio.run(main()) == "succeeded"


def test_wrong_password_is_unavailable_with_the_reason(auth_consumer: Consumer) -> None:
    s = ConnectionSettings(url=auth_consumer.nats_url, user="site", password="wrong", timeout=1)
    with pytest.raises(PurgebusUnavailable) as info:
        asyncio.run(Publisher.connect(s))
    msg = str(info.value)
    assert auth_consumer.nats_url in msg and "authorization" in msg.lower()
    assert "wrong" not in msg, "the password is not in the error"


def test_publish_raises_when_nats_goes_away(consumer_bin: Path, tmp_path: Path) -> None:
    import time

    from purgebus import SyncPublisher

    c = start_consumer(consumer_bin, tmp_path)
    pub = SyncPublisher(ConnectionSettings(url=c.nats_url, timeout=1))
    try:
        pub.publish(new_content_changed("py-gone").add_urls("https://www.example.com/before"))
        stop_consumer(c)
        start = time.monotonic()
        with pytest.raises(PurgebusUnavailable) as info:
            pub.publish(new_content_changed("py-gone").add_urls("https://www.example.com/after"))
        assert time.monotonic() - start < 3
        assert c.nats_url.removeprefix("nats://") in str(info.value)
    finally:
        stop_consumer(c)
        pub.close()
