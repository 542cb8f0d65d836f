"""rfi-schedule over several Scrapyd nodes: healthy-node choice, skipped nodes, the hourly
guard across nodes and the shared store, backfill windows and their retries, nodes files."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from rfi_crawler import schedule
from rfi_crawler.scheduling import windows
from rfi_crawler.scheduling.hourly import all_runs
from rfi_crawler.scheduling.windows import Lease, State, Window, judge, split
from rfi_crawler.state import RunRecord, open_store
from rfi_crawler.state.liveness import Owner
from tests.crawling import PROJECT_ROOT
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)

USER, PASSWORD = "rfi", "s3cret"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class FakeNode:
    """A Scrapyd that keeps what it is given: scheduled jobs become pending."""

    def __init__(self) -> None:
        self.jobs: dict[str, list[dict]] = {"pending": [], "running": [], "finished": []}
        self.scheduled: list[dict[str, list[str]]] = []
        self.refuse = False
        self.on_schedule: Callable[[], None] = lambda: None  # run as schedule.json arrives
        self.hold = threading.Event()  # cleared: listjobs.json waits until it is set
        self.hold.set()
        self.arrived = threading.Event()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.answer(parse_qs(self.rfile.read(length).decode()))

            def answer(self, form: dict[str, list[str]]) -> None:
                endpoint = self.path.split("?")[0].lstrip("/")
                if self.headers.get("Authorization") != AUTH:
                    body: dict = {"status": "error", "message": "unauthorized"}
                elif endpoint == "daemonstatus.json":
                    with fake.lock:
                        busy = {k: len(fake.jobs[k]) for k in ("pending", "running")}
                    body = {"status": "ok", **busy, "finished": 0}
                elif endpoint == "listjobs.json":
                    fake.arrived.set()
                    fake.hold.wait(300)
                    with fake.lock:
                        body = {"status": "ok", **json.loads(json.dumps(fake.jobs))}
                elif endpoint == "schedule.json" and (fake.on_schedule() or not fake.refuse):
                    job = form.get("jobid", [f"auto{len(fake.scheduled)}"])[0]
                    with fake.lock:
                        fake.scheduled.append(form)
                        fake.jobs["pending"].append({"id": job, "spider": form["spider"][0]})
                    body = {"status": "ok", "jobid": job}
                else:
                    body = {"status": "error", "message": f"{endpoint} refused"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.up = True

    def down(self) -> None:
        """Stop answering: connections are refused from now on."""
        self.hold.set()
        if self.up:
            self.server.shutdown()
            self.server.server_close()
            self.up = False

    def finish(self, job: str) -> None:
        with self.lock:
            for state in ("pending", "running"):
                for entry in list(self.jobs[state]):
                    if entry["id"] == job:
                        self.jobs[state].remove(entry)
                        self.jobs["finished"].append({**entry, "end_time": "2026-12-06 10:00"})


@pytest.fixture
def nodes(monkeypatch):
    monkeypatch.setenv("SCRAPYD_USERNAME", USER)
    monkeypatch.setenv("SCRAPYD_PASSWORD", PASSWORD)
    monkeypatch.delenv("SCRAPYD_URL", raising=False)
    made = [FakeNode(), FakeNode()]
    yield made
    for node in made:
        node.down()


def node_args(nodes: list[FakeNode]) -> list[str]:
    return [arg for node in nodes for arg in ("--node", node.url)]


def name(node: FakeNode) -> str:
    return node.url.removeprefix("http://")


# -- Windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "unit", "expected"),
    [
        ("2019-01-01", "2020-12-31", "year", ["2019-01-01..2019-12-31", "2020-01-01..2020-12-31"]),
        ("2019-01-15", "2019-03-10", "month", [
            "2019-01-15..2019-01-31", "2019-02-01..2019-02-28", "2019-03-01..2019-03-10"]),
        ("2020-02-01", "2020-02-29", "month", ["2020-02-01..2020-02-29"]),
        ("2019-12-30", "2020-01-02", "year", ["2019-12-30..2019-12-31", "2020-01-01..2020-01-02"]),
        ("2019-12-01", "2020-01-31", "month", ["2019-12-01..2019-12-31", "2020-01-01..2020-01-31"]),
        ("2026-12-03", "2026-12-15", "week", [  # 2026-12-07 is a Monday
            "2026-12-03..2026-12-06", "2026-12-07..2026-12-13", "2026-12-14..2026-12-15"]),
        ("2026-12-05", "2026-12-06", "day", ["2026-12-05..2026-12-05", "2026-12-06..2026-12-06"]),
        ("2026-12-05", "2026-12-05", "year", ["2026-12-05..2026-12-05"]),
    ],
)  # fmt: skip
def test_windows_cover_the_range_at_calendar_boundaries(since, until, unit, expected):
    found = split(date.fromisoformat(since), date.fromisoformat(until), unit)
    assert [str(window) for window in found] == expected


def test_a_backwards_range_is_refused():
    with pytest.raises(ValueError, match="is after"):
        split(date(2020, 1, 1), date(2019, 1, 1), "month")


W = Window(date(2019, 1, 1), date(2019, 1, 31))
JOB = "backfill-20190101-20190131-aaaaaa"


def run(job: str | None, reason: str | None = None, run_id: str = "r1") -> RunRecord:
    return RunRecord(run_id, job, "2026-12-06T10:00:00+00:00", "o.jsonl", "o.lock", None, reason)


@pytest.mark.parametrize(
    ("lease", "runs", "active", "finished", "answered", "alive", "state"),
    [
        (None, [], {}, {}, {"a"}, False, State.TODO),
        (None, [run("backfill-20190101-20190228-x", "finished")], {}, {}, {"a"}, False, State.TODO),
        (Lease(JOB, "a"), [], {JOB: "a"}, {}, {"a"}, False, State.RUNNING),
        (
            None,
            [],
            {"backfill-20190101-20190131-bbbbbb": "b"},
            {},
            {"a", "b"},
            False,
            State.RUNNING,
        ),
        (Lease(JOB, "a"), [run(JOB)], {}, {}, set(), True, State.RUNNING),  # node a is down
        (Lease(JOB, "a"), [run(JOB, "finished")], {}, {JOB: "a"}, {"a"}, False, State.DONE),
        (None, [run(JOB, "finished")], {}, {}, set(), False, State.DONE),  # lease expired
        (Lease(JOB, "a"), [run(JOB, "shutdown")], {}, {JOB: "a"}, {"a"}, False, State.FAILED),
        (Lease(JOB, "a"), [run(JOB)], {}, {}, {"b"}, False, State.FAILED),  # died, a down
        (Lease(JOB, "a"), [], {}, {JOB: "a"}, {"a"}, False, State.FAILED),  # no run at all
        (Lease(JOB, "a"), [], {}, {}, {"a"}, False, State.FAILED),  # gone from its node
        (Lease(JOB, "a"), [], {}, {}, {"b"}, False, State.UNKNOWN),  # a does not answer
        (None, [run(JOB, "blocked")], {}, {}, {"a"}, False, State.FAILED),
        (None, [run(JOB)], {}, {}, {"a"}, False, State.FAILED),  # died, lease expired
    ],
)
def test_a_window_state_from_leases_jobs_and_runs(
    lease, runs, active, finished, answered, alive, state
):
    verdict = judge(W, lease, runs, active, finished, answered, lambda _run: alive)
    assert verdict.state is state, verdict


def test_a_lease_holder_names_job_and_node():
    assert Lease.parse(Lease(JOB, "lab:6800").holder) == Lease(JOB, "lab:6800")
    assert Lease.parse("host:123") is None  # the scheduler's own lease, not a window's
    assert windows.is_backfill_job(W.new_job_id()) and W.owns(W.new_job_id())
    assert not windows.is_backfill_job("3f2c1e") and not windows.is_backfill_job(None)


# -- The hourly crawl over several nodes -------------------------------------------------------


def test_the_hourly_crawl_goes_to_a_healthy_idle_node(nodes, tmp_path, capsys):
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    a, b = nodes
    b.jobs["running"].append({"id": "other", "spider": "another_spider"})  # b is busier
    assert schedule.main([*node_args(nodes), *data]) == schedule.SCHEDULED
    assert len(a.scheduled) == 1 and not b.scheduled
    assert capsys.readouterr().out.strip() == "auto0"
    # The job runs on a: no second hourly crawl, wherever it would go.
    assert schedule.main([*node_args(nodes), *data]) == schedule.OVERLAP
    assert f"already pending or running (auto0 on {name(a)})" in capsys.readouterr().err
    a.finish("auto0")
    b.jobs["running"].clear()
    # Both idle now: b, which ran the spider least recently, gets the next one.
    assert schedule.main([*node_args(nodes), *data]) == schedule.SCHEDULED
    assert len(b.scheduled) == 1 and len(a.scheduled) == 1


def test_a_node_that_does_not_answer_is_skipped_and_counted(nodes, tmp_path, capsys):
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    a, b = nodes
    a.down()
    assert schedule.main([*node_args(nodes), *data]) == schedule.SCHEDULED
    err = capsys.readouterr().err
    assert f"node {name(a)} skipped: cannot reach Scrapyd" in err
    assert "1 of 2 nodes skipped" in err and len(b.scheduled) == 1
    b.down()
    assert schedule.main([*node_args(nodes), *data]) == schedule.UNREACHABLE
    assert "no Scrapyd node answers" in capsys.readouterr().err


def test_a_node_that_refuses_the_job_hands_it_to_the_next(nodes, tmp_path, capsys):
    a, b = nodes
    a.refuse = True
    assert schedule.main([*node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]) == 0
    assert f"node {name(a)} skipped: Scrapyd refused schedule.json" in (capsys.readouterr().err)
    assert len(b.scheduled) == 1
    b.refuse = True
    b.finish("auto0")
    assert schedule.main([*node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]) == 4


def test_a_live_run_in_the_shared_store_blocks_the_hourly_crawl(nodes, tmp_path, capsys):
    """Its node may not answer (the crawl outlives a dead Scrapyd): the store knows."""
    store = open_store(str(tmp_path / "state.sqlite3"))
    me = Owner.current()
    now = datetime.now(UTC).isoformat()
    alive = RunRecord("r-live", "j1", now, "o", str(tmp_path / "l"), None, None, me.host,
                      me.pid, me.pid_start, now)  # fmt: skip
    store.begin_run(alive)
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main([*node_args(nodes), *data]) == schedule.OVERLAP
    assert "j1, run r-live on" in capsys.readouterr().err
    # Dead (no such process here), or a backfill's run: not an hourly crawl running.
    store.finish_run("r-live", now, "finished")
    boot = me.pid_start.split(":")[0]  # this boot: another boot's run is judged by its beat
    dead = RunRecord("r-dead", "j2", now, "o", str(tmp_path / "l2"), None, None, me.host,
                     2**22 + 7, f"{boot}:1", now)  # fmt: skip
    store.begin_run(dead)
    backfill = RunRecord("r-bf", W.new_job_id(), now, "o", str(tmp_path / "l3"), None, None,
                         me.host, me.pid, me.pid_start, now)  # fmt: skip
    store.begin_run(backfill)
    by_hand = RunRecord("r-hand", "f00d", now, "o", str(tmp_path / "l4"), None, None,
                        me.host, me.pid, me.pid_start, now)  # fmt: skip
    store.begin_run(by_hand)  # a backfill job scheduled by hand, listed under its spider
    nodes[1].jobs["running"].append({"id": "f00d", "spider": "rfi_cn_backfill"})
    store.close()
    assert schedule.main([*node_args(nodes), *data]) == schedule.SCHEDULED


def test_a_heartbeat_ahead_of_the_stores_clock_holds_the_hourly_crawl_and_says_so(
    nodes, tmp_path, capsys
):
    """Another host's run, silent, whose last beat is a day ahead (an older release on a
    host whose clock ran ahead): alive until then, and the operator is told why."""
    store = open_store(str(tmp_path / "state.sqlite3"))
    now = datetime.now(UTC)
    (tmp_path / "o").write_text("")  # its file is reachable: only the heartbeat holds it
    beat = (now + timedelta(days=1)).isoformat(timespec="seconds")
    ahead = RunRecord("r-ahead", "j1", now.isoformat(), str(tmp_path / "o"),
                      str(tmp_path / "l"), None, None, "node-b", 1, None, beat)  # fmt: skip
    store.begin_run(ahead)
    store.close()
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main([*node_args(nodes), *data]) == schedule.OVERLAP
    err = capsys.readouterr().err
    said = r"j1, run r-ahead on node-b \(run r-ahead of host node-b beat at \S+, 86[34]\d\d s"
    assert re.search(said + r" ahead of the state store's clock", err), err


def _lease_taken_by_another(store_path: Path, name: str) -> Callable[[], None]:
    """What a slow pass meets: its lease ran out, and another rfi-schedule took it."""

    def take() -> None:
        store = open_store(str(store_path))
        try:
            store.release_lease(name, schedule.holder_name())
            assert store.acquire_lease(name, "node-c:1", 600, store.clock().timestamp())
        finally:
            store.close()

    return take


def test_an_hourly_pass_that_lost_its_lease_stops_before_its_next_call(nodes, tmp_path, capsys):
    """The lease is renewed before each call to a node: a pass that outlasted it, whose
    lease another scheduler took meanwhile, asks no further node (the other may be
    scheduling the same crawl)."""
    a, b = nodes
    a.refuse = True  # the first node asked says no: the pass goes on to b
    a.on_schedule = _lease_taken_by_another(
        tmp_path / "state.sqlite3", "schedule:rfi_crawler/rfi_cn"
    )
    assert schedule.main([*node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]) == schedule.OVERLAP
    assert b.scheduled == []
    assert (
        "rfi-schedule: stopped: the lease schedule:rfi_crawler/rfi_cn ran out and another"
        " rfi-schedule took it; the jobs scheduled before stand"
    ) in capsys.readouterr().err
    # Not given up by the stopped pass: the other scheduler holds it still.
    store = open_store(str(tmp_path / "state.sqlite3"))
    assert [row[:2] for row in store.rows("leases")] == [
        ("schedule:rfi_crawler/rfi_cn", "node-c:1")
    ]
    store.close()


def test_a_backfill_pass_that_lost_its_lease_stops_before_its_next_window(nodes, tmp_path, capsys):
    a, b = nodes
    b.down()  # one node: every window goes to a, in turn
    args = ["backfill", *node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}", "--per-node", "9"]
    args += ["--since", "2019-01-01", "--until", "2019-03-31"]
    calls = []

    def second_call_loses() -> None:
        calls.append(1)
        if len(calls) == 2:
            _lease_taken_by_another(tmp_path / "state.sqlite3", "schedule:rfi_crawler/backfill")()

    a.on_schedule = second_call_loses
    assert schedule.main(args) == schedule.OVERLAP
    assert [form["since"] for form in a.scheduled] == [["2019-01-01"], ["2019-02-01"]]
    assert "another rfi-schedule took it" in capsys.readouterr().err


def test_a_windows_last_run_is_the_one_that_ended_last_whatever_its_hosts_clock(tmp_path):
    """The failed window's reason names its latest run: the retry, though the first try ran
    on a node whose clock was hours ahead (its start sorts later)."""
    store = open_store(str(tmp_path / "state.sqlite3"))
    first, retry = W.new_job_id(), W.new_job_id()
    ahead = RunRecord("r-first", first, "2026-12-07T20:00:00+00:00", "o", "l")
    store.begin_run(ahead)
    store.finish_run("r-first", "2026-12-07T10:00:00+00:00", "blocked")
    store.begin_run(RunRecord("r-retry", retry, "2026-12-07T11:00:00+00:00", "o", "l"))
    store.finish_run("r-retry", "2026-12-07T11:30:00+00:00", "unreachable")
    runs = all_runs(store)
    store.close()
    assert [run.run_id for run in runs] == ["r-first", "r-retry"]
    verdict = judge(W, None, runs, {}, {}, set(), lambda _run: False)
    assert verdict == windows.Verdict(State.FAILED, f"job {retry}: unreachable")


def test_backfill_jobs_do_not_count_as_hourly_crawls_and_vice_versa(nodes, tmp_path, capsys):
    a, b = nodes
    a.jobs["running"].append({"id": W.new_job_id(), "spider": "rfi_cn"})  # a backfill window
    a.jobs["running"].append({"id": "x", "spider": "rfi_cn_backfill"})
    data = ["-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main([*node_args(nodes), *data]) == schedule.SCHEDULED
    assert len(b.scheduled) == 1  # a is busier
    args = ["backfill", *node_args(nodes), *data, "--since", "2019-01-01", "--until", "2019-01-31"]
    assert schedule.main(args) == schedule.SCHEDULED  # the hourly job on b is no window's
    assert "1 scheduled" in capsys.readouterr().out


# -- Backfill ---------------------------------------------------------------------------------


def test_a_backfill_spreads_windows_and_never_runs_one_twice(nodes, state_uri, capsys):  # noqa: F811
    a, b = nodes
    store_args = ["-s", f"RFI_STATE_URI={state_uri}"]
    args = ["backfill", *node_args(nodes), *store_args, "--since", "2019-01-01"]
    args += ["--until", "2019-04-30", "--split", "month", "--per-node", "2"]
    assert schedule.main(args) == schedule.SCHEDULED
    assert "4 windows of rfi_cn_backfill: 4 scheduled" in capsys.readouterr().out
    assert len(a.scheduled) == len(b.scheduled) == 2
    forms = a.scheduled + b.scheduled
    assert sorted((f["since"][0], f["until"][0]) for f in forms) == [
        ("2019-01-01", "2019-01-31"),
        ("2019-02-01", "2019-02-28"),
        ("2019-03-01", "2019-03-31"),
        ("2019-04-01", "2019-04-30"),
    ]
    assert {f["spider"][0] for f in forms} == {"rfi_cn_backfill"}
    jobs = {f["since"][0]: (f["jobid"][0], node) for node, fs in
            ((a, a.scheduled), (b, b.scheduled)) for f in fs}  # fmt: skip
    for since, (job, _node) in jobs.items():
        assert job.startswith(f"backfill-{since.replace('-', '')}-")

    # Again, while they are pending: nothing is scheduled twice.
    assert schedule.main(args) == schedule.SCHEDULED
    assert "4 windows of rfi_cn_backfill: 4 running" in capsys.readouterr().out
    assert len(a.scheduled) + len(b.scheduled) == 4

    # January finished, February failed, March's job vanished with no run, April runs on.
    store = open_store(state_uri)
    for since, reason in (("2019-01-01", "finished"), ("2019-02-01", "shutdown")):
        job, node = jobs[since]
        store.begin_run(RunRecord(f"r-{since}", job, "2026-12-06T10:00:00+00:00", "o", "l"))
        store.finish_run(f"r-{since}", "2026-12-06T11:00:00+00:00", reason)
        node.finish(job)
    march_job, march_node = jobs["2019-03-01"]
    with march_node.lock:
        march_node.jobs["pending"] = [j for j in march_node.jobs["pending"] if j["id"] != march_job]
    store.close()
    assert schedule.main(args) == schedule.WINDOWS_FAILED
    out, err = capsys.readouterr()
    assert "1 done, 2 failed, 1 running" in out and "with --retry-failed" in err
    assert "job " + jobs["2019-02-01"][0] + ": shutdown" in out

    assert schedule.main([*args, "--retry-failed"]) == schedule.SCHEDULED
    out = capsys.readouterr().out
    assert "1 done, 1 running, 2 scheduled" in out
    retried = {f["since"][0]: node for node in (a, b) for f in node.scheduled[-1:]}
    for since in ("2019-02-01", "2019-03-01"):
        failed_on = jobs[since][1]
        assert any(f["since"][0] == since for f in (a if failed_on is b else b).scheduled), since
    assert len(a.scheduled) + len(b.scheduled) == 6 and retried
    assert schedule.main(args) == schedule.SCHEDULED
    assert "1 done, 3 running" in capsys.readouterr().out


def test_windows_wait_while_every_node_has_its_share_of_backfill_jobs(nodes, tmp_path, capsys):
    """One backfill job per node by default: the other Scrapyd slot is the hourly crawl's."""
    a, b = nodes
    args = ["backfill", *node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]
    args += ["--since", "2019-01-01", "--until", "2019-03-31"]
    a.jobs["running"].append({"id": "hourly", "spider": "rfi_cn"})  # not a backfill job
    assert schedule.main(args) == schedule.SCHEDULED
    out, err = capsys.readouterr()
    assert "3 windows of rfi_cn_backfill: 2 scheduled, 1 waiting" in out
    assert "1 windows wait for a node with fewer than 1 backfill jobs" in err
    assert len(a.scheduled) == len(b.scheduled) == 1
    assert schedule.main(args) == schedule.SCHEDULED  # nothing finished: still waiting
    assert "2 running, 1 waiting" in capsys.readouterr().out
    b.finish(b.scheduled[0]["jobid"][0])
    assert schedule.main(args) == schedule.WINDOWS_FAILED  # finished without a run: failed
    # b is free again: the waiting window goes there.
    assert "1 failed, 1 running, 1 scheduled" in capsys.readouterr().out
    assert len(b.scheduled) == 2
    assert schedule.main([*args, "--retry-failed"]) == schedule.SCHEDULED
    assert "2 running, 1 waiting" in capsys.readouterr().out  # the retry waits its turn
    a.finish(a.scheduled[0]["jobid"][0])  # January ends without a run too
    assert schedule.main([*args, "--retry-failed"]) == schedule.SCHEDULED
    out = capsys.readouterr().out  # windows in order: January first, on the only free node
    assert "2019-01-31  scheduled again" in out and "1 running, 1 scheduled, 1 waiting" in out
    assert len(a.scheduled) == 2 and a.scheduled[1]["since"] == ["2019-01-01"]


