"""First and incremental crawls of a large replica: time, peak memory, downloads, store size;
and peak memory of an incremental crawl against stores of 1,000 and 10,000 articles.

    python -m benchmarks.incremental [--articles 5000]

Each crawl is a real ``scrapy crawl rfi_cn`` process; its peak RSS comes from the kernel
(``os.wait4``). The replica runs in this process, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rfi_crawler.state.sqlite import SqliteStateStore
from tests.crawling import PROJECT_ROOT, crawl_command, crawl_env, exported
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

# The project's own concurrency (2), without the politeness delays meant for the real site.
FAST = {
    "CONCURRENT_REQUESTS": "2",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
    "LOG_LEVEL": "WARNING",
    "RFI_BACKOFF_BASE": "0.1",
}


def crawl(server: ReplicaServer, workdir: Path, data: Path, settings: dict[str, str]) -> dict:
    server.reset_log()
    command = crawl_command(server.base_url, workdir, data_dir=data, settings={**FAST, **settings})
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"crawl failed with status {status}; see {workdir}")
    requested = server.requested()
    articles = sum(n for path, n in requested.items() if path in server.site.by_path)
    return {
        "seconds": elapsed,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "article_downloads": articles,
        "other_downloads": sum(requested.values()) - articles,
    }


def fill_store(path: Path, count: int) -> None:
    """``count`` exported articles, all old: as a store looks after months of runs."""
    store = SqliteStateStore(path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for start in range(0, count, 1000):
        keys = []
        for n in range(start, min(count, start + 1000)):
            record = {
                "id": f"SYN{n}",
                "url": f"https://www.rfi.fr/cn/x/20200101-synthetic-{n}",
                "content_hash": f"{n:064x}",
                "published_at": "2020-01-01T00:00:00+00:00",
                "modified_at": None,
                "related": [],
            }
            store.claim(record, "fill", now)
            keys.append((record["id"], 1))
        store.commit(keys, "fill", now)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    args = parser.parse_args()
    site = ReplicaSite(articles=args.articles, seed=1, page_size=50)
    with tempfile.TemporaryDirectory() as scratch, ReplicaServer(site) as server:
        root = Path(scratch)
        data = root / "data"
        # Enough listing pages that every listed article is a start point.
        pages = {"RFI_MAX_LISTING_PAGES": str(args.articles // 50 + 1)}
        first = crawl(server, root / "first", data, pages)
        first["exported"] = len(exported(data))
        second = crawl(server, root / "second", data, pages)
        second["exported"] = len(exported(data)) - first["exported"]
        store_bytes = sum(p.stat().st_size for p in data.glob("state.sqlite3*"))
        reachable = len(site.expected_depths(2, int(pages["RFI_MAX_LISTING_PAGES"])))
        print(f"replica: {args.articles} articles, {reachable} reachable; 2 concurrent requests")
        for name, result in (("first crawl", first), ("second crawl (unchanged)", second)):
            print(
                f"  {name:26s} {result['seconds']:7.1f} s  "
                f"peak RSS {result['peak_rss_mb']:6.1f} MB  "
                f"article pages {result['article_downloads']:5d}  other pages "
                f"{result['other_downloads']:4d}  exported {result['exported']:5d}"
            )
        print(f"  state store: {store_bytes / 1024:.0f} KiB for {first['exported']} articles")

        small = ReplicaSite(articles=60, seed=2)
        with ReplicaServer(small) as small_server:
            for size in (1_000, 10_000):
                filled = root / f"store{size}"
                fill_store(filled / "state.sqlite3", size)
                crawl(small_server, root / f"warm{size}", filled, {})  # adds the 60 articles
                result = crawl(small_server, root / f"incr{size}", filled, {})
                kinds = Counter({"article": result["article_downloads"]})
                print(
                    f"  incremental crawl, store of {size:6d} articles: peak RSS "
                    f"{result['peak_rss_mb']:6.1f} MB, {result['seconds']:.1f} s, "
                    f"{kinds['article']} article pages"
                )


if __name__ == "__main__":
    main()
