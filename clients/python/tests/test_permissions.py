"""The Python publisher under the deployed NATS permissions (deploy/nats, docs/nats-permissions.md).

A real nats-server (built from the module's own dependency) runs the roles of
deploy/nats/permissions.conf; the consumer provisions the streams as
purgebus-provision; the publisher is cms-blog, a publisher that waits, with
its own inbox prefix; the reader follows results.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumerproc import REPO, Consumer, free_port, start_consumer, stop_consumer
from purgebus import ConnectionSettings, Outcome, Publisher, PublisherConfig, PurgebusUnavailable, new_content_changed

PASSWORDS = {"purgebus-provision": "prov-pw", "cms-blog": "blog-pw", "reader": "reader-pw", "cms-shop": "unused-2"}


@pytest.fixture(scope="module")
def deployed(consumer_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consumer]:
    work = tmp_path_factory.mktemp("deployed")
    server = work / "nats-server"
    subprocess.run(
        [shutil.which("go") or "go", "build", "-o", str(server), "github.com/nats-io/nats-server/v2"],
        cwd=REPO,
        check=True,
    )
    shutil.copy(REPO / "deploy" / "nats" / "permissions.conf", work / "permissions.conf")
    port = free_port()
    (work / "server.conf").write_text(
        f"""include "permissions.conf"
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{work / "js"}" }}
accounts {{
  PURGEBUS {{
    jetstream: enabled
    users: [
      {{user: purgebus-provision, password: {PASSWORDS["purgebus-provision"]}, permissions: $CONSUMER_PROVISION}}
      {{user: cms-blog, password: {PASSWORDS["cms-blog"]}, permissions: $PUBLISHER_BLOG_WAIT}}
      {{user: reader, password: {PASSWORDS["reader"]}, permissions: $READER}}
      {{user: purgebus, password: unused-1, permissions: $CONSUMER}}
      {{user: cms-shop, password: {PASSWORDS["cms-shop"]}, permissions: $PUBLISHER_SHOP}}
      {{user: replayer, password: unused-3, permissions: $REPLAYER}}
    ]
  }}
}}
"""
    )
    log = (work / "nats.log").open("wb")
    proc = subprocess.Popen([str(server), "-c", str(work / "server.conf")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (work / "nats.log").read_text()
                time.sleep(0.1)
        url = f"nats://127.0.0.1:{port}"
        c = start_consumer(
            consumer_bin,
            work,
            "--nats-user",
            "purgebus-provision",
            "--nats-password",
            PASSWORDS["purgebus-provision"],
            nats_url=url,
        )
        yield c
        stop_consumer(c)
    finally:
        proc.terminate()
        proc.wait(10)


def blog(url: str, **kw: object) -> ConnectionSettings:
    return ConnectionSettings(
        url=url, user="cms-blog", password=PASSWORDS["cms-blog"], inbox_prefix="_INBOX_blog", **kw
    )  # type: ignore[arg-type]


def test_a_waiting_publisher_publishes_waits_and_reads_its_result(deployed: Consumer) -> None:
    async def main() -> None:
        pub = await Publisher.connect(blog(deployed.nats_url), PublisherConfig(subject="content.changed.blog"))
        try:
            r = await pub.purge_and_wait(new_content_changed("blog").add_urls("https://www.example.com/perm"), 20)
            assert r.outcome is Outcome.SUCCEEDED and r.purge_ids
            event_id = await pub.publish(new_content_changed("blog").add_tags("perm-tag"))
            deadline = time.monotonic() + 20
            while (stored := await pub.get_result(event_id)) is None:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            assert stored.outcome is Outcome.SUCCEEDED
        finally:
            await pub.close()

    asyncio.run(main())


def test_a_retry_is_told_from_a_reused_id_by_the_result(deployed: Consumer) -> None:
    from purgebus import DuplicateEventError

    async def main() -> None:
        pub = await Publisher.connect(
            blog(deployed.nats_url, timeout=1.0), PublisherConfig(subject="content.changed.blog", timeout=1.0)
        )
        try:
            e = new_content_changed("blog").add_urls("https://www.example.com/retried")
            first = await pub.purge_and_wait(e, 20)
            assert first.outcome is Outcome.SUCCEEDED
            # The publisher may not read the content stream; the result names the objects.
            assert (await pub.publish_receipt(e)).duplicate
            other = new_content_changed("blog").add_urls("https://www.example.com/other").with_id(e.id)
            with pytest.raises(DuplicateEventError):
                await pub.publish(other)
        finally:
            await pub.close()

    asyncio.run(main())


def test_a_publisher_that_may_read_nothing_is_told_a_retry_cannot_be_compared(deployed: Consumer) -> None:
    from purgebus import DuplicateEventError

    async def main() -> None:
        shop = ConnectionSettings(
            url=deployed.nats_url,
            user="cms-shop",
            password=PASSWORDS["cms-shop"],
            inbox_prefix="_INBOX_shop",
            timeout=1.0,
        )
        pub = await Publisher.connect(shop, PublisherConfig(subject="content.changed.shop", timeout=1.0))
        try:
            e = new_content_changed("shop").add_urls("https://shop.example.com/retried")
            await pub.publish(e)
            begin = time.monotonic()
            with pytest.raises(DuplicateEventError) as err:
                await pub.publish(e)
            assert err.value.id == e.id
            assert "may not read the stored event or its result" in str(err.value)
            # Each of its two reads waits one timeout for an answer that never comes.
            assert time.monotonic() - begin < 8
        finally:
            await pub.close()

    asyncio.run(main())


def test_a_reader_follows_results(deployed: Consumer) -> None:
    source = "blog-" + uuid.uuid4().hex[:8]

    async def main() -> None:
        pub = await Publisher.connect(blog(deployed.nats_url), PublisherConfig(subject="content.changed.blog"))
        reader = await Publisher.connect(
            ConnectionSettings(
                url=deployed.nats_url, user="reader", password=PASSWORDS["reader"], inbox_prefix="_INBOX_reader"
            )
        )
        try:
            following = await reader.subscribe_results(source=source)
            event_id = await pub.publish(new_content_changed(source).add_urls("https://www.example.com/followed"))
            r = await asyncio.wait_for(following.__anext__(), 20)
            assert r.event_id == event_id
            await following.unsubscribe()
        finally:
            await pub.close()
            await reader.close()

    asyncio.run(main())


def test_another_sources_subject_is_refused(deployed: Consumer) -> None:
    async def main() -> None:
        pub = await Publisher.connect(
            blog(deployed.nats_url, timeout=1.0), PublisherConfig(subject="content.changed.shop", timeout=1.0)
        )
        try:
            with pytest.raises(PurgebusUnavailable):
                await pub.publish(new_content_changed("blog").add_urls("https://www.example.com/not-mine"))
        finally:
            await pub.close()

    asyncio.run(main())
