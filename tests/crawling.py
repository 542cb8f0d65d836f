"""Runs real ``scrapy crawl rfi_cn`` processes against a replica, for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.utils.test import get_crawler

from rfi_crawler import settings as project_module
from rfi_crawler.export.run_file import iter_records
from rfi_crawler.spiders.rfi_cn import RUN_EXTENSIONS, RfiCnSpider

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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
