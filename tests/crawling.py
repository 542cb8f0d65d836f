"""Runs real ``scrapy crawl rfi_cn`` crawls against a replica, for end-to-end tests: as
processes (``run_crawl``), or in this process (``crawl_items``) when only items, stats and
log lines matter."""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.reactor import (
    install_reactor,
    is_reactor_installed,
    verify_installed_reactor,
)
from scrapy.utils.test import get_crawler
from twisted.internet.defer import maybeDeferred
from twisted.python.failure import Failure

from rfi_crawler import settings as project_module
from rfi_crawler.commands.crawl import exit_status
from rfi_crawler.export.run_file import iter_records
from rfi_crawler.preflight import check_crawl
from rfi_crawler.spiders.rfi_cn import RUN_EXTENSIONS, RfiCnSpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.interfaces import IReactorCore

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Set by tests/conftest.py when the session holds only tests marked ``inprocess``: the only
# tests that may install and run the reactor (``crawl_items``).
reactor_allowed = False
# Fast but still real: the engine, robots.txt, dupefilter and pipelines all run.
TEST_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "8",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "TELNETCONSOLE_ENABLED": "0",
    "RFI_CONTACT": "tests@example.invalid",
    "LOG_LEVEL": "INFO",
    # Backoff in milliseconds rather than the real site's seconds.
    "RFI_BACKOFF_BASE": "0.05",
    "RFI_BACKOFF_MAX": "0.5",
}


@dataclass
class CrawlResult:
    records: list[dict[str, Any]]  # from -O items.jsonl
    stats: dict[str, Any]
    log: str
    returncode: int