def test_a_backfill_window_on_a_silent_node_is_left_alone(nodes, tmp_path, capsys):
    a, b = nodes
    args = ["backfill", *node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]
    args += ["--since", "2019-01-01", "--until", "2019-02-28"]
    assert schedule.main(args) == 0
    a.down()
    assert schedule.main([*args, "--retry-failed"]) == schedule.SCHEDULED
    out = capsys.readouterr().out
    assert "unknown: job backfill-2019" in out and f"node {name(a)} does not answer" in out
    assert len(b.scheduled) == 1  # its own window, still pending there
    assert schedule.main([*args, "--dry-run"]) == 0
    b.down()
    assert schedule.main(args) == schedule.SCHEDULED  # both unknown: nothing to do, and said
    assert "2 unknown" in capsys.readouterr().out


def test_a_dry_run_schedules_nothing(nodes, tmp_path, capsys):
    args = ["backfill", *node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}", "--dry-run"]
    assert schedule.main([*args, "--since", "2019-01-01", "--until", "2020-12-31"]) == 0
    assert "24 windows of rfi_cn_backfill: 24 to schedule" in capsys.readouterr().out
    assert not nodes[0].scheduled and not nodes[1].scheduled


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2020-01-01", "--until", "2019-01-01"], "is after --until"),
        (["--since", "2019-13-01", "--until", "2020-01-01"], "expected a date such as"),
        (["--since", "2019-01-01", "--until", "2020-01-01", "--split", "hour"], "invalid choice"),
        (["--since", "1990-01-01", "--until", "2020-01-01", "--split", "day"], "at most 1000"),
        (["--since", "2019-01-01"], "--until"),
    ],
)
def test_backfill_usage_errors(args, message, tmp_path, capsys):
    assert schedule.main(["backfill", "-s", f"RFI_DATA_DIR={tmp_path}", *args]) == 2
    assert message in capsys.readouterr().err


