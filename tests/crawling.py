"""Runs real ``scrapy crawl rfi_cn`` processes against a replica, for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
}


@dataclass
class CrawlResult:
    records: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str
    returncode: int


def run_crawl(
    base_url: str,
    workdir: Path,
    *,
    args: dict[str, str] | None = None,
    settings: dict[str, str] | None = None,
    timeout: float = 180,
) -> CrawlResult:
    workdir.mkdir(parents=True, exist_ok=True)
    output, stats_file = workdir / "items.jsonl", workdir / "stats.json"
    command = [sys.executable, "-m", "scrapy", "crawl", "rfi_cn", "-O", str(output)]
    merged = {
        **TEST_SETTINGS,
        "RFI_BASE_URL": base_url,
        "STATS_DUMP_FILE": str(stats_file),
        "RFI_DATA_DIR": str(workdir / "data"),
        "EXTENSIONS": json.dumps({"tests.stats_dump.StatsDump": 0}),
        **(settings or {}),
    }
    for name, value in merged.items():
        command += ["-s", f"{name}={value}"]
    for name, value in (args or {}).items():
        command += ["-a", f"{name}={value}"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    records = (
        [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
        if output.exists()
        else []
    )
    stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.exists() else {}
    return CrawlResult(records, stats, done.stderr, done.returncode)
