"""The hourly crawl over several nodes: whether one runs anywhere, and which node is next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rfi_crawler.scheduling.windows import is_backfill_job
from rfi_crawler.state.liveness import Owner, Verdict, beat_ahead, judge_run

if TYPE_CHECKING:
    from datetime import datetime

    from rfi_crawler.scheduling.scrapyd import NodeState
    from rfi_crawler.state import RunRecord, StateStore


def all_runs(store: StateStore) -> list[RunRecord]:
    """Every run in the store, the one heard from last at the end (``RunRecord.heard_at``,
    the order of ``recent_runs``)."""
    from rfi_crawler.state import COLUMNS, RunRecord

    runs = [RunRecord(**dict(zip(COLUMNS["runs"], row, strict=True))) for row in store.rows("runs")]
    return sorted(runs, key=lambda run: run.heard_at)


def run_alive(run: RunRecord, now: datetime) -> bool:
    """The crawler's own liveness verdict (state/liveness.py): a live process on this host,
    a held lock, or a fresh heartbeat from another host; ``now`` by the store's clock."""
    return judge_run(run, Owner.current(), now) is Verdict.ALIVE


def hourly_busy(
    states: list[NodeState], runs: list[RunRecord], spider: str, now: datetime
) -> list[str]:
    """The hourly crawls pending or running anywhere: jobs of ``spider`` on the nodes that
    answer, and live runs in the store (a node that does not answer may still crawl).
    Backfill jobs (their ids say so) are not hourly crawls. ``now``: the store's clock."""
    busy = [
        f"{job.get('id')} on {state.name}"
        for state in states
        for job in state.active(spider)
        if not is_backfill_job(str(job.get("id")))
    ]
    listed = {entry.split(" on ")[0] for entry in busy}
    # Jobs the nodes list under another spider (a backfill scheduled by hand) are not ours.
    listed |= {
        str(job.get("id"))
        for state in states
        for jobs in state.jobs.values()
        for job in jobs
        if isinstance(job, dict) and job.get("spider") != spider
    }
    busy += [
        f"{run.job}, run {run.run_id} on {run.host or 'this host'}"
        + (f" ({note})" if (note := beat_ahead(run, now)) else "")
        for run in runs
        if run.finish_reason is None
        and run.job
        and not is_backfill_job(run.job)
        and run.job not in listed
        and run_alive(run, now)
    ]
    return busy


def pick_order(states: list[NodeState], spider: str) -> list[NodeState]:
    """Healthy nodes, the least busy first; among equals, the one that ran ``spider`` least
    recently (so hourly crawls alternate between idle nodes), then the listed order."""

    def last_end(state: NodeState) -> str:
        return max((str(job.get("end_time") or "") for job in state.finished(spider)), default="")

    healthy = [state for state in states if state.healthy]
    return sorted(healthy, key=lambda state: (state.load, last_end(state)))
