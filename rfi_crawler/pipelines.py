"""Item pipelines, in order: the date window, schema validation, within-run deduplication,
and the export (state store + crash-safe run file)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from itemadapter import ItemAdapter
from scrapy.utils.defer import deferred_from_coro

from rfi_crawler import signals as rfi_signals
from rfi_crawler.compact import HashMap, hash64
from rfi_crawler.export.claims import ClaimBatcher
from rfi_crawler.export.run_file import RunFileWriter
from rfi_crawler.outcomes import Dropped
from rfi_crawler.run import CrawlRun
from rfi_crawler.schema import validation_errors
from rfi_crawler.state import ClaimStatus
from rfi_crawler.store_errors import STORE_ERRORS
from rfi_crawler.store_thread import StoreThread

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from rfi_crawler.items import ArticleItem

logger = logging.getLogger(__name__)


class _CrawlerPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler):  # returns the subclass it is called on
        return cls(crawler)


class DateWindowPipeline(_CrawlerPipeline):
    """Drops records published outside the spider's ``since``/``until`` window.

    The spider already skips URLs dated outside it; this judges the exact UTC date.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.run = crawler.get_extension(CrawlRun)  # holds the window once the run opens

    def process_item(self, item: ArticleItem) -> ArticleItem:
        window = self.run.arguments.window
        # A record without its date is no judgement of the window's: validation drops it
        # as invalid, loudly, rather than this as out of the window, quietly.
        if item.published_at and not window.contains(item.published_at):
            self.stats.inc_value("rfi/skipped/outside_window")
            raise Dropped(
                "skipped/outside_window",
                f"outside date window: {item.id} published {item.published_at}",
                log_level="DEBUG",
            )
        return item


class ValidationPipeline(_CrawlerPipeline):
    """Every record must match the published JSON Schema; a broken one is dropped with
    the validation messages, counted per field and logged with its URL."""

    def process_item(self, item: ArticleItem) -> ArticleItem:
        # A shallow copy: values are plain JSON values already (asdict's deep walk cost
        # ~0.4 ms a record); only ``version`` is taken out of the copy.
        record = dict(ItemAdapter(item).items())
        if record.get("version") is None:
            record.pop("version", None)  # assigned later, by the export
        errors = validation_errors(record)
        if errors:
            self.stats.inc_value("rfi/invalid/records")
            for error in errors:
                self.stats.inc_value(f"rfi/invalid/{error.split(':', 1)[0].split('/')[0]}")
            logger.error("invalid record dropped: %s: %s", record.get("url"), "; ".join(errors))
            # Logged above with its reasons; the drop itself need not repeat the whole item.
            raise Dropped(
                "skipped/invalid", f"invalid record: {record.get('url')}", log_level="DEBUG"
            )
        return item


