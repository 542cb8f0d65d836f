"""Integration: a real Scrapyd on a free loopback port, the egg built and deployed with
scrapyd-client, jobs scheduled by ``rfi-schedule`` against the local replica."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

from rfi_crawler.export.run_file import iter_records
from tests.crawling import PROJECT_ROOT, TEST_SETTINGS
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical

BIN = Path(sys.executable).parent
USER, PASSWORD = "rfi", "test-secret"
BASIC_AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SCRAPYD_CONF = """[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
eggs_dir = {root}/eggs
dbs_dir = {root}/dbs
logs_dir = {root}/logs
items_dir = {root}/items
jobstorage = scrapyd.jobstorage.SqliteJobStorage
max_proc = 2
poll_interval = 0.2
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ScrapydProcess:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = f"http://127.0.0.1:{free_port()}"
        (root / "scrapyd.conf").write_text(
            SCRAPYD_CONF.format(port=self.url.rsplit(":", 1)[1], root=root)
        )
        self.env = {
            **os.environ,
            "SCRAPYD_USERNAME": USER,
            "SCRAPYD_PASSWORD": PASSWORD,
            "SCRAPYD_URL": self.url,
        }
        self.log = open(root / "scrapyd.out", "w")  # noqa: SIM115 (closed in stop)
        # Its own session, so that stopping it stops the crawls it started too. Started as
        # rfi-scrapyd.service starts it: through the script that insists on credentials.
        self.process = subprocess.Popen(
            [str(PROJECT_ROOT / "deploy" / "scrapyd-start")],
            cwd=root,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def get(self, endpoint: str, **query: str) -> dict:
        request = Request(
            f"{self.url}/{endpoint}?{urlencode(query)}", headers={"Authorization": BASIC_AUTH}
        )
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.root / "scrapyd.out").read_text()
            try:
                self.get("daemonstatus.json")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("Scrapyd did not start")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        finally:
            self.log.close()


@pytest.fixture
def clean_build():
    """scrapyd-deploy's ``setup.py bdist_egg`` leaves build/ in the project: remove it."""
    existed = (PROJECT_ROOT / "build").exists()
    yield
    if not existed:
        shutil.rmtree(PROJECT_ROOT / "build", ignore_errors=True)


@pytest.fixture
def scrapyd(clean_build):
    root = Path(tempfile.mkdtemp(prefix="rfi-scrapyd-"))
    server = ScrapydProcess(root)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    # Nothing of the test may outlive it: no Scrapyd, no crawl it started.
    assert server.process.poll() is not None


def schedule(scrapyd: ScrapydProcess, settings: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rfi_crawler.schedule", "--url", scrapyd.url]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=scrapyd.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_finished(scrapyd: ScrapydProcess, job: str) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        jobs = scrapyd.get("listjobs.json", project="rfi_crawler")
        if any(j["id"] == job for j in jobs["finished"]):
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job} did not finish")


def job_log(scrapyd: ScrapydProcess, job: str) -> str:
    return (scrapyd.root / "logs" / "rfi_crawler" / "rfi_cn" / f"{job}.log").read_text()


def job_records(scrapyd: ScrapydProcess, data: Path, job: str) -> list[dict]:
    manifests = list((data / "output").glob(f"rfi_cn-*-{job}.manifest.json"))
    assert len(manifests) == 1, job_log(scrapyd, job)[-3000:]
    found = list((data / "output").glob(f"rfi_cn-*-{job}.jsonl"))
    if not found:  # a run that exported nothing leaves its manifest and no empty file
        assert json.loads(manifests[0].read_text())["output"] is None
        return []
    return [record for _, record in iter_records(found[0])]


def test_deploy_schedule_and_run_incrementally_on_scrapyd(scrapyd):
    deployed = subprocess.run(
        [str(BIN / "scrapyd-deploy")],
        cwd=PROJECT_ROOT,
        env=scrapyd.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    assert '"status": "ok"' in deployed.stdout and '"spiders": 2' in deployed.stdout
    spiders = scrapyd.get("listspiders.json", project="rfi_crawler")["spiders"]
    assert sorted(spiders) == ["rfi_cn", "rfi_cn_backfill"]

    site = ReplicaSite(articles=60, seed=21, today=datetime.now(UTC).date())
    site.article_delay = 0.05  # long enough for the overlap check to meet a live job
    data = scrapyd.root / "data"  # removed with Scrapyd's directory, pass or fail
    with ReplicaServer(site) as replica:
        settings = {**TEST_SETTINGS, "RFI_BASE_URL": replica.base_url, "RFI_DATA_DIR": str(data)}
        first = schedule(scrapyd, settings)
        assert first.returncode == 0, first.stderr
        job = first.stdout.strip()
        overlapping = schedule(scrapyd, settings)
        assert overlapping.returncode == 3
        assert "already pending or running" in overlapping.stderr and job in overlapping.stderr
        wait_finished(scrapyd, job)
        records = job_records(scrapyd, data, job)
        assert {r["url"] for r in records} == {canonical(p) for p in site.expected_depths()}
        assert len(records) == len({r["url"] for r in records})

        site.article_delay = 0
        second = schedule(scrapyd, settings)
        assert second.returncode == 0, second.stderr
        wait_finished(scrapyd, second.stdout.strip())
        assert job_records(scrapyd, data, second.stdout.strip()) == []

        added = site.add_articles(5)
        edited = next(a for a in site.homepage_items()[5:] if a.index != site.disallowed)
        site.edit(edited)
        # A month later (the re-check schedule's clock): the edited article is due again.
        month = (datetime.now(UTC) + timedelta(days=30)).isoformat(timespec="seconds")
        third = schedule(scrapyd, {**settings, "RFI_RECHECK_NOW": month})
        wait_finished(scrapyd, third.stdout.strip())
        changes = job_records(scrapyd, data, third.stdout.strip())
        assert sorted((r["url"], r["version"]) for r in changes) == sorted(
            [(a.url, 1) for a in added] + [(edited.url, 2)]
        )

    log = job_log(scrapyd, job)
    assert f"ended (finished): exported {len(records)} new and 0 changed records" in log
    assert "failed: " in log and "skipped: " in log
    items = scrapyd.root / "items" / "rfi_crawler" / "rfi_cn" / f"{job}.jl"
    assert len(items.read_text(encoding="utf-8").splitlines()) == len(records)


def test_the_scheduler_fails_clearly(scrapyd, tmp_path):
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    unreachable = subprocess.run(
        [
            sys.executable,
            "-m",
            "rfi_crawler.schedule",
            "--url",
            f"http://127.0.0.1:{free_port()}",
            *data,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unreachable.returncode == 4
    assert "cannot reach Scrapyd" in unreachable.stderr
    wrong_password = subprocess.run(
        [sys.executable, "-m", "rfi_crawler.schedule", "--url", scrapyd.url, *data],
        cwd=PROJECT_ROOT,
        env={**scrapyd.env, "SCRAPYD_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong_password.returncode == 4
    assert "HTTP 401" in wrong_password.stderr
    not_deployed = schedule(scrapyd, {"RFI_DATA_DIR": str(tmp_path)})
    assert not_deployed.returncode == 4
    assert "Scrapyd refused" in not_deployed.stderr


def test_the_egg_holds_what_the_spider_needs_and_nothing_else(tmp_path, clean_build):
    egg = tmp_path / "rfi.egg"
    built = subprocess.run(
        [str(BIN / "scrapyd-deploy"), f"--build-egg={egg}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    with zipfile.ZipFile(egg) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("EGG-INFO/entry_points.txt").decode()
    assert "rfi_crawler/schema/record.schema.json" in names
    assert "rfi_crawler/spiders/rfi_cn.py" in names
    assert "[scrapy]\nsettings = rfi_crawler.settings" in entry_points
    assert not any(name.startswith(("tests/", "benchmarks/", "deploy/")) for name in names)
