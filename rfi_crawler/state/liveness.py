"""Is an unfinished run still alive? Decided from facts no one can delete by accident.

A run records in the store who runs it: host name, pid, and the process's start time
(``/proc/<pid>/stat``, with the boot id, so that a reused pid or a reboot is not taken for the
run), and beats a heartbeat into the store. A run is alive if its lock file is locked, OR it
runs on this host and its process (pid + start time) lives, OR it runs on another host and
its heartbeat is younger than the lease. A dead run on another host whose file this host
cannot read is left to its own host: releasing its claims blind would export them twice.
Heartbeats are written and judged by the store's clock (``StateStore.clock``), so the
hosts' clocks need not agree.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfi_crawler.state import RunRecord

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
# Three missed heartbeats (a beat may wait on a busy store) before another host may judge.
LEASE_SECONDS = 3 * HEARTBEAT_SECONDS


class Verdict(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"  # recover it here
    ELSEWHERE = "elsewhere"  # dead, but its output file is on another host: leave it there


def judge(
    *,
    lock_held: bool,
    on_this_host: bool,
    process_alive: bool,
    heartbeat_age: float | None,
    lease: float,
    file_reachable: bool,
) -> Verdict:
    """The whole decision, pure. ``heartbeat_age``: seconds since the last heartbeat (None:
    never beat, a run registered before heartbeats existed)."""
    if lock_held:
        return Verdict.ALIVE
    if on_this_host:
        return Verdict.ALIVE if process_alive else Verdict.DEAD
    if heartbeat_age is not None and heartbeat_age < lease:
        return Verdict.ALIVE
    return Verdict.DEAD if file_reachable else Verdict.ELSEWHERE


@dataclass(frozen=True)
class Owner:
    """What identifies a live crawl process."""

    host: str
    pid: int
    pid_start: str | None

    @classmethod
    def current(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), process_start(os.getpid()))


def process_start(pid: int) -> str | None:
    """``<boot id>:<start time in clock ticks since boot>`` of a live process; None if there
    is no such process or the system has no /proc (then only the pid can be checked)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None  # field 22, starttime


def process_alive(pid: int | None, pid_start: str | None) -> bool:
    """Is the process that recorded (pid, pid_start) still running on this host?"""
    if not pid or pid < 0:
        return False
    if pid_start is not None:
        return process_start(pid) == pid_start
    try:  # no start time recorded (no /proc there): the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _boot(pid_start: str | None) -> str | None:
    """The boot id of a ``process_start`` value."""
    return pid_start.split(":", 1)[0] if pid_start else None


def lock_held(lock_path: Path) -> bool:
    """A run holds an exclusive flock on its lock file while it lives; the kernel drops it
    when the process dies, whatever killed it. A missing file proves nothing either way."""
    try:
        handle = open(lock_path)  # noqa: SIM115
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def judge_run(run: RunRecord, here: Owner, now: datetime, lease: float = LEASE_SECONDS) -> Verdict:
    """Gather the facts about a run recorded in the store, then ``judge``; ``now`` by the
    store's clock (``StateStore.clock``), which heartbeats are written by. Runs recorded
    before store version 2 (no host) were local SQLite runs: their lock decides."""
    # One host name, another boot: a reboot (the run is dead) or a clone of this machine
    # (a container, a VM) whose run may live; only its heartbeat can tell.
    on_this_host = run.host is None or (
        run.host == here.host and _boot(run.pid_start) in (None, _boot(here.pid_start))
    )
    seconds_ahead = ahead(run, now)
    heartbeat_age = None if seconds_ahead is None else -seconds_ahead
    return judge(
        lock_held=lock_held(Path(run.lock_path)),
        on_this_host=on_this_host,
        process_alive=on_this_host and process_alive(run.pid, run.pid_start),
        heartbeat_age=heartbeat_age,
        lease=lease,
        file_reachable=Path(run.output_path).exists(),
    )


def ahead(run: RunRecord, now: datetime) -> float | None:
    """Seconds the run's last heartbeat is ahead of ``now`` (negative: its age); None if
    it never beat."""
    if not run.heartbeat_at:
        return None
    return (datetime.fromisoformat(run.heartbeat_at) - now).total_seconds()


def beat_ahead(run: RunRecord, now: datetime, lease: float = LEASE_SECONDS) -> str | None:
    """What to say of a heartbeat more than a lease ahead of the store's clock (else None):
    the run counts as alive until its heartbeat's time has passed (releasing its claims
    sooner could export them twice), which may hold its articles and the hourly crawl back."""
    seconds = ahead(run, now)
    if seconds is None or seconds <= lease:
        return None
    return (
        f"run {run.run_id} of host {run.host} beat at {run.heartbeat_at}, {seconds:.0f} s"
        f" ahead of the state store's clock ({now.isoformat(timespec='seconds')}): an older"
        " release beating by a host's fast clock, or the store's clock set back; it counts"
        " as alive until then"
    )


def warn_if_ahead(run: RunRecord, now: datetime, lease: float = LEASE_SECONDS) -> bool:
    """Log ``beat_ahead``'s words, if any; True if so."""
    said = beat_ahead(run, now, lease)
    if said is not None:
        logger.warning("%s", said)
    return said is not None
