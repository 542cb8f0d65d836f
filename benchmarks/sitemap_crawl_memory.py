"""Peak RSS of a whole crawl whose news sitemap lists N URLs outside the date window.

    python -m benchmarks.sitemap_crawl_memory [--padding 100000]

Starts a replica (60 articles) whose news sitemap carries ``--padding`` extra URLs of
2015, runs ``scrapy crawl rfi_cn`` on it with ``since`` a month back and only the sitemap
as start point, and reports the crawl process's peak RSS (``/usr/bin/time -v``) beside
the same crawl with no padding (the baseline, measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.crawling import crawl_command, crawl_env
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite


def crawl_rss_mb(padding: int, workdir: Path) -> tuple[float, int]:
    today = datetime.now(UTC).date()
    site = ReplicaSite(articles=60, seed=7, today=today)
    site.sitemap_padding = padding
    with ReplicaServer(site) as server:
        command = crawl_command(
            server.base_url,
            workdir,
            args={"since": (today - timedelta(days=30)).isoformat()},
            settings={"RFI_START_POINTS": "sitemap", "LOG_LEVEL": "WARNING"},
        )
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, env=crawl_env()
        )
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if peak is None or done.returncode != 0:
        sys.exit(f"crawl failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    stats = json.loads((workdir / "stats.json").read_text())
    return int(peak.group(1)) / 1024, stats.get("rfi/skipped/outside_window", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--padding", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for padding in (0, args.padding):
            rss, outside = crawl_rss_mb(padding, Path(tmp) / str(padding))
            print(f"padding={padding}: peak RSS {rss:.1f} MB, {outside} URLs outside the window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
