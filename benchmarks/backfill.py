"""Backfill cost: ``archive=1`` over a replica of N small past articles (2006–2025).

    python -m benchmarks.backfill [--articles 10000 100000] [--concurrency 2]

The replica runs in this process on 127.0.0.1 with small pages (the real templates
without their inline styles, scripts, header, footer and promos: ~20 KB an article
instead of ~400 KB; extraction gives the same records); each backfill is a child
``scrapy crawl rfi_cn -a archive=1`` over the whole 2006–2025 window at the project's
default concurrency (``CONCURRENT_REQUESTS=2``) without delays (no ``DOWNLOAD_DELAY``,
no AutoThrottle). Reported per size: wall time (process start to exit), pages/s over
the engine's time (``elapsed_time_seconds``), the crawler's peak RSS (``os.wait4``, the
replica excluded), the state store's size on disk, and whether the export is exactly
the window's articles.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import tests.replica.site as site_module
from tests.crawling import crawl_command, crawl_env, exported
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite
from tests.replica.templates import Templates, templates

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2025, 12, 1)
YEARS = (2006, 2025)
ARCHIVE_YEARS = 18  # 2006, then 2009–2025
_INLINE = re.compile(r"<(style|script|svg|noscript)\b[^>]*>.*?</\1>", re.S)


@cache
def small_templates() -> Templates:
    """The real templates, cut to what the extractors read."""
    full = templates()

    def shell(pre_main: str) -> str:
        return "</head><body>" + pre_main[pre_main.rindex("<main") :]

    return dataclasses.replace(
        full,
        article_head=_INLINE.sub("", full.article_head),
        home_head=_INLINE.sub("", full.home_head),
        article_pre_main=shell(full.article_pre_main),
        home_pre_main=shell(full.home_pre_main),
        article_tail="</main></body></html>",
        home_tail="</main></body></html>",
        self_promos="",
        interstitial="",
    )


def backfill(
    articles: int, concurrency: int, root: Path, extra: dict[str, str] | None = None
) -> dict[str, object]:
    site_module.templates = small_templates  # the replica renders small pages
    per_year = math.ceil(articles / ARCHIVE_YEARS)
    started = time.monotonic()
    site = ReplicaSite(articles=60, seed=11, today=TODAY, years=YEARS, past_per_year=per_year)
    since, until = date(YEARS[0], 1, 1), date(YEARS[1], 12, 31)
    expected = site.expected_in_window(since, until)
    built = time.monotonic() - started
    workdir, data = root / str(articles), root / str(articles) / "data"
    settings = {
        "CONCURRENT_REQUESTS": str(concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "LOG_LEVEL": "INFO",
        "LOG_FILE": str(root / f"{articles}.log"),
        **(extra or {}),
    }
    with ReplicaServer(site) as server:
        command = crawl_command(
            server.base_url,
            workdir,
            data_dir=data,
            args={"since": since.isoformat(), "until": until.isoformat(), "archive": "1"},
            settings=settings,
        )
        # Not written: -O would hold every item in a second file; the run file is the export.
        at = command.index("-O")
        del command[at : at + 2]
        began = time.monotonic()
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=crawl_env())
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - began
    stats = json.loads((workdir / "stats.json").read_text())
    records = exported(data)
    got = {unquote(urlsplit(r["url"]).path) for r in records}
    store = sum(p.stat().st_size for p in data.glob("state.sqlite3*"))
    pages = stats.get("response_received_count", 0)
    return {
        "articles": len(expected),
        "exit": os.waitstatus_to_exitcode(status),
        "exported": len(records),
        "exact": got == expected and len(records) == len(got),
        "wall_s": round(wall, 1),
        "engine_s": round(stats.get("elapsed_time_seconds", 0), 1),
        "pages": pages,
        "pages_per_s": round(pages / max(stats.get("elapsed_time_seconds", 1), 1e-9), 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "store_mb": round(store / 2**20, 2),
        "days_recorded": stats.get("rfi/archive/days/recorded"),
        "replica_built_s": round(built, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--concurrency", type=int, default=2, help="the project's default: 2")
    parser.add_argument(
        "-s", dest="settings", action="append", default=[], help="NAME=VALUE, another setting"
    )
    args = parser.parse_args()
    extra = dict(setting.split("=", 1) for setting in args.settings)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.articles:
            result = backfill(size, args.concurrency, Path(tmp), extra)
            print(json.dumps(result), flush=True)
            if result["exit"] != 0 or not result["exact"]:
                log = (Path(tmp) / f"{size}.log").read_text(encoding="utf-8")
                print(f"backfill of {size} failed; end of its log:\n{log[-3000:]}")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
