"""The export's claims, grouped: records that arrive close together are claimed in one
store call and one transaction (a group commit).

A claim on its own costs two handoffs between the reactor and the store's thread, and a
transaction of its own (``BEGIN IMMEDIATE`` … ``COMMIT``, its pages written to the WAL
again). In a crawl of 500 KB pages that was ~0.7 ms of CPU a record, more than the claim's
SQL (docs/performance.md). Claims still run in order on the store's one thread, so a batch
decides what the same claims made one by one decide.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rfi_crawler.store_errors import STORE_ERRORS

if TYPE_CHECKING:
    from rfi_crawler.state import Claim
    from rfi_crawler.store_thread import StoreThread

_Waiting = tuple[dict[str, Any], str, "asyncio.Future[Claim]"]

# A record waits at most this long for others to join its batch: far below the run
# file's sync cadence (RFI_FSYNC_SECONDS), and a crawl's responses wait with their items.
LINGER_SECONDS = 0.05
# A batch this large goes at once: a transaction holds the store's write lock, which
# other crawls on the same store wait for.
MAX_BATCH = 32


class ClaimBatcher:
    """``claim(record, run_id, now)`` as the store answers it, made in batches."""

    def __init__(
        self, store: StoreThread, linger: float = LINGER_SECONDS, max_batch: int = MAX_BATCH
    ) -> None:
        self.store, self.linger, self.max_batch = store, linger, max_batch
        self._run_id = ""  # the run of the records waiting
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()  # the loop keeps weak references only

    async def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        """The record's claim; a store error is raised here, for every record of its batch."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Claim] = loop.create_future()
        if run_id != self._run_id:
            self._send()  # one run's claims to a batch
            self._run_id = run_id
        self._waiting.append((record, now, answer))
        if len(self._waiting) >= self.max_batch:
            self._send()
        elif self._timer is None or self._timer_loop is not loop:
            # (A loop of its own per record, as in tests: a timer on a closed loop never fires.)
            self._timer, self._timer_loop = loop.call_later(self.linger, self._send), loop
        return await answer

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        # A record whose export was given up on (its process_item cancelled) is not claimed.
        batch = [waiting for waiting in self._waiting if not waiting[2].done()]
        self._waiting = []
        if not batch:
            return
        task = asyncio.ensure_future(self._claim_batch(batch, self._run_id))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _claim_batch(self, batch: list[_Waiting], run_id: str) -> None:
        try:
            claims = await self.store.call(
                "claim_many", [(record, now) for record, now, _ in batch], run_id
            )
            for (*_, answer), claim in zip(batch, claims, strict=True):
                if not answer.done():
                    answer.set_result(claim)
        except asyncio.CancelledError:
            for *_, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:
            if isinstance(exc, STORE_ERRORS) or len(batch) == 1:
                for *_, answer in batch:  # the store's error stops the run: each record's
                    if not answer.done():
                        answer.set_exception(exc)
                return
            # One record the claim cannot handle (a bug, not the store) rolled the batch
            # back: each is claimed alone, so only that one fails.
            for waiting in batch:
                if not waiting[2].done():  # (a store that answered too many claims)
                    await self._claim_batch([waiting], run_id)
