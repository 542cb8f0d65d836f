"""A state store of its own on one worker thread, so a write that waits never freezes the reactor.

Another crawl's SQLite transaction can hold the write lock for up to ``RFI_STATE_TIMEOUT``
seconds. The export's claims and commits wait for it here, on this thread, while the
reactor goes on downloading and parsing. One thread: the store's calls stay in order, and
SQLite connections are used only by the thread that opened them. After a store error the
calls still queued fail at once, rather than each waiting out ``RFI_STATE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rfi_crawler.state import StateStore, StateStoreError, open_store
from rfi_crawler.store_errors import STORE_ERRORS


class StoreThread:
    def __init__(self, uri: str, timeout: float) -> None:
        self.uri, self.timeout = uri, timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfi-store")
        self._store: StateStore | None = None
        self._failed: str | None = None

    def _call(self, method: str, *args: Any) -> Any:
        if self._failed:
            raise StateStoreError(f"not tried: the state store failed before ({self._failed})")
        try:
            if self._store is None:
                self._store = open_store(self.uri, self.timeout)
            return getattr(self._store, method)(*args)
        except STORE_ERRORS as exc:
            self._failed = str(exc)
            raise

    async def call(self, method: str, *args: Any) -> Any:
        """``store.<method>(*args)`` on the store's thread; the event loop runs meanwhile."""
        return await asyncio.wrap_future(self._executor.submit(self._call, method, *args))

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()

        self._executor.submit(close_store).result()
        self._executor.shutdown()
