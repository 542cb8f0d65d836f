"""Liveness of unfinished runs: the pure decision, and the facts it is given."""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from scrapy.utils.test import get_crawler

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
)

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


def test_a_run_registers_its_owner_and_beats_until_it_closes(tmp_path):
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
    run._touch("2030-01-01T00:00:00+00:00")  # what each beat does, on its thread
    check = open_store(run.config.state_uri)
    try:
        (beating,) = check.unfinished_runs()
        assert beating.heartbeat_at == "2030-01-01T00:00:00+00:00"
        run.close("finished")
        assert not run._heartbeat.running
        assert check.unfinished_runs() == []
    finally:
        check.close()