class DuplicateArticlePipeline(_CrawlerPipeline):
    """One record per article id in a run (scope: this run only; across runs the state
    store decides). Requests are already one per canonical URL; this catches one article
    served under two URLs, and says so louder when the two records' URLs differ (a page
    whose datalayer names another article's id looks just so: docs/record.md). Ids are
    kept as 64-bit hashes, each with 32 bits of its record's URL (rfi_crawler/compact.py)."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.seen = HashMap()  # hash64(id) → 32 bits of hash64(url)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        key = item.id or item.url or ""
        hashed, url_bits = hash64(key), hash64(item.url or "") & 0xFFFFFFFF
        first = self.seen.get(hashed)
        if first is None:
            self.seen[hashed] = url_bits
            return item
        self.stats.inc_value("rfi/dedup/duplicate_id")
        if first != url_bits:
            self.stats.inc_value("rfi/dedup/id_of_another_url")
            logger.warning(
                "two URLs give article id %s: %s dropped, the first kept (one article under two"
                " URLs, or a page naming another article's id)",
                key,
                item.url,
            )
        raise Dropped("skipped/duplicate", f"duplicate: {key}", log_level="INFO")


class ExportPipeline(_CrawlerPipeline):
    """Claims each record's next version in the state store, appends it to the run file,
    and marks it exported once the line is durable (every ``RFI_FSYNC_EVERY`` records or
    ``RFI_FSYNC_SECONDS``, and at the end). Unchanged articles are dropped (counted).

    The run file is created at the first record: a run that exports nothing leaves only
    its manifest. Store calls run on a thread of their own (``StoreThread``), the claims
    of records that arrive together in one call (``ClaimBatcher``); a store error stops
    the run with ``state_error``."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.run = crawler.get_extension(CrawlRun)
        self.store = StoreThread(self.run.config.state_uri, self.run.config.state_timeout)
        self.claims = ClaimBatcher(self.store)
        self.writer: RunFileWriter | None = None
        self.pending: list[tuple[str, int]] = []
        self.failed: str | None = None  # the outcome of records after a failure
        self.closed = False  # the run file is closed: nothing more is written
        crawler.signals.connect(self.write_event, signal=rfi_signals.article_event)

    def _now(self) -> str:
        return self.run.store_now()

    def _open_writer(self) -> RunFileWriter:
        if self.writer is None:
            config = self.run.config
            self.writer = RunFileWriter(
                self.run.output_path,
                compress=config.output_compression == "gzip",
                sync_every=config.sync_every,
                sync_seconds=config.sync_seconds,
            )
        return self.writer

    async def process_item(self, item: ArticleItem) -> ArticleItem:
        if self.failed:
            raise Dropped(
                self.failed,
                f"not written: {item.id}: the run stopped exporting",
                log_level="DEBUG",
            )
        record = dict(ItemAdapter(item).items())  # shallow: read and written, never changed
        now = self._now()
        try:
            claim = await self.claims.claim(record, self.run.run_id, now)
        except STORE_ERRORS as exc:
            self._store_failed(exc)
            raise Dropped(
                "failed/state_error", f"not written: {item.id}: {exc}", log_level="DEBUG"
            ) from None
        if claim.restored:
            event = restored_event(record, claim.version, now, self.run.run_id)
            self.write_event({**event, "origin": self.run.config.origin})
        if claim.status is ClaimStatus.UNCHANGED:
            self.stats.inc_value("rfi/incremental/unchanged")
            raise Dropped(
                "unchanged", f"unchanged: {item.id} (version {claim.version})", log_level="DEBUG"
            )
        if claim.status is ClaimStatus.TAKEN:
            self.stats.inc_value("rfi/dedup/claimed_by_other_run")
            raise Dropped(
                "skipped/claimed_by_other_run",
                f"duplicate: {item.id} is being exported by another run",
                log_level="INFO",
            )
        item.version = record["version"] = claim.version
        item.detected_at = record["detected_at"] = now
        if claim.status is ClaimStatus.CHANGED:
            changed = None if claim.changed_fields is None else list(claim.changed_fields)
            item.changed_fields = record["changed_fields"] = changed
            item.change_cause = record["change_cause"] = claim.change_cause
            if changed and "url" in changed:
                # A moved article, or a page naming another's id (docs/record.md): counted.
                self.stats.inc_value("rfi/exported/url_changed")
                logger.info("article %s has a new URL: %s", item.id, item.url)
        try:
            writer = self._open_writer()
            writer.write(record)
            self.pending.append((record["id"], claim.version))
            if writer.sync_due():
                await self._sync()
        except OSError as exc:
            self._stop(exc)
            raise Dropped(
                "failed/output_error", f"not written: {item.id}: {exc}", log_level="DEBUG"
            ) from exc
        except STORE_ERRORS as exc:
            # Written but not marked exported: the run's close settles it from the file.
            self._store_failed(exc)
        self.stats.inc_value(f"rfi/exported/{claim.status}")
        return item

    def write_event(self, event: dict) -> None:
        """An event line (``removed``/``restored``) in the run file, synced with the next
        batch; counted under ``rfi/events/<kind>``."""
        if self.failed or self.closed:
            logger.warning("event not written (the run stopped exporting): %s", event)
            return
        try:
            self._open_writer().write(event)
        except OSError as exc:
            self._stop(exc)
            return
        self.stats.inc_value(f"rfi/events/{event['event']}")

    def _store_failed(self, exc: Exception) -> None:
        if not self.failed:
            self.failed = "failed/state_error"
            self.crawler.signals.send_catch_log(rfi_signals.store_failed, error=exc)

    def _stop(self, exc: OSError, *, close: bool = True) -> None:
        """The run file cannot be written (disk full, I/O error): stop rather than go on
        claiming. What reached the disk is settled when the run closes."""
        if self.failed:
            return
        self.failed = "failed/output_error"
        self.stats.inc_value("rfi/failed/output_error")
        logger.error(
            "cannot write the run file %s: %s; stopping the crawl (records already "
            "synced are kept; the others will be exported by the next run)",
            self.run.output_path,
            exc,
        )
        if close:
            self._close_crawl("output_error")

    def _close_crawl(self, reason: str) -> None:
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=reason))

    async def _sync(self) -> None:
        assert self.writer is not None
        # Claims first: no line may be durable before its claim (state/sqlite.py).
        await self.store.call("flush")
        self.writer.sync()
        batch, self.pending = self.pending, []
        if batch:
            await self.store.call("commit", batch, self.run.run_id, self._now())

    async def close_spider(self) -> None:
        self.closed = True
        try:
            if self.writer is not None:
                if not self.failed:
                    await self._sync()
                self.writer.close()
        except OSError as exc:
            self._stop(exc, close=False)  # already closing
        except STORE_ERRORS as exc:
            self._store_failed(exc)
        finally:
            self.store.close()


def restored_event(record: dict, version: int | None, now: str, run_id: str) -> dict:
    """The event line of an article recorded removed that answers again."""
    return {
        "event": "restored",
        "url": record.get("url"),
        "id": record.get("id"),
        "published_at": record.get("published_at"),
        "title": record.get("title"),
        "detected_at": now,
        "last_version": version,
        "run_id": run_id,
    }
