"""Running the real purgebus consumer (./cmd/consumer --sandbox) for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class ConsumerError(RuntimeError):
    """ConsumerError says the consumer did not start."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Consumer:
    """Consumer is a running purgebus consumer with its embedded NATS."""

    nats_url: str
    http_url: str
    proc: subprocess.Popen[bytes]
    log: Path


def build_consumer(out: Path) -> Path:
    """build_consumer builds ./cmd/consumer of this repository into out."""
    go = shutil.which("go")
    if go is None:
        raise ConsumerError("the Python tests need Go to build the real consumer (./cmd/consumer)")
    subprocess.run([go, "build", "-o", str(out), "./cmd/consumer"], cwd=REPO, check=True)
    return out


def start_consumer(binary: Path, workdir: Path, *extra: str, nats_url: str | None = None) -> Consumer:
    """start_consumer runs the consumer in --sandbox: with its embedded NATS, or on nats_url.

    With nats_url, extra holds the flags that authenticate the consumer.
    """
    nats_port, http_port = free_port(), free_port()
    log = workdir / "consumer.log"
    proc = subprocess.Popen(
        [
            str(binary),
            "--sandbox",
            *(["--nats-url", nats_url, "--provision"] if nats_url else ["--nats-listen", f"127.0.0.1:{nats_port}"]),
            "--http-addr",
            f"127.0.0.1:{http_port}",
            "--data-dir",
            str(workdir / "data"),
            "--log-level",
            "warn",
            *extra,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "PURGEBUS_", "AKAMAI_"))},
    )
    http_url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise ConsumerError(f"the consumer exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(http_url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise ConsumerError(f"the consumer was not ready within 60s:\n{log.read_text()}")
        time.sleep(0.1)
    return Consumer(nats_url or f"nats://127.0.0.1:{nats_port}", http_url, proc, log)


def stop_consumer(c: Consumer) -> None:
    if c.proc.poll() is None:
        c.proc.send_signal(signal.SIGTERM)
        try:
            c.proc.wait(30)
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
