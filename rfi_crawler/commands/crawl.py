"""``scrapy crawl`` whose exit status says when a run ended badly.

Scrapy's own ``crawl`` exits 0 whatever the finish reason; cron, systemd and Scrapyd
monitoring need a failure to show. Exit status: 0 for ``finished`` (and ``shutdown``, a
deliberate Ctrl-C), 2 for a bad setting, argument or output path (one line, before any
request), 3 for ``blocked``, 4 for ``layout_drift``, 5 for ``output_error``,
6 for ``unreachable`` (no start point answered), 7 for ``state_error`` (the state store
failed), 1 for any other reason or a crawl that could not start. A run that would exit 0
but whose ``-o``/``-O`` feed Scrapy could not store exits 5 too (a local feed whose writes
failed mid-run is not stored: rfi_crawler/feed_storage.py).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError
from scrapy.spiderloader import get_spider_loader

from rfi_crawler.config import ConfigError
from rfi_crawler.preflight import check_crawl

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping

USAGE_ERROR = 2
EXIT_STATUS = {
    "finished": 0,
    "shutdown": 0,
    "blocked": 3,
    "layout_drift": 4,
    "output_error": 5,
    "unreachable": 6,
    "state_error": 7,
}
# Scrapy counts a feed it could not store (a full disk) per storage class, and logs it.
FEED_FAILED = "feedexport/failed_count/"


def exit_status(stats: Mapping[str, Any]) -> int:
    """The status of a crawl that ran: its finish reason's, but output_error's when an
    ``-o``/``-O`` feed was not stored, as the run otherwise succeeded: nothing else
    would tell a cron job or Scrapyd that the file it asked for is missing or cut."""
    status = EXIT_STATUS.get(str(stats.get("finish_reason")), 1)
    return EXIT_STATUS["output_error"] if status == 0 and feed_failures(stats) else status


def feed_failures(stats: Mapping[str, Any]) -> int:
    return sum(value for key, value in stats.items() if key.startswith(FEED_FAILED))


class Command(ScrapyCrawl):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        """Settings, arguments and output folders checked as soon as the command line is
        read: before Scrapy's start-up banner, so a refusal is the only line printed."""
        super().process_options(args, opts)
        if len(args) != 1:
            return  # run() says so
        try:
            # The process is not built yet (its banner would come first): a loader of our own.
            spider_class = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            spider_class = None  # Scrapy says so below
        try:
            backfill = bool(getattr(spider_class, "backfill", False))
            check_crawl(self.settings, opts.spargs, backfill=backfill)
        except ConfigError as exc:
            print(f"scrapy crawl {args[0]}: {exc}", file=sys.stderr)
            sys.exit(USAGE_ERROR)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider: scrapy crawl rfi_cn")
        assert self.crawler_process
        # Kept here: the process forgets its crawlers once they are done.
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return
        stats = crawler.stats.get_stats() if crawler.stats else {}
        self.exitcode = exit_status(stats)
        if failed := feed_failures(stats):
            feeds = "1 -o/-O feed" if failed == 1 else f"{failed} -o/-O feeds"
            print(
                f"scrapy crawl {args[0]}: {feeds} not stored (the ERROR above says why); the"
                " run file in RFI_OUTPUT_DIR is written apart",
                file=sys.stderr,
            )
