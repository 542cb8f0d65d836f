"""The scheduler's own lease in the state store, renewed before each call to a node.

One ``rfi-schedule`` pass at a time (hourly, or backfill) holds it. Its time-to-live covers
the calls between two renewals, each bounded by ``--timeout``, so a scheduler that dies
holding it blocks the next for minutes at most; a pass over many slow nodes renews it and
never outlasts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rfi_crawler.state import StateStore

SCHEDULER_KIND = "scheduler"


class LeaseLost(Exception):
    """The lease ran out during a pass and another scheduler took it."""


@dataclass(frozen=True)
class SchedulerLease:
    store: StateStore
    name: str
    holder: str
    ttl: float

    def renew(self) -> None:
        """Hold the lease ``ttl`` seconds from now by the store's clock; ``LeaseLost`` if
        another scheduler took it after it ran out, even if that one gave it back since
        (this pass must then stop: the other may have scheduled the same jobs)."""
        now = self.store.clock().timestamp()
        if not self.store.renew_lease(self.name, self.holder, self.ttl, now):
            raise LeaseLost(f"the lease {self.name} ran out and another rfi-schedule took it")
