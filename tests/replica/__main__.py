"""Serve a replica of www.rfi.fr/cn/ for demos and benchmarks.

    python -m tests.replica --port 8000 --articles 500

then crawl it: ``scrapy crawl rfi_cn -s RFI_BASE_URL=http://127.0.0.1:8000 -O demo.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from datetime import date

from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.replica",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--articles", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=2, help="teasers per section page")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="date of the newest articles (YYYY-MM-DD; default: today, UTC)",
    )
    args = parser.parse_args()
    site = ReplicaSite(
        articles=args.articles, seed=args.seed, today=args.today, page_size=args.page_size
    )
    with ReplicaServer(site, args.port) as server:
        expected = len(site.expected_depths())
        print(
            f"replica of www.rfi.fr/cn/ with {len(site.articles)} articles at {server.base_url}/cn/"
            f" ({expected} expected from a default crawl); Ctrl-C stops",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
