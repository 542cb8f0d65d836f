"""Backfill windows: a date range split into jobs, and what became of each window's job.

A window's jobs carry its dates in their Scrapyd job id (``backfill-20190101-20190131-…``),
which names the run in the state store's runs table: the store alone tells which window a
run belonged to and how it ended, and the hourly guard tells backfill jobs from hourly ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfi_crawler.state import RunRecord

JOB_PREFIX = "backfill-"
SPLITS = ("day", "week", "month", "year")
SUCCESS_REASONS = ("finished",)


def is_backfill_job(job: str | None) -> bool:
    return bool(job) and job.startswith(JOB_PREFIX)


@dataclass(frozen=True)
class Window:
    since: date
    until: date

    @property
    def key(self) -> str:
        return f"{self.since:%Y%m%d}-{self.until:%Y%m%d}"

    @property
    def job_prefix(self) -> str:
        return f"{JOB_PREFIX}{self.key}-"

    def new_job_id(self) -> str:
        return f"{self.job_prefix}{secrets.token_hex(3)}"

    def owns(self, job: str | None) -> bool:
        return bool(job) and job.startswith(self.job_prefix)

    def __str__(self) -> str:
        return f"{self.since.isoformat()}..{self.until.isoformat()}"


def split(since: date, until: date, unit: str) -> list[Window]:
    """Consecutive windows covering ``since``–``until`` (inclusive), cut at calendar
    boundaries (weeks start on Monday), the first and last clipped to the range."""
    if since > until:
        raise ValueError(f"--since {since} is after --until {until}")
    windows, start = [], since
    while start <= until:
        if unit == "day":
            end = start
        elif unit == "week":
            end = start + timedelta(days=6 - start.weekday())
        elif unit == "month":
            following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
            end = following - timedelta(days=1)
        elif unit == "year":
            end = date(start.year, 12, 31)
        else:
            raise ValueError(f"--split {unit!r}: expected one of {', '.join(SPLITS)}")
        windows.append(Window(start, min(end, until)))
        start = min(end, until) + timedelta(days=1)
    return windows


class State(StrEnum):
    TODO = "to schedule"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # its node does not answer and its lease runs: left alone


@dataclass(frozen=True)
class Verdict:
    state: State
    why: str
    node: str | None = None  # the node of the window's last job, when known


@dataclass(frozen=True)
class Lease:
    """A window's lease in the store: its current job, and the node it was given to."""

    job: str
    node: str

    @property
    def holder(self) -> str:
        return f"{self.job}@{self.node}"

    @classmethod
    def parse(cls, holder: str) -> Lease | None:
        job, at, node = holder.partition("@")
        return cls(job, node) if at and job.startswith(JOB_PREFIX) else None


def judge(
    window: Window,
    lease: Lease | None,
    runs: Iterable[RunRecord],
    active: dict[str, str],
    finished: dict[str, str],
    answered: set[str],
    alive: Callable[[RunRecord], bool],
) -> Verdict:
    """The state of one window, pure. ``active``/``finished``: job id → node name, from the
    nodes that answered (``answered``); ``runs``: every run in the store; ``alive``: the
    liveness verdict on an unfinished run."""
    mine = [run for run in runs if window.owns(run.job)]
    for run in mine:
        if run.finish_reason in SUCCESS_REASONS:
            return Verdict(State.DONE, f"job {run.job}: {run.finish_reason}")
    for job, node in active.items():
        if window.owns(job):
            return Verdict(State.RUNNING, f"job {job} pending or running", node)
    for run in mine:
        if run.finish_reason is None and alive(run):
            return Verdict(State.RUNNING, f"job {run.job}: run {run.run_id} alive")
    if lease is not None:
        run = next((run for run in reversed(mine) if run.job == lease.job), None)
        if run is not None:
            reason = run.finish_reason or "its run died"
            return Verdict(State.FAILED, f"job {lease.job}: {reason}", lease.node)
        if lease.node not in answered:
            return Verdict(
                State.UNKNOWN, f"job {lease.job}: node {lease.node} does not answer", lease.node
            )
        if lease.job in finished:
            why = f"job {lease.job} ended without a run (see its Scrapyd log)"
        else:
            why = f"job {lease.job} is gone from node {lease.node}"
        return Verdict(State.FAILED, why, lease.node)
    if mine:  # its lease expired: the last run says how it ended
        reason = mine[-1].finish_reason or "its run died"
        return Verdict(State.FAILED, f"job {mine[-1].job}: {reason}")
    return Verdict(State.TODO, "never scheduled")
