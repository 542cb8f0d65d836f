"""Liveness of unfinished runs: the pure decision, and the facts it is given."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from scrapy.utils.test import get_crawler

from rfi_crawler.export.run_file import manifest_path
from rfi_crawler.run import CrawlRun
from rfi_crawler.spiders.rfi_cn import RfiCnSpider
from rfi_crawler.state import RunRecord, open_store
from rfi_crawler.state.liveness import (
    HEARTBEAT_SECONDS,
    LEASE_SECONDS,
    Owner,
    Verdict,
    judge,
    judge_run,
    lock_held,
    process_alive,
    process_start,
    warn_if_ahead,
)
from rfi_crawler.state.sqlite import SqliteStateStore
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)

A, D, E = Verdict.ALIVE, Verdict.DEAD, Verdict.ELSEWHERE


@pytest.mark.parametrize(
    ("lock", "here", "process", "age", "reachable", "verdict"),
    [
        # Its lock is held: alive, whatever else.
        (True, True, False, None, True, A),
        (True, False, False, 1e9, False, A),
        # This host: the process decides (a deleted lock file changes nothing).
        (False, True, True, None, True, A),
        (False, True, True, 1e9, True, A),  # alive even if the heartbeat is stuck
        (False, True, False, 0.0, True, D),  # dead at once, fresh heartbeat or not
        (False, True, False, None, False, D),  # died before writing a file: recover
        # Another host: the heartbeat's lease decides.
        (False, False, False, 0.0, False, A),
        (False, False, False, 89.0, False, A),
        (False, False, False, 90.0, True, D),  # lease expired, file on shared storage
        (False, False, False, 90.0, False, E),  # lease expired, file on its own disk
        (False, False, False, None, False, E),
        (False, False, False, -5.0, False, A),  # its clock is ahead of ours: still alive
    ],
)
def test_judge(lock, here, process, age, reachable, verdict):
    assert (
        judge(
            lock_held=lock,
            on_this_host=here,
            process_alive=process,
            heartbeat_age=age,
            lease=90.0,
            file_reachable=reachable,
        )
        is verdict
    )


def test_a_process_is_known_by_pid_and_start_time():
    me = Owner.current()
    assert me.pid == os.getpid() and me.host == socket.gethostname()
    assert me.pid_start is not None and me.pid_start == process_start(os.getpid())
    assert process_alive(me.pid, me.pid_start)
    # Same pid, another start time: a reused pid is not the run's process.
    boot, ticks = me.pid_start.rsplit(":", 1)
    assert not process_alive(me.pid, f"{boot}:{int(ticks) + 1}")
    assert not process_alive(me.pid, f"another-boot:{ticks}")


def test_a_finished_process_is_dead():
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    started = process_start(child.pid)
    assert process_alive(child.pid, started)
    child.communicate(b"")
    assert process_start(child.pid) is None
    assert not process_alive(child.pid, started)
    assert not process_alive(None, None) and not process_alive(0, None)


def test_a_lock_is_held_only_while_locked(tmp_path):
    path = tmp_path / "r.lock"
    assert not lock_held(path)  # missing
    with open(path, "w") as handle:
        assert not lock_held(path)
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert lock_held(path)
    assert not lock_held(path)


NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def run(tmp_path, **fields) -> RunRecord:
    return RunRecord(
        "r1",
        None,
        NOW.isoformat(),
        str(tmp_path / "r1.jsonl"),
        str(tmp_path / "r1.lock"),
        **fields,
    )


def test_judge_run_gathers_the_facts(tmp_path):
    me = Owner.current()
    beat = (NOW - timedelta(seconds=10)).isoformat()
    old = (NOW - timedelta(seconds=LEASE_SECONDS + 1)).isoformat()
    # This host, this live process, no lock file at all: alive.
    mine = run(tmp_path, host=me.host, pid=me.pid, pid_start=me.pid_start, heartbeat_at=old)
    assert judge_run(mine, me, NOW) is Verdict.ALIVE
    # This host, a process that is gone (this boot, another start): dead.
    boot = me.pid_start.split(":")[0]
    gone = run(tmp_path, host=me.host, pid=me.pid, pid_start=f"{boot}:1", heartbeat_at=beat)
    assert judge_run(gone, me, NOW) is Verdict.DEAD
    # This host name, another boot: a clone of this machine (a container given one
    # --hostname, a VM) whose run beats is alive; a reboot's run, silent, is dead.
    clone = {"host": me.host, "pid": me.pid, "pid_start": "another-boot:1"}
    assert judge_run(run(tmp_path, **clone, heartbeat_at=beat), me, NOW) is Verdict.ALIVE
    (tmp_path / "r1.jsonl").write_text("")
    assert judge_run(run(tmp_path, **clone, heartbeat_at=old), me, NOW) is Verdict.DEAD
    (tmp_path / "r1.jsonl").unlink()
    # Another host beating: alive; silent past the lease: left to it, or recovered here
    # once its file is reachable.
    other = {"host": "node-b", "pid": me.pid, "pid_start": me.pid_start}
    assert judge_run(run(tmp_path, **other, heartbeat_at=beat), me, NOW) is Verdict.ALIVE
    assert judge_run(run(tmp_path, **other, heartbeat_at=old), me, NOW) is Verdict.ELSEWHERE
    (tmp_path / "r1.jsonl").write_text("")
    assert judge_run(run(tmp_path, **other, heartbeat_at=old), me, NOW) is Verdict.DEAD
    # A run recorded before store version 2: its lock decides, as before.
    assert judge_run(run(tmp_path), me, NOW) is Verdict.DEAD
    with open(tmp_path / "r1.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        assert judge_run(run(tmp_path), me, NOW) is Verdict.ALIVE


def test_a_run_registers_its_owner_and_beats_until_it_closes(tmp_path, monkeypatch):
    crawler = get_crawler(RfiCnSpider, {"RFI_DATA_DIR": str(tmp_path)})
    crawler.stats.open_spider()
    run = CrawlRun(crawler)
    store = run.open()
    me = Owner.current()
    (registered,) = store.unfinished_runs()
    assert (registered.host, registered.pid, registered.pid_start) == (
        me.host,
        me.pid,
        me.pid_start,
    )
    assert registered.heartbeat_at is not None
    assert run._heartbeat.running and run._heartbeat.interval == HEARTBEAT_SECONDS
    # What each beat does, on its thread: the time is the store's clock's.
    monkeypatch.setattr(SqliteStateStore, "clock", lambda _store: datetime(2030, 1, 1, tzinfo=UTC))
    run._touch()
    check = open_store(run.config.state_uri)
    try:
        (beating,) = check.unfinished_runs()
        assert beating.heartbeat_at == "2030-01-01T00:00:00+00:00"
        run.close("finished")
        assert not run._heartbeat.running
        assert check.unfinished_runs() == []
    finally:
        check.close()


class _DayBehind(datetime):
    """A crawl host's clock a day behind the others'."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) - timedelta(days=1)


