"""One crawl process's run: its id, output file, lock, manifest and the shared state store.

Every component of a crawl reaches the same run through ``CrawlRun.of(crawler)``. Opening a
run first recovers the runs that died (``kill -9``, power cut): their output files are
read back, every complete line is marked exported in the store, and their other claims
are released, so the store always agrees with the files.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import platform
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import scrapy
from scrapy import signals

from rfi_crawler import __version__
from rfi_crawler.config import RfiConfig
from rfi_crawler.export.run_file import RunFileError, file_sha256, iter_records
from rfi_crawler.schema import SCHEMA_VERSION
from rfi_crawler.state import RunRecord, StateStore, open_store

if TYPE_CHECKING:
    from typing import TextIO

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_runs: WeakKeyDictionary[Crawler, CrawlRun] = WeakKeyDictionary()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class CrawlRun:
    @classmethod
    def of(cls, crawler: Crawler) -> CrawlRun:
        if crawler not in _runs:
            _runs[crawler] = cls(crawler)
        return _runs[crawler]

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config = RfiConfig.from_settings(crawler.settings)
        self.started = datetime.now(UTC)
        self.store: StateStore | None = None
        self.name_job(os.environ.get("SCRAPY_JOB"))
        self.spider_arguments: dict[str, Any] = {}
        self._lock: TextIO | None = None
        self._closed = False
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    def name_job(self, job: str | None) -> None:
        """Name the run after its job (Scrapyd passes ``-a _job=<id>``); before ``open``.

        Without a job, a short random id keeps run names unique.
        """
        assert self.store is None, "a run is named before it opens"
        self.job = job or None
        safe = "".join(c for c in (job or "") if c.isalnum() or c in "-_") or uuid.uuid4().hex[:8]
        self.run_id = f"{self.started:%Y%m%dT%H%M%SZ}-{safe}"
        suffix = ".jsonl.gz" if self.config.output_compression == "gzip" else ".jsonl"
        self.output_path = self.config.output_dir / f"rfi_cn-{self.run_id}{suffix}"
        self.lock_path = self.config.data_dir / "runs" / f"{self.run_id}.lock"

    def open(self) -> StateStore:
        """Open the store, recover dead runs and register this one (once)."""
        if self.store is None:
            store = open_store(self.config.state_uri, self.config.state_timeout)
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.lock_path, "w")  # noqa: SIM115 (held for the run's life)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.store = store
            self._recover_dead_runs()
            store.begin_run(
                RunRecord(
                    self.run_id,
                    self.job,
                    self.started.isoformat(timespec="seconds"),
                    str(self.output_path),
                    str(self.lock_path),
                )
            )
            logger.info(
                "run %s: output %s, state %s", self.run_id, self.output_path, self.config.state_uri
            )
        return self.store

    def _recover_dead_runs(self) -> None:
        assert self.store is not None
        for run in self.store.unfinished_runs():
            if run.run_id == self.run_id or _is_alive(Path(run.lock_path)):
                continue
            committed, released, problem = self._reconcile(run.run_id, Path(run.output_path))
            self.store.finish_run(run.run_id, utc_now(), "crashed")
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
        committed = self.store.commit(keys, run_id, utc_now())
        return committed, self.store.release(run_id), problem

    def _spider_closed(self, spider: object, reason: str) -> None:
        self.close(reason)

    def close(self, reason: str) -> None:
        if self._closed or self.store is None:
            return
        self._closed = True
        # Normally a no-op; after a write error (disk full) it settles what reached the file.
        committed, released, problem = self._reconcile(self.run_id, self.output_path)
        if committed or released:
            logger.warning(
                "run %s closed with %d records only in its file and %d claims not written%s",
                self.run_id,
                committed,
                released,
                f"; {problem}" if problem else "",
            )
        finished = utc_now()
        logger.info("%s", self.summary(reason))
        if self.output_path.exists():
            self._write_manifest(finished, reason)
        self.store.finish_run(self.run_id, finished, reason)
        self.store.close()
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
            f"{stats.get('rfi/exported/changed', 0)} changed records to {self.output_path}; "
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
            "spider": "rfi_cn",
            "origin": self.config.origin,
            "started_at": self.started.isoformat(timespec="seconds"),
            "finished_at": finished,
            "finish_reason": reason,
            "output": self.output_path.name,
            "compression": self.config.output_compression,
            "records": stats.get("rfi/exported/new", 0) + stats.get("rfi/exported/changed", 0),
            "sha256": file_sha256(self.output_path),
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
        path = self.output_path.with_name(
            self.output_path.name.split(".jsonl")[0] + ".manifest.json"
        )
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(temporary, path)


def manifest_path(run_file: Path) -> Path:
    """``rfi_cn-<run>.jsonl[.gz]`` → ``rfi_cn-<run>.manifest.json``."""
    return run_file.with_name(run_file.name.split(".jsonl")[0] + ".manifest.json")


def _is_alive(lock_path: Path) -> bool:
    """A run holds an exclusive flock on its lock file while it lives; the kernel drops it
    when the process dies, whatever killed it."""
    try:
        handle = open(lock_path)  # noqa: SIM115
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


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
