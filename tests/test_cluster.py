"""End to end: two real Scrapyd nodes sharing one PostgreSQL state store, crawls scheduled
by ``rfi-schedule`` over both, one node killed mid-crawl, a backfill split over both, and one
dataset built from both nodes' output folders."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest

from rfi_crawler.export.run_file import iter_records
from rfi_crawler.state import open_store
from rfi_crawler.state.liveness import process_alive
from tests.crawling import PROJECT_ROOT, TEST_SETTINGS
from tests.postgres import postgres  # noqa: F401 (fixture)
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite, canonical
from tests.test_scrapyd import BASIC_AUTH, PASSWORD, SCRAPYD_CONF, USER, free_port

BIN = Path(sys.executable).parent
TODAY = datetime.now(UTC).date()
PAST_TODAY = date(2025, 12, 1)  # the replica's past is built up to its today
DEADLINE = 300.0  # seconds: generous, for 2 shared cores under load


def wait_for(what: str, check: Callable[[], object], timeout: float = DEADLINE) -> object:
    """Poll ``check`` until it returns something true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Node:
    """One Scrapyd in its own directory and session; its jobs' data in its own
    XDG_DATA_HOME, as a node's service user would have it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.url = f"http://127.0.0.1:{free_port()}"
        self.name = self.url.removeprefix("http://")
        (root / "scrapyd.conf").write_text(
            SCRAPYD_CONF.format(port=self.url.rsplit(":", 1)[1], root=root)
        )
        self.env = {**env, "SCRAPYD_URL": self.url, "XDG_DATA_HOME": str(root / "xdg")}
        self.log = open(root / "scrapyd.out", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [str(PROJECT_ROOT / "deploy" / "scrapyd-start")],
            cwd=root,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its crawls share its process group
        )

    def get(self, endpoint: str, **query: str) -> dict:
        request = Request(
            f"{self.url}/{endpoint}?{urlencode(query)}", headers={"Authorization": BASIC_AUTH}
        )
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        assert self.process.poll() is None, (self.root / "scrapyd.out").read_text()
        try:
            return self.get("daemonstatus.json")["status"] == "ok"
        except OSError:
            return False

    def finished(self, job: str) -> bool:
        jobs = self.get("listjobs.json", project="rfi_crawler")
        return any(entry["id"] == job for entry in jobs["finished"])

    def output(self) -> Path:
        found = list((self.root / "xdg").glob("rfi-crawler/origins/*/output"))
        assert len(found) <= 1, found
        return found[0] if found else self.root / "no-output-yet"

    def records(self, job: str) -> list[dict]:
        """The records of ``job``'s run file (none when it exported nothing)."""
        manifests = list(self.output().glob(f"rfi_cn-*-{job}.manifest.json"))
        files = list(self.output().glob(f"rfi_cn-*-{job}.jsonl"))
        assert len(files) <= 1 and (files or manifests), self.job_log(job)[-3000:]
        return [record for _, record in iter_records(files[0])] if files else []

    def job_log(self, job: str) -> str:
        logs = list((self.root / "logs" / "rfi_crawler").glob(f"*/{job}.log"))
        return logs[0].read_text() if logs else f"no log of {job}"

    def kill(self) -> None:
        """kill -9 of Scrapyd and the crawls it started: the whole process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        except PermissionError:
            pass
        finally:
            self.log.close()


@pytest.fixture(scope="module")
def egg():
    """The project's egg, built once for every node."""
    existed = (PROJECT_ROOT / "build").exists()
    folder = Path(tempfile.mkdtemp(prefix="rfi-egg-"))
    built = subprocess.run(
        [str(BIN / "scrapyd-deploy"), f"--build-egg={folder / 'rfi.egg'}"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    yield folder / "rfi.egg"
    shutil.rmtree(folder, ignore_errors=True)
    if not existed:
        shutil.rmtree(PROJECT_ROOT / "build", ignore_errors=True)


def least_privilege_role(owner_uri: str) -> tuple[str, str]:
    """The tables created by their owner, and a role that may only read and write their rows,
    granted as docs/cluster.md says; (role, password)."""
    import psycopg

    open_store(owner_uri, 30).close()
    role, password = f"rfi_{secrets.token_hex(4)}", secrets.token_hex(16)
    database = owner_uri.rsplit("/", 1)[1]
    with psycopg.connect(owner_uri, autocommit=True) as owner:
        owner.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        owner.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        owner.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        owner.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        rows = "SELECT, INSERT, UPDATE, DELETE"
        owner.execute(f"GRANT {rows} ON ALL TABLES IN SCHEMA public TO {role}")
        owner.execute(f"REVOKE INSERT, UPDATE, DELETE ON rfi_state_version FROM {role}")
        # Tables a later layout adds (migrated by the owner) are the role's too.
        owner.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {rows} ON TABLES TO {role}")
    host = owner_uri.split("@", 1)[1]
    with psycopg.connect(f"postgresql://{role}:{password}@{host}", autocommit=True) as crawler:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            crawler.execute("CREATE TABLE intruder (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            crawler.execute("DROP TABLE articles")
    return role, password


@pytest.fixture
def cluster(egg, postgres):  # noqa: F811
    """Two Scrapyd nodes with the egg deployed, and a fresh database they share through a
    least-privilege role (its URI without the password: that comes from PGPASSWORD, as
    docs/cluster.md says)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCRAPYD_", "PG"))}
    env = {**base, "SCRAPYD_USERNAME": USER, "SCRAPYD_PASSWORD": PASSWORD}
    full_uri = postgres.new_database()  # the owner's, for the test's own look into the store
    role, env["PGPASSWORD"] = least_privilege_role(full_uri)
    uri = f"postgresql://{role}@127.0.0.1:{postgres.port}/{full_uri.rsplit('/', 1)[1]}"
    roots = [Path(tempfile.mkdtemp(prefix=f"rfi-node-{n}-")) for n in "ab"]
    nodes = [Node(root, env) for root in roots]
    try:
        for node in nodes:
            wait_for(f"Scrapyd {node.name} to answer", node.ready)
            deployed = subprocess.run(
                [str(BIN / "scrapyd-deploy"), "--egg", str(egg)],
                cwd=PROJECT_ROOT,
                env=node.env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        yield nodes, uri, env, full_uri
    finally:
        for node in nodes:
            node.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    for node in nodes:  # nothing of the test outlives it
        assert node.process.poll() is not None


def rfi_schedule(env: dict[str, str], nodes: list[Node], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "rfi_crawler.schedule", *args]
    command += [arg for node in nodes for arg in ("--node", node.url)]
    return subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def settings(base_url: str, uri: str, **extra: str) -> list[str]:
    values = {**TEST_SETTINGS, "RFI_BASE_URL": base_url, "RFI_STATE_URI": uri, **extra}
    return [arg for name, value in values.items() for arg in ("-s", f"{name}={value}")]


def scheduled_on(done: subprocess.CompletedProcess, nodes: list[Node]) -> tuple[str, Node]:
    assert done.returncode == 0, done.stderr
    job = done.stdout.strip()
    where = re.search(rf"job {re.escape(job)} scheduled on node (\S+)", done.stderr)
    assert where, done.stderr
    return job, next(node for node in nodes if node.name == where.group(1))


def all_run_records(nodes: list[Node], pattern: str = "rfi_cn-*.jsonl") -> list[dict]:
    return [
        record
        for node in nodes
        for path in sorted(node.output().glob(pattern))
        for _, record in iter_records(path)
    ]


def test_hourly_crawls_alternate_and_survive_a_node_killed_mid_crawl(cluster, tmp_path):
    (a, b), uri, env, full_uri = cluster
    site = ReplicaSite(articles=60, seed=23, today=TODAY)
    with ReplicaServer(site) as replica:
        args = settings(replica.base_url, uri, RFI_FSYNC_EVERY="1")

        # Both idle and new: the first listed node; then the one that ran it least recently.
        job1, node1 = scheduled_on(rfi_schedule(env, [a, b], *args), [a, b])
        assert node1 is a
        wait_for(f"job {job1}", lambda: a.finished(job1))
        expected = {canonical(p) for p in site.expected_depths()}
        assert {r["url"] for r in a.records(job1)} == expected

        added = site.add_articles(5)
        job2, node2 = scheduled_on(rfi_schedule(env, [a, b], *args), [a, b])
        assert node2 is b  # alternates
        wait_for(f"job {job2}", lambda: b.finished(job2))
        # One store for both nodes: node b exports only what node a has not.
        assert sorted(r["url"] for r in b.records(job2)) == sorted(x.url for x in added)

        # The third crawl (on a again) hangs on one article; a dies once it exported some.
        added += site.add_articles(30)
        expected |= {canonical(p) for p in site.expected_depths()}
        gate = next(x for x in reversed(added) if x.url in expected)
        site.delays[gate.path] = 600.0
        store = open_store(full_uri, 30)
        before = store.count()
        job3, node3 = scheduled_on(rfi_schedule(env, [a, b], *args), [a, b])
        assert node3 is a
        wait_for("node a to export 10 records", lambda: store.count() >= before + 10)
        # The guard holds across nodes: b is idle, but a crawl runs on a.
        busy = rfi_schedule(env, [a, b], *args)
        assert busy.returncode == 3, busy.stderr
        assert f"already pending or running ({job3} on {a.name}" in busy.stderr
        dead_run = next(run for run in store.unfinished_runs() if run.job == job3)
        a.kill()
        wait_for("a's crawl to die", lambda: not process_alive(dead_run.pid, dead_run.pid_start))
        del site.delays[gate.path]

        # The next crawl skips the dead node, runs on b, recovers a's run, exports the rest.
        fourth = rfi_schedule(env, [a, b], *args)
        job4, node4 = scheduled_on(fourth, [a, b])
        assert node4 is b
        assert f"node {a.name} skipped: cannot reach Scrapyd" in fourth.stderr
        assert "1 of 2 nodes skipped" in fourth.stderr
        wait_for(f"job {job4}", lambda: b.finished(job4))
        log4 = b.job_log(job4)
        assert "ended (finished)" in log4, log4[-3000:]
        assert gate.url in {r["url"] for r in b.records(job4)}
        assert store.unfinished_runs() == []  # a's run recovered and closed
        store.close()

    records = all_run_records([a, b])
    counts = Counter(r["url"] for r in records)
    assert set(counts) == expected and {x.url for x in added} <= expected
    assert max(counts.values()) == 1, [url for url, n in counts.items() if n > 1]

    dataset = tmp_path / "dataset.jsonl"
    built = subprocess.run(
        [str(BIN / "rfi-dataset"), "build", str(a.output()), str(b.output()), "-o", str(dataset)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    lines = dataset.read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["url"] for line in lines) == sorted(counts)
    for node in (a, b):  # the store's password reached no log
        for log in (node.root / "logs").rglob("*.log"):
            assert env["PGPASSWORD"] not in log.read_text()


def test_a_backfill_is_split_over_both_nodes_and_exports_each_window_once(cluster):
    """Four one-year windows of ``rfi_cn_backfill`` (the archive) over the replica's past."""
    (a, b), uri, env, _full_uri = cluster
    site = ReplicaSite(articles=60, seed=29, today=PAST_TODAY, years=(2019, 2024), past_per_year=12)
    since, until = date(2020, 1, 1), date(2023, 12, 31)
    with ReplicaServer(site) as replica:
        args = [*settings(replica.base_url, uri)]
        args += ["--since", since.isoformat(), "--until", until.isoformat(), "--split", "year"]
        # As its timer would: call again until every window is done; one window per node
        # at a time (--per-node 1), so each call schedules what a finished job freed.
        jobs: dict[str, Node] = {}
        calls = 0
        while True:
            done = rfi_schedule(env, [a, b], "backfill", *args)
            calls += 1
            assert done.returncode == 0, done.stderr
            if "4 windows of rfi_cn_backfill: 4 done" in done.stdout:
                break
            new = {
                match.group(1): next(n for n in (a, b) if n.name == match.group(2))
                for match in re.finditer(r"scheduled: job (\S+) on node (\S+)", done.stdout)
            }
            assert not set(new) & set(jobs), done.stdout  # no window scheduled twice
            assert sum(node is a for node in new.values()) <= 1, done.stdout
            assert sum(node is b for node in new.values()) <= 1, done.stdout
            jobs.update(new)
            assert len(jobs) <= 4 and calls <= 8, done.stdout
            for job, node in jobs.items():
                wait_for(f"window job {job}", lambda job=job, node=node: node.finished(job))
        assert len(jobs) == 4 and Counter(jobs.values()) == {a: 2, b: 2}, jobs

    expected = site.expected_in_window(since, until)
    assert expected
    by_job = {job: node.records(job) for job, node in jobs.items()}
    counts = Counter(unquote(urlsplit(r["url"]).path) for rs in by_job.values() for r in rs)
    assert set(counts) == expected and max(counts.values()) == 1
    for job, records in by_job.items():  # each job kept to its own year
        year = int(job.split("-")[1][:4])
        window = site.expected_in_window(date(year, 1, 1), date(year, 12, 31))
        assert {unquote(urlsplit(r["url"]).path) for r in records} == window, job


def test_a_backfill_window_whose_node_died_is_retried_on_the_other_node(cluster):
    (a, b), uri, env, full_uri = cluster
    site = ReplicaSite(articles=60, seed=31, today=PAST_TODAY, years=(2019, 2024), past_per_year=24)
    first, second = (date(2020, 1, 1), date(2020, 12, 31)), (date(2021, 1, 1), date(2021, 12, 31))
    # The 2020 window (the first, so node a's) hangs on its last article until a is killed.
    gate = max(site.expected_in_window(*first), key=lambda path: site.by_path[path].published)
    site.delays[gate] = 600.0
    with ReplicaServer(site) as replica:
        args = [*settings(replica.base_url, uri, RFI_FSYNC_EVERY="1"), "--split", "year"]
        args += ["--since", first[0].isoformat(), "--until", second[1].isoformat()]
        done = rfi_schedule(env, [a, b], "backfill", *args)
        assert done.returncode == 0 and "2 scheduled" in done.stdout, done.stdout + done.stderr
        jobs = dict(re.findall(r"(\S+)\.\.\S+  scheduled: job (\S+) on node", done.stdout))
        job_a, job_b = jobs[first[0].isoformat()], jobs[second[0].isoformat()]
        assert f"{job_a} on node {a.name}" in done.stdout
        wait_for(f"window job {job_b}", lambda: b.finished(job_b))

        def exported_on_a() -> int:
            files = list(a.output().glob(f"rfi_cn-*-{job_a}.jsonl"))
            return files and len(files[0].read_bytes().splitlines())

        wait_for("node a to export 3 records of 2020", lambda: exported_on_a() >= 3)
        store = open_store(full_uri, 30)
        dead_run = next(run for run in store.unfinished_runs() if run.job == job_a)
        store.close()
        a.kill()
        wait_for("a's crawl to die", lambda: not process_alive(dead_run.pid, dead_run.pid_start))
        # Without --retry-failed, the dead window is reported, not scheduled: exit 6.
        dead = rfi_schedule(env, [a, b], "backfill", *args)
        assert dead.returncode == 6, dead.stdout + dead.stderr
        assert f"failed: job {job_a}: its run died" in dead.stdout
        del site.delays[gate]
        retry = rfi_schedule(env, [a, b], "backfill", *args, "--retry-failed")
        assert retry.returncode == 0, retry.stdout + retry.stderr
        again = re.search(r"scheduled again: job (\S+) on node (\S+)", retry.stdout)
        assert again and again.group(2) == b.name, retry.stdout
        wait_for(f"window job {again.group(1)}", lambda: b.finished(again.group(1)))
        last = rfi_schedule(env, [a, b], "backfill", *args)
        assert "2 windows of rfi_cn_backfill: 2 done" in last.stdout, last.stdout + last.stderr

    records = all_run_records([a, b])
    counts = Counter(unquote(urlsplit(r["url"]).path) for r in records)
    expected = site.expected_in_window(first[0], second[1])
    assert set(counts) == expected and max(counts.values()) == 1
    assert gate in {unquote(urlsplit(r["url"]).path) for r in b.records(again.group(1))}


def test_an_hourly_crawl_runs_beside_a_backfill_on_one_node(cluster):
    """Issue 12: a backfill runs for days as a Scrapyd job; the hourly guard does not count
    it, and a node's two slots (max_proc = 2) run both at once, sharing the store."""
    (a, _), uri, env, _full_uri = cluster
    site = ReplicaSite(articles=60, seed=31, today=PAST_TODAY, years=(2020, 2021), past_per_year=12)
    since, until = date(2020, 1, 1), date(2020, 12, 31)
    window = site.expected_in_window(since, until)
    gate = sorted(window)[0]  # the backfill hangs on this article until the hourly crawl ran
    site.delays[gate] = 90.0
    with ReplicaServer(site) as replica:
        # The gate's answer must come before the download timeout (a timeout leaves the
        # day, rightly, to the next run).
        args = settings(replica.base_url, uri, RFI_FSYNC_EVERY="1", DOWNLOAD_TIMEOUT="180")
        backfill = rfi_schedule(
            env,
            [a],
            "backfill",
            *args,
            "--since",
            str(since),
            "--until",
            str(until),
            "--split",
            "year",
        )
        assert backfill.returncode == 0, backfill.stderr
        (window_job,) = re.findall(r"scheduled: job (\S+) on node", backfill.stdout)
        wait_for("the backfill to reach its gate", lambda: replica.counts[gate] >= 1)

        hourly = rfi_schedule(env, [a], *args)
        assert hourly.returncode == 0, hourly.stderr  # not refused: a backfill is no hourly
        hourly_job = hourly.stdout.strip()
        running = {job["id"] for job in a.get("listjobs.json", project="rfi_crawler")["running"]}
        assert window_job in running  # scheduled beside a running backfill, not refused
        wait_for(f"job {hourly_job}", lambda: a.finished(hourly_job))
        assert not a.finished(window_job)  # the hourly crawl ended while the backfill ran
        assert "ended (finished)" in a.job_log(hourly_job)
        wait_for(f"job {window_job}", lambda: a.finished(window_job))
        assert "ended (finished)" in a.job_log(window_job)

    hourly_records, backfilled = a.records(hourly_job), a.records(window_job)
    assert hourly_records and backfilled
    counts = Counter(r["url"] for r in hourly_records + backfilled)
    assert max(counts.values()) == 1, [url for url, n in counts.items() if n > 1]
    exported = {unquote(urlsplit(url).path) for url in counts}
    assert window <= exported
