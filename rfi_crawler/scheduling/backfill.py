"""``rfi-schedule backfill``: one job per window, spread over the healthy nodes, each
window's job held in a lease of the shared store so that no window runs twice at once."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from rfi_crawler.scheduling.scrapyd import NodeState, ScrapydError
from rfi_crawler.scheduling.windows import (
    Lease,
    State,
    Verdict,
    Window,
    is_backfill_job,
    judge,
)

if TYPE_CHECKING:
    from rfi_crawler.state import RunRecord, StateStore

LEASE_KIND = "backfill"
# Exit statuses, as in rfi_crawler/schedule.py.
SCHEDULED, UNREACHABLE, WINDOWS_FAILED = 0, 4, 6


def lease_name(project: str, window: Window) -> str:
    return f"backfill:{project}/{window.key}"


class Backfill:
    def __init__(self, store: StateStore, project: str, spider: str, settings: list[str]) -> None:
        self.store, self.project, self.spider, self.settings = store, project, spider, settings

    def leases(self, now: float) -> dict[str, Lease]:
        """The windows' unexpired leases, by lease name."""
        found = {}
        for name, holder, kind, _acquired, expires in self.store.rows("leases"):
            lease = Lease.parse(holder)
            if kind == LEASE_KIND and expires > now and lease is not None:
                found[name] = lease
        return found

    def run(
        self,
        windows: list[Window],
        states: list[NodeState],
        runs: list[RunRecord],
        *,
        retry_failed: bool,
        dry_run: bool,
        window_ttl: float,
        alive: Callable[[RunRecord], bool],
        per_node: int = 1,
        clock: Callable[[], float] = time.time,
        before_call: Callable[[], None] = lambda: None,
    ) -> int:
        """Schedule the windows that want a job; ``before_call`` runs before each call to a
        node (the scheduler's lease renewed)."""
        healthy = [state for state in states if state.healthy]
        answered = {state.name for state in healthy}
        active = {
            str(job.get("id")): state.name for state in healthy for job in state.active(self.spider)
        }
        finished = {
            str(job.get("id")): state.name
            for state in healthy
            for job in state.finished(self.spider)
        }
        leases = self.leases(clock())
        # Backfill jobs pending or running on each node, and those this call adds.
        planned = Counter(
            {
                state.name: sum(
                    is_backfill_job(str(job.get("id"))) for job in state.active(self.spider)
                )
                for state in healthy
            }
        )
        tally: Counter[str] = Counter()
        for window in windows:
            lease = leases.get(lease_name(self.project, window))
            verdict = judge(window, lease, runs, active, finished, answered, alive)
            wanted = verdict.state is State.TODO or (verdict.state is State.FAILED and retry_failed)
            if not wanted or dry_run:
                tally[verdict.state] += 1
                self.say(window, verdict.state, verdict.why)
                continue
            free = [state for state in healthy if planned[state.name] < per_node]
            if not free:
                tally["waiting"] += 1
                self.say(window, "waiting", f"every node has {per_node} backfill jobs")
                continue
            job = self.schedule(
                window, verdict, lease, free, planned, window_ttl, clock, before_call
            )
            if job is None:
                tally["unscheduled"] += 1
                self.say(window, "not scheduled", f"no node accepted it ({verdict.why})")
            else:
                tally["scheduled"] += 1
                again = " again" if verdict.state is State.FAILED else ""
                self.say(window, "scheduled" + again, f"job {job[0]} on node {job[1]}")
        summary = ", ".join(f"{count} {state}" for state, count in sorted(tally.items()))
        print(f"{len(windows)} windows of {self.spider}: {summary}")
        if tally["waiting"]:
            print(
                f"rfi-schedule: {tally['waiting']} windows wait for a node with fewer than "
                f"{per_node} backfill jobs: run rfi-schedule backfill again later (its timer does)",
                file=sys.stderr,
            )
        if tally["unscheduled"]:
            return UNREACHABLE
        if tally[State.FAILED]:
            print(
                f"rfi-schedule: {tally[State.FAILED]} windows failed; schedule them again "
                "with --retry-failed",
                file=sys.stderr,
            )
            return WINDOWS_FAILED
        return SCHEDULED

    def schedule(
        self,
        window: Window,
        verdict: Verdict,
        lease: Lease | None,
        healthy: list[NodeState],
        planned: Counter[str],
        window_ttl: float,
        clock: Callable[[], float],
        before_call: Callable[[], None],
    ) -> tuple[str, str] | None:
        """Give the window a new job on the least loaded node that accepts it (a failed
        window's own node last); (job id, node name), or None."""
        name = lease_name(self.project, window)
        order = sorted(healthy, key=lambda state: (state.name == verdict.node, planned[state.name]))
        for state in order:
            before_call()
            new = Lease(window.new_job_id(), state.name)
            if lease is not None:
                self.store.release_lease(name, lease.holder)
            if not self.store.acquire_lease(name, new.holder, window_ttl, clock(), LEASE_KIND):
                return None  # taken meanwhile: by definition not ours to schedule
            lease = new
            arguments = [("since", window.since.isoformat()), ("until", window.until.isoformat())]
            try:
                state.scrapyd.schedule(self.project, self.spider, self.settings, arguments, new.job)
            except ScrapydError as exc:
                print(f"rfi-schedule: node {state.name} skipped: {exc}", file=sys.stderr)
                self.store.release_lease(name, new.holder)
                lease = None
                healthy.remove(state)  # refused once: not asked again in this backfill
                planned[state.name] = 1 << 30
                continue
            planned[state.name] += 1
            return new.job, state.name
        return None

    @staticmethod
    def say(window: Window, what: str, why: str) -> None:
        print(f"  {window}  {what}: {why}")
