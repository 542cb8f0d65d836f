"""State backends compared: claims per second, and end-to-end crawl time, SQLite vs
PostgreSQL, in one run on this machine.

    python -m benchmarks.state_backends [--records 5000] [--articles 400] [--postgres URI]

Without ``--postgres`` a throwaway cluster is started (Debian's package, as the tests do).
Both stores keep their durable defaults (SQLite ``synchronous=FULL``; PostgreSQL ``fsync``
and ``synchronous_commit`` on). Store part: one process claims ``--records`` new articles,
committing them 25 at a time (RFI_FSYNC_EVERY's default), then claims them all again
(unchanged: the incremental case) and looks them up with ``known_many``. Crawl part: a
first and a second (incremental) ``scrapy crawl`` of the same replica with each store.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rfi_crawler.state import ClaimStatus, open_store
from tests.crawling import PROJECT_ROOT, crawl_command, crawl_env, exported
from tests.postgres import PostgresCluster, find_bindir
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

NOW = "2026-11-25T10:00:00+00:00"
LATER = "2026-11-25T11:00:00+00:00"  # a later run: last_seen really changes
BATCH = 25
FAST = {"CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2", "LOG_LEVEL": "WARNING"}


def record(n: int) -> dict:
    return {
        "id": f"WBMZ{n}-RFI-CN-20261125",
        "url": f"https://www.rfi.fr/cn/中国/20261125-article-{n}",
        "content_hash": f"{n:064x}",
        "published_at": "2026-11-25T08:00:00+00:00",
        "related": [{"url": f"https://www.rfi.fr/cn/中国/20261125-article-{n + 1}"}],
    }


def store_rates(uri: str, records: int) -> dict[str, float]:
    store = open_store(uri)
    try:
        started = time.perf_counter()
        batch: list[tuple[str, int]] = []
        for n in range(records):
            claim = store.claim(record(n), "bench", NOW)
            batch.append((record(n)["id"], claim.version))
            if len(batch) == BATCH:
                store.commit(batch, "bench", NOW)
                batch = []
        store.commit(batch, "bench", NOW)
        new = time.perf_counter() - started
        started = time.perf_counter()
        for n in range(records):
            assert store.claim(record(n), "bench2", LATER).status is ClaimStatus.UNCHANGED
        unchanged = time.perf_counter() - started
        started = time.perf_counter()
        urls = [record(n)["url"] for n in range(records)]
        for first in range(0, records, 100):  # a listing page's worth of URLs per query
            store.known_many(urls[first : first + 100])
        lookups = time.perf_counter() - started
    finally:
        store.close()
    return {
        "new claims+commits /s": records / new,
        "unchanged claims /s": records / unchanged,
        "known_many URLs /s": records / lookups,
    }


def crawl(server: ReplicaServer, workdir: Path, data: Path, uri: str) -> float:
    command = crawl_command(
        server.base_url, workdir, data_dir=data, settings={**FAST, "RFI_STATE_URI": uri}
    )
    started = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, env=crawl_env(), check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--postgres", help="an empty database's URI (else a throwaway cluster)")
    options = parser.parse_args()
    cluster = None
    if options.postgres is None:
        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL here: install it, or pass --postgres URI")
        cluster = PostgresCluster(bindir)
        cluster.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)

            def new_store(name: str) -> str:
                if name == "sqlite":
                    return f"sqlite:///{root / f'{name}-{time.monotonic_ns()}.sqlite3'}"
                return options.postgres if cluster is None else cluster.new_database()

            rates = {name: store_rates(new_store(name), options.records) for name in BACKENDS}
            print(f"store, {options.records} articles, one process:")
            for metric in rates["sqlite"]:
                sqlite, postgres = rates["sqlite"][metric], rates["postgresql"][metric]
                print(
                    f"  {metric:24} SQLite {sqlite:9.0f}   PostgreSQL {postgres:9.0f}"
                    f"   PostgreSQL/SQLite {postgres / sqlite:5.2f}"
                )
            if cluster is None:
                return  # one database given: already used by the store part
            site = ReplicaSite(articles=options.articles, seed=7, today=datetime.now(UTC).date())
            print(f"crawls of a {options.articles}-article replica (first, then incremental):")
            with ReplicaServer(site) as server:
                for name in BACKENDS:
                    uri, data = new_store(name), root / f"data-{name}"
                    first = crawl(server, root / f"{name}-1", data, uri)
                    records = len(exported(data))
                    second = crawl(server, root / f"{name}-2", data, uri)
                    print(
                        f"  {name:10} first {first:6.1f} s ({records} records,"
                        f" {1000 * first / records:5.1f} ms/record)   incremental {second:6.1f} s"
                    )
    finally:
        if cluster is not None:
            cluster.stop()


BACKENDS = ("sqlite", "postgresql")

if __name__ == "__main__":
    main()