def scrapy_crawl(*args: str) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl rfi_cn ARGS…`` in the project, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "rfi_cn", *args],
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plain_crawl(base_url: str, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``scrapy_crawl`` with the test settings and ``extra`` options (no -O, no stats
    file): for crawls refused before their first request."""
    values = {**TEST_SETTINGS, "RFI_BASE_URL": base_url, "RFI_DATA_DIR": str(data_dir)}
    return scrapy_crawl(*(f"-s{name}={value}" for name, value in values.items()), *extra)


def crawl_command(
    base_url: str,
    workdir: Path,
    *,
    data_dir: Path | None = None,
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "rfi_cn",
        "-O",
        str(workdir / "items.jsonl"),
    ]
    merged = {
        **TEST_SETTINGS,
        "RFI_BASE_URL": base_url,
        "RFI_DATA_DIR": str(data_dir or workdir / "data"),
        "STATS_DUMP_FILE": str(workdir / "stats.json"),
        # After the run's own extensions, which write their stats at spider_closed too.
        "EXTENSIONS": json.dumps({"tests.stats_dump.StatsDump": 1000}),
        **(settings or {}),
    }
    for name, value in merged.items():
        command += ["-s", f"{name}={value}"]
    for name, value in (args or {}).items():
        command += ["-a", f"{name}={value}"]
    return command


def crawl_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}


def run_crawl(
    base_url: str,
    workdir: Path,
    *,
    data_dir: Path | None = None,
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    timeout: float = 300,
) -> CrawlResult:
    command = crawl_command(base_url, workdir, data_dir=data_dir, args=args, settings=settings)
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return collect(workdir, done.stderr, done.returncode)


def collect(workdir: Path, log: str, returncode: int) -> CrawlResult:
    output, stats_file = workdir / "items.jsonl", workdir / "stats.json"
    records = (
        [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
        if output.exists()
        else []
    )
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    return CrawlResult(records, stats, log, returncode)


def run_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "output").glob("rfi_cn-*.jsonl*"))


def exported(data_dir: Path) -> list[dict[str, Any]]:
    """Every record of every run file (a truncated last line is skipped, as readers do)."""
    return [record for path in run_files(data_dir) for _, record in iter_records(path)]


def project_settings(**overrides: Any) -> dict[str, Any]:
    """The project's settings with the run's extensions, as ``scrapy crawl`` has them."""
    values = {k: v for k, v in vars(project_module).items() if k.isupper()}
    return {**values, "EXTENSIONS": dict(RUN_EXTENSIONS), **overrides}


def built_crawler(settings: dict[str, Any] | None = None, **spider_kwargs: Any) -> Crawler:
    """A crawler with its spider and extensions built, as the engine would start it
    (nothing opened, nothing downloaded)."""
    crawler = get_crawler(RfiCnSpider, project_settings(**(settings or {})))
    crawler.spider = RfiCnSpider.from_crawler(crawler, **spider_kwargs)
    crawler.stats.open_spider()
    return crawler


@functools.cache
def reactor_thread() -> IReactorCore:
    """The process's Twisted reactor (the project's ``TWISTED_REACTOR``), installed and run
    in a daemon thread from the first in-process crawl on: a reactor cannot restart, and
    this way the test thread keeps no event loop of its own.

    Only tests marked ``inprocess`` may call this: they run in a pytest of their own
    (tests/conftest.py), because an installed reactor changes how Scrapy's helpers behave
    for every later test in the process."""
    started: queue.Queue[IReactorCore | BaseException] = queue.Queue()
    wanted = Settings(project_settings())["TWISTED_REACTOR"]

    def run() -> None:
        try:
            if is_reactor_installed():  # something imported twisted.internet.reactor first
                verify_installed_reactor(wanted)
            else:
                install_reactor(wanted)
            from twisted.internet import reactor  # installed just above, in this thread

            reactor.callWhenRunning(started.put, reactor)
            reactor.run(installSignalHandlers=False)
        except BaseException as exc:  # handed to the test that asked for the reactor
            started.put(exc)

    threading.Thread(target=run, name="twisted-reactor", daemon=True).start()
    outcome = started.get(timeout=60)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class CrawlLog(logging.Handler):
    """Every log record while a crawl runs, formatted as ``scrapy crawl`` prints them: from
    the reactor's thread and its worker threads alike (the test's own thread only waits)."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def crawl_items(
    base_url: str,
    workdir: Path,
    *,
    data_dir: Path | None = None,
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    timeout: float = 300,
) -> CrawlResult:
    """``run_crawl`` without the process: the same settings, spider, ``-O`` feed, command
    checks and exit status, with the crawl run by ``AsyncCrawlerRunner`` in the reactor
    thread. ``log`` holds the crawl's log lines, tracebacks included."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "items.jsonl"
    merged = Settings(
        project_settings(
            **TEST_SETTINGS,
            RFI_BASE_URL=base_url,
            RFI_DATA_DIR=str(data_dir or workdir / "data"),
            FEEDS={str(output): {"format": "jsonlines", "overwrite": True}},
            **(settings or {}),
        )
    )
    if not reactor_allowed:
        raise RuntimeError("crawl_items runs only in tests marked inprocess (tests/conftest.py)")
    arguments = dict(args or {})
    check_crawl(merged, arguments)  # as the crawl command does before it starts
    reactor = reactor_thread()
    log = CrawlLog(logging.getLevelName(merged["LOG_LEVEL"]))
    root = logging.getLogger()
    root_level = root.level
    root.addHandler(log)
    root.setLevel(min(root_level or logging.WARNING, log.level))
    done: queue.Queue[object] = queue.Queue()
    runner = AsyncCrawlerRunner(merged)
    crawler = runner.create_crawler(RfiCnSpider)

    def start() -> None:
        crawling = maybeDeferred(lambda: deferred_from_coro(runner.crawl(crawler, **arguments)))
        crawling.addBoth(done.put)  # a refusal to start too, rather than a wait for timeout

    try:
        reactor.callFromThread(start)
        outcome = done.get(timeout=timeout)
    finally:
        root.removeHandler(log)
        root.setLevel(root_level)
    if isinstance(outcome, Failure):
        outcome.raiseException()
    returncode = 1 if runner.bootstrap_failed else exit_status(crawler.stats.get_stats())
    records = (
        [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
        if output.exists()
        else []
    )
    stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, int | float | str)}
    return CrawlResult(records, stats, "\n".join(log.lines), returncode)
