"""Item pipelines: the date window and within-run deduplication."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import DropItem

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from rfi_crawler.items import ArticleItem

logger = logging.getLogger(__name__)


class DateWindowPipeline:
    """Drops records published outside the spider's ``since``/``until`` window.

    The spider already skips URLs dated outside it; this judges the exact UTC date.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DateWindowPipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        window = self.crawler.spider.arguments.window
        if not window.contains(item.published_at):
            self.crawler.stats.inc_value("rfi/skipped/outside_window")
            raise DropItem(f"outside date window: {item.id} published {item.published_at}")
        return item


class DuplicateArticlePipeline:
    """One record per article id in a run (scope: this run only).

    Requests are already one per canonical URL; this catches one article served under
    two URLs (a section move, an edition's twin linked as itself).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DuplicateArticlePipeline:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        key = item.id or item.url or ""
        if key in self.seen:
            self.crawler.stats.inc_value("rfi/dedup/duplicate_id")
            raise DropItem(f"duplicate: {key}")
        self.seen.add(key)
        return item
