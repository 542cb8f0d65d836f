"""Serve a replica of www.rfi.fr/cn/ for demos and benchmarks.

    python -m tests.replica --port 8000 --articles 500
    python -m tests.replica --years 2006-2025 --past-per-year 50   # with the archive

then crawl it fast, into a folder of its own (never the real data directory):

    scrapy crawl rfi_cn -s RFI_BASE_URL=http://127.0.0.1:8000 -s RFI_DATA_DIR=demo-data/8000 \\
        -s AUTOTHROTTLE_ENABLED=0 -s DOWNLOAD_DELAY=0 -s CONCURRENT_REQUESTS=8 \\
        -s RFI_BACKOFF_BASE=0.1

(make demo does all of this, on a free port, and builds a dataset.)
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from datetime import date

from tests.replica.past import FIRST_YEAR, MIN_PER_YEAR
from tests.replica.server import ReplicaServer
from tests.replica.site import MIN_ARTICLES, ReplicaSite


def year_range(text: str) -> tuple[int, int]:
    """``2006-2025`` (or one year) → (first, last); argparse turns the error into a message."""
    first, _, last = text.partition("-")
    try:
        years = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year range like 2006-2025: {text!r}") from None
    if not FIRST_YEAR <= years[0] <= years[1]:
        raise argparse.ArgumentTypeError(
            f"the archive starts in {FIRST_YEAR} and the range must not run backwards: {text!r}"
        )
    return years


def _articles(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < MIN_ARTICLES:
        raise argparse.ArgumentTypeError(f"expected a whole number, at least {MIN_ARTICLES}")
    return count


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date YYYY-MM-DD") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.replica",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--articles", type=_articles, default=60, help="at least 40")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=2, help="teasers per section page")
    parser.add_argument(
        "--today",
        type=_day,
        default=None,
        help="date of the newest articles (YYYY-MM-DD; default: today, UTC)",
    )
    parser.add_argument(
        "--years",
        type=year_range,
        default=None,
        help="give the site a past: archive pages and older articles for these years "
        "(e.g. 2006-2025; default: no past, today's site only)",
    )
    parser.add_argument(
        "--past-per-year", type=int, default=12, help="older articles per archive year"
    )
    args = parser.parse_args(argv)
    if args.years and args.past_per_year < MIN_PER_YEAR:
        parser.error(f"--past-per-year must be at least {MIN_PER_YEAR} (one per old URL form)")
    site = ReplicaSite(
        articles=args.articles,
        seed=args.seed,
        today=args.today,
        page_size=args.page_size,
        years=args.years,
        past_per_year=args.past_per_year,
    )
    with ReplicaServer(site, args.port) as server:
        expected = len(site.expected_depths())
        past = ""
        if site.past:
            years = f"{site.past.first}-{site.past.last}"
            past = f", an archive of {len(site.past.all_articles())} articles over {years}"
        print(
            f"replica of www.rfi.fr/cn/ with {len(site.articles)} articles at {server.base_url}/cn/"
            f" ({expected} expected from a default crawl){past}; Ctrl-C stops",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