# -- Nodes files, credentials, status -----------------------------------------------------------


def test_a_nodes_file_names_nodes_and_their_password_variables(
    nodes, tmp_path, monkeypatch, capsys
):
    a, b = nodes
    (tmp_path / "nodes.toml").write_text(
        f'[[node]]\nname = "lab"\nurl = "{a.url}"\n'
        f'[[node]]\nname = "vm"\nurl = "{b.url}"\npassword_env = "VM_PASSWORD"\n'
    )
    a.down()
    monkeypatch.setenv("VM_PASSWORD", "wrong")
    args = ["--nodes", str(tmp_path / "nodes.toml"), "-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main(args) == schedule.UNREACHABLE
    err = capsys.readouterr().err
    assert (
        "node lab skipped: cannot reach" in err
        and "node vm skipped: Scrapyd refused daemonstatus.json" in err
    )
    assert "wrong" not in err and PASSWORD not in err
    monkeypatch.setenv("VM_PASSWORD", PASSWORD)
    assert schedule.main(args) == schedule.SCHEDULED and len(b.scheduled) == 1
    monkeypatch.setenv("VM_PASSWORD", "")
    assert schedule.main(args) == schedule.USAGE
    assert "VM_PASSWORD is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected one or more [[node]] tables"),
        ('[[node]]\nurl = "http://a:1"\npassword = "x"\n', "unknown key 'password'"),
        ('[[node]]\nurl = "http://u:p@a:1"\n', "credentials in the URL are not accepted"),
        ('[[node]]\nurl = "ftp://a"\n', "expected http(s)://host:port"),
        ('[[node]]\nurl = "http://a:1"\n[[node]]\nurl = "http://a:1"\n', "listed twice"),
        ('[[node]]\nurl = "http://a:1"\npassword_env = "$(id)"\n', "must name an environment"),
        ('[[node]]\nurl = "http://a:1"\nname = "../x y"\n', "is not accepted"),
        ("[[node]\n", "not TOML"),
    ],
)
def test_bad_nodes_files_are_one_line_usage_errors(text, message, tmp_path, capsys):
    (tmp_path / "nodes.toml").write_text(text)
    args = ["--nodes", str(tmp_path / "nodes.toml"), "-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main(args) == schedule.USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert "p@a" not in err


def test_credentials_in_a_node_url_are_refused(tmp_path, capsys):
    args = ["--node", "http://rfi:secret@127.0.0.1:6800", "-s", f"RFI_DATA_DIR={tmp_path}"]
    assert schedule.main(args) == schedule.USAGE
    err = capsys.readouterr().err
    assert "credentials in the URL are not accepted" in err and "secret" not in err


def test_status_covers_every_node(nodes, tmp_path, capsys):
    store = open_store(str(tmp_path / "state.sqlite3"))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.begin_run(RunRecord("r1", "j1", now, str(tmp_path / "o.jsonl"), "l"))
    store.finish_run("r1", now, "finished")
    store.close()
    a, b = nodes
    a.jobs["running"].append({"id": "j2", "spider": "rfi_cn"})
    args = ["status", "-s", f"RFI_DATA_DIR={tmp_path}", *node_args(nodes)]
    assert schedule.main(args) == schedule.SCHEDULED
    out = capsys.readouterr().out
    assert f"{name(a)}  {a.url}  ok: 1 running, 0 pending" in out
    assert f"{name(b)}  {b.url}  ok: 0 running, 0 pending" in out
    b.down()
    assert schedule.main(args) == schedule.UNREACHABLE
    captured = capsys.readouterr()
    assert f"{name(b)}  {b.url}  NOT ANSWERING" in captured.out
    assert "1 of 2 nodes do not answer" in captured.err


def test_a_successful_backfill_window_does_not_make_status_look_healthy(tmp_path, capsys):
    store = open_store(str(tmp_path / "state.sqlite3"))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.begin_run(RunRecord("r1", W.new_job_id(), now, str(tmp_path / "o.jsonl"), "l"))
    store.finish_run("r1", now, "finished")
    store.close()
    assert schedule.main(["status", "-s", f"RFI_DATA_DIR={tmp_path}"]) == schedule.STALE


def test_no_node_listed_means_scrapyd_url(nodes, tmp_path, monkeypatch):
    monkeypatch.setenv("SCRAPYD_URL", nodes[1].url)
    assert schedule.main(["-s", f"RFI_DATA_DIR={tmp_path}"]) == schedule.SCHEDULED
    assert len(nodes[1].scheduled) == 1
    assert os.environ["SCRAPYD_URL"] == nodes[1].url


def test_the_example_nodes_file_parses():
    from rfi_crawler.scheduling.nodes import from_file

    found = from_file(PROJECT_ROOT / "deploy" / "nodes.toml")
    assert [(n.name, n.password_env) for n in found] == [
        ("lab", "SCRAPYD_PASSWORD"),
        ("vm", "SCRAPYD_PASSWORD_VM"),
    ]


def test_a_node_has_a_slot_for_the_hourly_crawl_beside_its_backfill_jobs():
    conf = (PROJECT_ROOT / "deploy" / "scrapyd.conf").read_text()
    max_proc = int(re.search(r"^max_proc\s*=\s*(\d+)", conf, re.MULTILINE).group(1))
    per_node = schedule._parser().parse_args(["backfill", "--since", "2019-01-01",
                                              "--until", "2019-01-02"]).per_node  # fmt: skip
    assert per_node + 1 == max_proc == 2


def test_backfill_schedulers_at_once_never_schedule_a_window_twice(nodes, state_uri):  # noqa: F811
    """While one backfill scheduler asks the nodes, a second waits for its lease (bounded)
    and gives up with 3; the first schedules each window once."""
    a = nodes[0]
    args = ["backfill", *node_args(nodes), "-s", f"RFI_STATE_URI={state_uri}", "--per-node", "9"]
    args += ["--since", "2019-01-01", "--until", "2019-12-31"]
    environ = {**os.environ, "SCRAPYD_USERNAME": USER, "SCRAPYD_PASSWORD": PASSWORD}
    command = [sys.executable, "-m", "rfi_crawler.schedule", *args]
    a.hold.clear()
    first = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert a.arrived.wait(120), "the first scheduler never asked node a"
        second = subprocess.run(
            [*command, "--wait", "1s"],
            cwd=PROJECT_ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == schedule.OVERLAP, second.stderr
        assert "held the lease schedule:rfi_crawler/backfill" in second.stderr
    finally:
        a.hold.set()
        _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    windows = sorted(f["since"][0] for node in nodes for f in node.scheduled)
    assert windows == [f"2019-{month:02d}-01" for month in range(1, 13)]  # each once
    assert sorted(len(node.scheduled) for node in nodes) == [6, 6]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("node = [1]", "node 1: expected a [[node]] table, not 1"),
        ('[[node]]\nurl = "http://h:99999"', "url 'http://h:99999' is not accepted"),
    ],
)
def test_a_nodes_file_it_cannot_use_is_one_line(tmp_path, text, said):
    from rfi_crawler.scheduling.nodes import NodeError, from_file

    path = tmp_path / "nodes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NodeError, match=re.escape(said)):
        from_file(path)


def test_a_pass_whose_lease_another_scheduler_took_and_gave_back_stops_too(nodes, tmp_path, capsys):
    """The other scheduler took the run-out lease, scheduled its crawl and released the
    lease before this pass renewed: the row is gone, not this pass's any more. Renewing
    it then would start a second hourly crawl beside the other's."""
    a, b = nodes
    a.refuse = True
    name = "schedule:rfi_crawler/rfi_cn"
    took = _lease_taken_by_another(tmp_path / "state.sqlite3", name)

    def take_schedule_and_release() -> None:
        took()
        store = open_store(str(tmp_path / "state.sqlite3"))
        try:
            store.release_lease(name, "node-c:1")  # its pass done, its job pending
        finally:
            store.close()

    a.on_schedule = take_schedule_and_release
    assert schedule.main([*node_args(nodes), "-s", f"RFI_DATA_DIR={tmp_path}"]) == schedule.OVERLAP
    assert b.scheduled == []
    assert "another rfi-schedule took it" in capsys.readouterr().err
