"""The crawl's run, a Scrapy extension: its id, output file, lock, manifest and state store.

Components reach it with ``crawler.get_extension(CrawlRun)`` in their ``from_crawler``.
Opening a run (``spider_opened``) first recovers the runs that died (``kill -9``, power
cut): their output files are read back, every complete line is marked exported in the
store, and their other claims are released, so the store always agrees with the files.
A store that fails, at open or mid-run, ends the run with finish reason ``state_error``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import platform
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import CloseSpider
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread

from rfi_crawler import __version__
from rfi_crawler import signals as rfi_signals
from rfi_crawler.config import crawl_config
from rfi_crawler.export.run_file import RunFileError, file_sha256, iter_records, manifest_path
from rfi_crawler.schema import SCHEMA_VERSION
from rfi_crawler.state import RunRecord, StateStore, StateStoreError, open_store, redact_uri
from rfi_crawler.state.liveness import (
    HEARTBEAT_SECONDS,
    Owner,
    Verdict,
    judge_run,
    warn_if_ahead,
)
from rfi_crawler.store_errors import STATE_ERROR, STORE_ERRORS

if TYPE_CHECKING:
    from typing import TextIO

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)


def utc_now(fixed: datetime | None = None) -> str:
    """Now, or ``fixed`` (a fake clock), as the store and the run's files write times."""
    return (fixed or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


class CrawlRun:
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRun:
        return cls(crawler)

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config = crawl_config(crawler)
        self.started = datetime.now(UTC)
        self.store: StateStore | None = None
        self.name_job(os.environ.get("SCRAPY_JOB"))
        self.spider_arguments: dict[str, Any] = {}
        self.arguments: Any = None  # the spider's parsed SpiderArguments, once opened
        self.spider_name = "rfi_cn"  # or rfi_cn_backfill, once opened
        self._lock: TextIO | None = None
        self._heartbeat: LoopingCall | None = None
        self._closed = False
        self._store_failed = False
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(self.store_failed, signal=rfi_signals.store_failed)

    def spider_opened(self, spider: Spider) -> None:
        """Take the spider's arguments (and Scrapyd's job id), then open the run."""
        self.arguments = getattr(spider, "arguments", None)
        self.spider_name = spider.name
        self.spider_arguments = dict(getattr(spider, "manifest_arguments", {}))
        job = getattr(spider, "job", None)
        if job:
            self.name_job(job)  # Scrapyd's job id names the run file
        try:
            self.open()
        except STORE_ERRORS as exc:
            logger.error("state store unusable, nothing crawled: %s", exc)
            raise CloseSpider(STATE_ERROR) from None
        except OSError as exc:  # the run's lock file (RFI_DATA_DIR/runs)
            logger.error("run folder unusable, nothing crawled: %s", exc)
            raise CloseSpider(STATE_ERROR) from None

    def store_failed(self, error: Exception) -> None:
        """A component's store call failed mid-run: stop once, with ``state_error``."""
        if self._store_failed:
            return
        self._store_failed = True
        self.crawler.stats.inc_value("rfi/failed/state_error")
        logger.error(
            "state store failed mid-run: %s; stopping the crawl (records already synced are"
            " kept; check RFI_STATE_URI and RFI_STATE_TIMEOUT, or restore the store)",
            error,
        )
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=STATE_ERROR))

    def name_job(self, job: str | None) -> None:
        """Name the run after its job (Scrapyd passes ``-a _job=<id>``); before ``open``.

        Without a job, a short random id keeps run names unique. A job id longer than 64
        bytes is cut there, a hash of the whole id kept (two long ids stay apart): the run
        id names files, of 255 bytes at most. The manifest and the store keep the whole id.
        """
        assert self.store is None, "a run is named before it opens"
        self.job = job or None
        safe = "".join(c for c in (job or "") if c.isalnum() or c in "-_") or uuid.uuid4().hex[:8]
        if len(safe.encode()) > 64:
            digest = hashlib.sha256((job or "").encode("utf-8", "surrogatepass")).hexdigest()
            safe = safe.encode()[:51].decode("utf-8", "ignore") + "-" + digest[:12]
        self.run_id = f"{self.started:%Y%m%dT%H%M%SZ}-{safe}"
        suffix = ".jsonl.gz" if self.config.output_compression == "gzip" else ".jsonl"
        self.output_path = self.config.output_dir / f"rfi_cn-{self.run_id}{suffix}"
        self.lock_path = self.config.data_dir / "runs" / f"{self.run_id}.lock"

    def open(self) -> StateStore:
        """Open the store, recover dead runs and register this one (once)."""
        if self.store is None:
            store = open_store(self.config.state_uri, self.config.state_timeout)
            try:
                self._lock = self._take_lock()
            except OSError:
                store.close()
                raise
            self.store = store
            self._recover_dead_runs()
            owner = Owner.current()
            store.begin_run(
                RunRecord(
                    self.run_id,
                    self.job,
                    self.started.isoformat(timespec="seconds"),
                    str(self.output_path),
                    str(self.lock_path),
                    host=owner.host,
                    pid=owner.pid,
                    pid_start=owner.pid_start,
                    heartbeat_at=utc_now(store.clock()),
                )
            )
            # Other hosts sharing the store judge this run alive by its heartbeat.
            self._heartbeat = LoopingCall(self._beat)
            self._heartbeat.start(HEARTBEAT_SECONDS, now=False)
            logger.info(
                "run %s: output %s, state %s",
                self.run_id,
                self.output_path,
                redact_uri(self.config.state_uri),
            )
            self.crawler.signals.send_catch_log(rfi_signals.store_opened, store=store)
        return self.store

    def _take_lock(self) -> TextIO:
        """The run's lock file, held for its life: recovery tells a dead run by it."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.lock_path, "w")  # noqa: SIM115 (held for the run's life)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise
        return lock

    def _beat(self) -> Deferred:
        # On a thread, with a connection of its own: a store busy with another crawl's
        # write never freezes the reactor.
        return deferToThread(self._touch)

    def _touch(self) -> None:
        try:
            store = open_store(self.config.state_uri, self.config.state_timeout)
            try:
                store.touch_run(self.run_id, utc_now(store.clock()))
            finally:
                store.close()
        except StateStoreError as exc:  # the next beat may pass; the lease has slack
            logger.warning("run %s: heartbeat not recorded: %s", self.run_id, exc)

    def _recover_dead_runs(self) -> None:
        assert self.store is not None
        # The store's clock, by which every host beats: the hosts' clocks need not agree.
        here, now = Owner.current(), self.store.clock()
        for run in self.store.unfinished_runs():
            if run.run_id == self.run_id:
                continue
            verdict = judge_run(run, here, now)
            warn_if_ahead(run, now)
            if verdict is Verdict.ELSEWHERE:
                logger.warning(
                    "run %s of host %s stopped beating but its file %s is not here: left"
                    " for that host to recover",
                    run.run_id,
                    run.host,
                    run.output_path,
                )
                self.crawler.stats.inc_value("rfi/recovery/left_to_host")
            if verdict is not Verdict.DEAD:
                continue
            committed, released, problem = self._reconcile(run.run_id, Path(run.output_path))
            self.store.finish_run(run.run_id, utc_now(now), "crashed")
            self.crawler.stats.inc_value("rfi/recovery/runs")
            self.crawler.stats.inc_value("rfi/recovery/committed", committed)
            self.crawler.stats.inc_value("rfi/recovery/released", released)
            logger.warning(
                "recovered run %s that did not finish: %d exported lines marked in the state"
                " store, %d unwritten claims released%s",
                run.run_id,
                committed,
                released,
                f"; {problem}" if problem else "",
            )
            Path(run.lock_path).unlink(missing_ok=True)

    def _reconcile(self, run_id: str, output_path: Path) -> tuple[int, int, str | None]:
        """Make the store agree with a run's file: every complete line is exported, every
        other claim of the run is released (its article will be exported again)."""
        assert self.store is not None
        keys, problem = _exported_keys(output_path)
        committed = self.store.commit(keys, run_id, self.store_now())
        return committed, self.store.release(run_id), problem

    def store_now(self) -> str:
        """Now for the articles' check and version times in the store, as the exporter and
        the recovery write them: ``RFI_RECHECK_NOW`` where set (tests, replays), the clock
        the re-check schedule reads too."""
        return utc_now(self.config.recheck_now)

    def spider_closed(self, reason: str) -> None:
        try:
            self.close(reason)
        except STORE_ERRORS as exc:
            logger.error("state store failed while closing the run %s: %s", self.run_id, exc)
            self.crawler.stats.set_value("finish_reason", STATE_ERROR)

    def close(self, reason: str) -> None:
        if self._closed or self.store is None:
            return
        self._closed = True
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self._store_failed:
            reason = STATE_ERROR  # the close that followed the failure may name another
        try:
            # Normally a no-op; after a write error (disk full) it settles what reached the file.
            committed, released, problem = self._reconcile(self.run_id, self.output_path)
        except STORE_ERRORS as exc:
            # The store cannot settle the run: the next run's recovery will, from the file.
            logger.error(
                "run %s: the state store could not settle its claims: %s", self.run_id, exc
            )
            self._release_lock()
            self.crawler.stats.set_value("finish_reason", STATE_ERROR)
            self._write_manifest(utc_now(), STATE_ERROR)
            return
        if committed or released:
            logger.warning(
                "run %s closed with %d records only in its file and %d claims not written%s",
                self.run_id,
                committed,
                released,
                f"; {problem}" if problem else "",
            )
        logger.info("%s", self.summary(reason))
        # The manifest's end by this host's clock, as its start (a card says "start to end");
        # the store's by the store's, which rfi-schedule status judges ages by.
        self._write_manifest(utc_now(), reason)
        self.store.finish_run(self.run_id, self._store_now(), reason)
        self.store.close()
        self._release_lock()

    def _store_now(self) -> str:
        """Now by the store's clock, which ``rfi-schedule status`` judges a run's age by (the
        host's, should the store not answer)."""
        assert self.store is not None
        try:
            return utc_now(self.store.clock())
        except STORE_ERRORS:
            return utc_now()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()
        self.lock_path.unlink(missing_ok=True)

    def summary(self, reason: str) -> str:
        """One line for the log: what the run did, by outcome."""
        stats = self.crawler.stats.get_stats()

        def group(prefix: str, *leave_out: str, percent: bool = False) -> str:
            found = {
                k.removeprefix(prefix): v
                for k, v in sorted(stats.items())
                if k.startswith(prefix) and k.removeprefix(prefix) not in leave_out
            }
            shown = (f"{k} {v:.0%}" if percent else f"{k} {v}" for k, v in found.items())
            return ", ".join(shown) or "none"

        return (
            f"run {self.run_id} ended ({reason}): exported "
            f"{stats.get('rfi/exported/new', 0)} new and "
            f"{stats.get('rfi/exported/changed', 0)} changed records to "
            f"{self.output_path if self.output_path.exists() else 'no run file'}; "
            f"unchanged {stats.get('rfi/incremental/unchanged', 0)}, not downloaded again "
            f"{stats.get('rfi/incremental/skipped_known', 0)}; skipped: "
            f"{group('rfi/skipped/')}; failed: {group('rfi/failed/')}; "
            f"invalid: {stats.get('rfi/invalid/records', 0)}; outcomes of "
            f"{stats.get('rfi/outcome/met', 0)} content URLs: {group('rfi/outcome/', 'met')}; "
            f"field coverage of {stats.get('rfi/coverage/pages', 0)} pages: "
            f"{group('rfi/coverage/', 'pages', percent=True)}"
        )

    def _write_manifest(self, finished: str, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        written = self.output_path.exists()
        outcomes = {
            key.removeprefix("rfi/"): value
            for key, value in sorted(stats.items())
            if key.startswith("rfi/") and not key.startswith("rfi/coverage/")
        }
        coverage = {
            key.removeprefix("rfi/coverage/"): value
            for key, value in sorted(stats.items())
            if key.startswith("rfi/coverage/")
        }
        manifest = {
            "run_id": self.run_id,
            "job": self.job,
            "spider": self.spider_name,
            "origin": self.config.origin,
            "started_at": self.started.isoformat(timespec="seconds"),
            "finished_at": finished,
            "finish_reason": reason,
            # A run that exported nothing leaves its manifest and no empty run file.
            "output": self.output_path.name if written else None,
            "compression": self.config.output_compression,
            "records": stats.get("rfi/exported/new", 0) + stats.get("rfi/exported/changed", 0),
            "sha256": file_sha256(self.output_path) if written else None,
            "schema_version": SCHEMA_VERSION,
            "spider_arguments": self.spider_arguments,
            "settings": self.config.as_manifest(),
            "versions": {
                "rfi_crawler": __version__,
                "scrapy": scrapy.__version__,
                "python": platform.python_version(),
            },
            "outcomes": outcomes,
            "field_coverage": coverage,
        }
        path = manifest_path(self.output_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(temporary, path)


def _exported_keys(path: Path) -> tuple[list[tuple[str, int]], str | None]:
    """(id, version) of every complete line of a dead run's file."""
    keys: list[tuple[str, int]] = []
    if not path.exists():
        return keys, None
    try:
        for _, record in iter_records(path):
            if isinstance(record.get("id"), str) and isinstance(record.get("version"), int):
                keys.append((record["id"], record["version"]))
    except (RunFileError, OSError) as exc:
        return keys, f"its file is damaged past line {len(keys)}: {exc}"
    return keys, None
