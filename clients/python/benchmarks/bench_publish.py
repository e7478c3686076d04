"""Benchmark of the synchronous facade against the Go publisher, measured in the same run.

It starts the real consumer (--sandbox) on free ports and measures, each
round alternating Go and Python so that both see the same busy machine:

- queued publishes per second from one process: SyncPublisher.publish from
  1 thread and from 8 threads sharing the one connection, against Go's
  events.Publisher.Publish from 1 and 8 goroutines (benchmarks/gopublish);
- the time queue_purge_request.send() adds to a Django request (one URL,
  autocommit), p50 and p99, against the p50/p99 of one Go Publish.

Run from anywhere, with the suite's virtual environment:

    clients/python/.venv/bin/python clients/python/benchmarks/bench_publish.py [--n 2000] [--rounds 3]

It prints a table and, with --json, one JSON object. It is not a test and
asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from consumerproc import REPO, build_consumer, start_consumer, stop_consumer  # noqa: E402
from purgebus import ConnectionSettings, SyncPublisher, new_content_changed  # noqa: E402


def go_publish(binary: Path, url: str, n: int, c: int) -> dict[str, float]:
    out = subprocess.run([str(binary), "--nats-url", url, "-n", str(n), "-c", str(c)], check=True, capture_output=True)
    return dict(json.loads(out.stdout))


def py_publish(pub: SyncPublisher, n: int, c: int) -> dict[str, float]:
    lat = [0.0] * n

    def one(i: int) -> None:
        e = new_content_changed("bench-py").add_urls(f"https://www.example.com/bench/py/{i}")
        t = time.perf_counter()
        pub.publish(e)
        lat[i] = time.perf_counter() - t

    start = time.perf_counter()
    if c == 1:
        for i in range(n):
            one(i)
    else:
        with ThreadPoolExecutor(c) as pool:
            list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    lat.sort()
    return {"per_second": n / elapsed, "p50_ms": lat[n // 2] * 1e3, "p99_ms": lat[n * 99 // 100] * 1e3}


def django_send(n: int) -> dict[str, float]:
    from purgebus.django.signals import queue_purge_request

    lat = []
    for i in range(n):
        t = time.perf_counter()
        queue_purge_request.send(f"https://www.example.com/bench/django/{i}")
        lat.append(time.perf_counter() - t)
    lat.sort()
    return {"per_second": n / sum(lat), "p50_ms": lat[n // 2] * 1e3, "p99_ms": lat[n * 99 // 100] * 1e3}


def setup_django(url: str) -> None:
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "purgebus.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        PURGEBUS={"NATS_URL": url, "SOURCE": "bench-django", "BASE_URL": "https://www.example.com"},
        USE_TZ=True,
    )
    django.setup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="events per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; the median is reported")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="purgebus-bench-") as tmp:
        work = Path(tmp)
        consumer_bin = build_consumer(work / "consumer")
        gopub = work / "gopublish"
        subprocess.run(["go", "build", "-o", str(gopub), "./clients/python/benchmarks/gopublish"], cwd=REPO, check=True)
        c = start_consumer(consumer_bin, work)
        try:
            setup_django(c.nats_url)
            pub = SyncPublisher(ConnectionSettings(url=c.nats_url))
            pub.publish(new_content_changed("bench-py").add_urls("https://www.example.com/warm"))
            go_publish(gopub, c.nats_url, 200, 1)  # warm up both
            rows: dict[str, list[dict[str, float]]] = {}
            for _ in range(args.rounds):
                for name, fn in (
                    ("go 1", lambda: go_publish(gopub, c.nats_url, args.n, 1)),
                    ("py 1", lambda: py_publish(pub, args.n, 1)),
                    ("go 8", lambda: go_publish(gopub, c.nats_url, args.n, 8)),
                    ("py 8", lambda: py_publish(pub, args.n, 8)),
                    ("django send", lambda: django_send(args.n)),
                ):
                    rows.setdefault(name, []).append(fn())
            pub.close()
        finally:
            stop_consumer(c)

    med: dict[str, dict[str, float]] = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("per_second", "p50_ms", "p99_ms")}
        for name, runs in rows.items()
    }
    ratios = {
        "py_1_vs_go_1_rate": med["py 1"]["per_second"] / med["go 1"]["per_second"],
        "py_8_vs_go_8_rate": med["py 8"]["per_second"] / med["go 8"]["per_second"],
        "django_send_p99_vs_go_publish_p99": med["django send"]["p99_ms"] / med["go 1"]["p99_ms"],
    }
    if args.json:
        print(json.dumps({"n": args.n, "rounds": args.rounds, "median": med, "ratios": ratios}))
        return
    print(f"{args.n} events per measurement, median of {args.rounds} rounds, one consumer (--sandbox) running")
    print(f"{'publisher':<28}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    labels = {
        "go 1": "Go, 1 gor.",
        "py 1": "Python, 1 thr.",
        "go 8": "Go, 8 gor.",
        "py 8": "Python, 8 thr.",
        "django send": "queue_purge_request.send()",
    }
    for name, m in med.items():
        print(f"{labels[name]:<28}{m['per_second']:>10.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
