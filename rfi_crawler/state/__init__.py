"""Persistent crawl state (scope: every run sharing the store): what was exported, when,
in which version, by which run.

Backends implement ``StateStore``; ``open_store`` picks one from ``RFI_STATE_URI``. SQLite
is the embedded default: no server, safe for several crawls at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol


class ClaimStatus(StrEnum):
    NEW = "new"  # first export of the article
    CHANGED = "changed"  # a new version of an exported article
    UNCHANGED = "unchanged"  # same content as the exported version: not exported again
    TAKEN = "taken"  # another live run is exporting this very version


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    version: int | None = None


@dataclass(frozen=True)
class KnownArticle:
    id: str
    published_at: str | None
    version: int
    related: tuple[str, ...] = ()  # canonical URLs of its related aside when exported


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job: str | None
    started_at: str
    output_path: str
    lock_path: str
    finished_at: str | None = None
    finish_reason: str | None = None


class StateStore(Protocol):
    """What the crawler needs from a state backend."""

    def known(self, url: str) -> KnownArticle | None:
        """The exported article at this canonical URL, if any."""

    def known_many(self, urls: list[str]) -> dict[str, KnownArticle]:
        """``known`` for a batch of canonical URLs, in one query: only the known ones."""

    def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        """Reserve the record's next version for this run (or say why not), atomically."""

    def commit(self, keys: list[tuple[str, int]], run_id: str, now: str) -> int:
        """These (id, version) claims are durably written: they are exported. Returns how many."""

    def release(self, run_id: str) -> int:
        """Drop the run's claims that were never committed. Returns how many."""

    def begin_run(self, run: RunRecord) -> None: ...

    def finish_run(self, run_id: str, finished_at: str, reason: str) -> None: ...

    def unfinished_runs(self) -> list[RunRecord]: ...

    def count(self) -> int:
        """Articles exported so far."""

    def close(self) -> None: ...


class StateStoreError(RuntimeError):
    """The state store cannot be opened or used (locked too long, corrupt, wrong URI)."""


def open_store(uri: str, timeout: float = 60.0) -> StateStore:
    """A plain file path, or ``sqlite:///relative/path`` / ``sqlite:////absolute/path``
    (the SQLAlchemy spelling). ``timeout``: seconds to wait for another crawl's write."""
    from rfi_crawler.state.sqlite import SqliteStateStore

    if "://" in uri and not uri.startswith("sqlite:///"):
        raise StateStoreError(f"RFI_STATE_URI: unsupported {uri!r}; use a path or sqlite:///path")
    return SqliteStateStore(Path(uri.removeprefix("sqlite:///")).expanduser(), timeout)