def test_heartbeats_go_by_the_stores_clock_not_the_hosts(tmp_path, state_uri, monkeypatch):  # noqa: F811
    # A run beating by its host's clock, a day behind, would look dead to every other host
    # a day long: they would release its claims and export its articles twice.
    monkeypatch.setattr("rfi_crawler.run.datetime", _DayBehind)
    crawler = get_crawler(RfiCnSpider, {"RFI_DATA_DIR": str(tmp_path), "RFI_STATE_URI": state_uri})
    crawler.stats.open_spider()
    run = CrawlRun(crawler)
    store = run.open()
    try:
        now = store.clock()
        assert now.tzinfo is not None and abs(now - datetime.now(UTC)) < timedelta(minutes=1)
        (registered,) = store.unfinished_runs()
        # As another host sees it: its lock file is not there, only the store.
        seen = dataclasses.replace(registered, lock_path=str(tmp_path / "elsewhere.lock"))
        node_b = Owner("node-b", 1, None)
        assert judge_run(seen, node_b, now) is Verdict.ALIVE
        later = now + timedelta(seconds=LEASE_SECONDS + 2)
        assert judge_run(seen, node_b, later) is not Verdict.ALIVE  # silent past the lease
        run._touch()
        (beaten,) = store.unfinished_runs()
        assert beaten.heartbeat_at >= registered.heartbeat_at
        seen = dataclasses.replace(beaten, lock_path=str(tmp_path / "elsewhere.lock"))
        assert judge_run(seen, node_b, store.clock()) is Verdict.ALIVE
    finally:
        run.close("finished")
    # Its end, too, is written by the store's clock (rfi-schedule status judges its age).
    check = open_store(state_uri)
    try:
        (ended,) = check.recent_runs(1)
        assert abs(datetime.fromisoformat(ended.finished_at) - check.clock()) < timedelta(minutes=1)
    finally:
        check.close()


class _FourHoursAhead(datetime):
    """A crawl host's clock four hours ahead of the store's."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(hours=4)


def test_a_runs_manifest_ends_by_the_clock_it_started_by(tmp_path, monkeypatch):
    """The store's end is the store's clock; the manifest's, beside its host-clock start,
    is the host's: a run never ends before it started (a card prints "start to end")."""
    monkeypatch.setattr("rfi_crawler.run.datetime", _FourHoursAhead)
    crawler = get_crawler(RfiCnSpider, {"RFI_DATA_DIR": str(tmp_path)})
    crawler.stats.open_spider()
    run = CrawlRun(crawler)
    run.open()
    run.close("finished")
    manifest = json.loads(manifest_path(run.output_path).read_text(encoding="utf-8"))
    assert manifest["started_at"] <= manifest["finished_at"]
    check = open_store(run.config.state_uri)
    try:
        (ended,) = check.recent_runs(1)
        assert abs(datetime.fromisoformat(ended.finished_at) - check.clock()) < timedelta(minutes=1)
    finally:
        check.close()


def test_a_heartbeat_ahead_of_the_stores_clock_is_said(tmp_path, caplog):
    # Written by an older release on a host whose clock ran ahead, or the store's clock
    # set back: the run counts as alive until that time (its claims are not released
    # blind), and the operator is told why articles and the hourly crawl wait.
    other = {"host": "node-b", "pid": 1, "pid_start": None}
    (tmp_path / "r1.jsonl").write_text("")
    ahead = run(tmp_path, **other, heartbeat_at=(NOW + timedelta(days=1)).isoformat())
    assert judge_run(ahead, Owner.current(), NOW) is Verdict.ALIVE
    with caplog.at_level(logging.WARNING, logger="rfi_crawler.state.liveness"):
        assert warn_if_ahead(ahead, NOW)
    assert "86400 s ahead of the state store's clock" in caplog.text
    assert "r1 of host node-b" in caplog.text
    after = NOW + timedelta(days=1, seconds=LEASE_SECONDS + 1)
    assert judge_run(ahead, Owner.current(), after) is Verdict.DEAD
    assert not warn_if_ahead(ahead, after)
    # Within a lease ahead (the seconds a heartbeat's rounding or a slow clock give): quiet.
    near = run(tmp_path, **other, heartbeat_at=(NOW + timedelta(seconds=30)).isoformat())
    caplog.clear()
    assert not warn_if_ahead(near, NOW)
    assert caplog.text == ""
