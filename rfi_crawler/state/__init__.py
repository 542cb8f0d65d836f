"""Persistent crawl state (scope: every run sharing the store): what was exported, when,
in which version, by which run.

Backends implement ``StateStore``; ``open_store`` picks one from ``RFI_STATE_URI``. SQLite
is the embedded default: no server, safe for several crawls on one machine. PostgreSQL
(``postgresql://…``) is shared by crawls on several machines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

# The layout of the store's tables, the same in every backend. 1 = the first wave's SQLite
# layout (no version recorded); 2 = runs carry their owner's identity and a heartbeat, and
# a leases table holds short-lived locks between processes (the scheduler's guard);
# 3 = the archive days a backfill finished (``archive_days``); each article's last check
# and its outcome (the re-check schedule, removals), the per-field hashes and extractor of
# its version, and a versions table (what each exported version changed, why, and when it
# was first seen).
STORE_VERSION = 3

# Column order of each table, shared by every backend (``rfi-state copy`` relies on it).
COLUMNS: dict[str, tuple[str, ...]] = {
    "articles": (
        "id",
        "url",
        "content_hash",
        "published_at",
        "modified_at",
        "related",
        "first_seen",
        "last_seen",
        "version",
        "run_id",
        "field_hashes",
        "extractor_version",
        "checked_at",
        "check_outcome",
        "check_run",
        "removed_at",
    ),
    "claims": (
        "id",
        "version",
        "url",
        "content_hash",
        "published_at",
        "modified_at",
        "related",
        "run_id",
        "claimed_at",
        "field_hashes",
        "extractor_version",
        "changed_fields",
        "change_cause",
        "detected_at",
    ),
    "versions": ("id", "version", "changed_fields", "change_cause", "detected_at", "run_id"),
    "runs": (
        "run_id",
        "job",
        "started_at",
        "finished_at",
        "finish_reason",
        "output_path",
        "lock_path",
        "host",
        "pid",
        "pid_start",
        "heartbeat_at",
    ),
    "leases": ("name", "holder", "kind", "acquired_at", "expires_at"),
    "archive_days": ("day", "run_id", "done_at"),
}


class ClaimStatus(StrEnum):
    NEW = "new"  # first export of the article
    CHANGED = "changed"  # a new version of an exported article
    UNCHANGED = "unchanged"  # same content as the exported version: not exported again
    TAKEN = "taken"  # another live run is exporting this very version


@dataclass(frozen=True)
class Claim:
    status: ClaimStatus
    version: int | None = None
    # A changed version: the fields it changed (None: the stored version predates field
    # hashes) and why (versions.CAUSE_SITE / CAUSE_EXTRACTOR, None: unknown).
    changed_fields: tuple[str, ...] | None = None
    change_cause: str | None = None
    restored: bool = False  # the article was recorded removed, and answers again


# Check outcomes of a removed-looking answer (the rest of a check's outcomes is "ok").
REMOVAL_EVIDENCE = ("http_404", "http_410", "redirect")


class Removal(StrEnum):
    """What a removal-looking answer (``REMOVAL_EVIDENCE``) to a check means."""

    PENDING = "pending"  # the first such answer: a passing glitch until another run agrees
    REMOVED = "removed"  # the second, in another run: the article is recorded removed
    STILL_REMOVED = "still_removed"  # already recorded removed


@dataclass(frozen=True)
class CheckState:
    """An exported article as the re-check schedule sees it (times as ISO text)."""

    url: str
    id: str
    version: int
    published_at: str | None
    first_seen: str
    last_checked: str  # the last check, the first fetch included
    check_outcome: str | None = None  # "ok", or one of REMOVAL_EVIDENCE
    check_run: str | None = None  # the run of that check
    removed_at: str | None = None

    @property
    def unconfirmed(self) -> bool:
        """A removal-looking answer awaits a check by another run."""
        return self.removed_at is None and self.check_outcome in REMOVAL_EVIDENCE


def removal_verdict(state: CheckState, run_id: str) -> Removal:
    """Two removal-looking answers in two runs make a removal; one run's are one check."""
    if state.removed_at is not None:
        return Removal.STILL_REMOVED
    if state.unconfirmed and state.check_run != run_id:
        return Removal.REMOVED
    return Removal.PENDING


@dataclass(frozen=True)
class KnownArticle:
    id: str
    published_at: str | None
    version: int
    related: tuple[str, ...] = ()  # canonical URLs of its related aside when exported
    removed: bool = False  # recorded removed (a listing showing it again may mean it is back)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job: str | None
    started_at: str
    output_path: str
    lock_path: str
    finished_at: str | None = None
    finish_reason: str | None = None
    # Who runs it (see state/liveness.py); None in runs registered before store version 2.
    host: str | None = None
    pid: int | None = None
    pid_start: str | None = None  # "<boot id>:<start time in clock ticks>" of the process
    heartbeat_at: str | None = None

    @property
    def heard_at(self) -> str:
        """When the run was last heard from: its end, else its last heartbeat (both by the
        store's clock), else its start (its host's clock)."""
        return self.finished_at or self.heartbeat_at or self.started_at


class StateStore(Protocol):
    """What the crawler needs from a state backend."""

    def known(self, url: str) -> KnownArticle | None:
        """The exported article at this canonical URL, if any."""

    def known_many(self, urls: list[str]) -> dict[str, KnownArticle]:
        """``known`` for a batch of canonical URLs, in one query: only the known ones."""

    def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        """Reserve the record's next version for this run (or say why not), atomically."""

    def claim_many(self, claims: Sequence[tuple[dict[str, Any], str]], run_id: str) -> list[Claim]:
        """``claim`` of each (record, now) in turn, in one transaction: all made, or none
        (an error rolls the batch back). Each claim sees those before it."""

    def flush(self) -> None:
        """Every claim made so far survives a power cut (called before the run file's
        fsync: no line may be durable before its claim)."""

    def commit(self, keys: list[tuple[str, int]], run_id: str, now: str) -> int:
        """These (id, version) claims are durably written: they are exported. Returns how many."""

    def release(self, run_id: str) -> int:
        """Drop the run's claims that were never committed. Returns how many."""

    def recheck_candidates(self, published_since: str) -> list[CheckState]:
        """Articles the re-check schedule may still want: published since that ISO day
        (or time), and any whose removal awaits confirmation."""

    def check_failed(
        self, url: str, evidence: str, run_id: str, now: str
    ) -> tuple[Removal, CheckState] | None:
        """Record a removal-looking answer (``REMOVAL_EVIDENCE``) for the exported article
        at ``url``: what it means, and the article as it was before; None if not exported."""

    def clock(self) -> datetime:
        """Now by the store's clock (UTC), which every host sharing the store reads alike:
        the database server's for PostgreSQL; this machine's for SQLite, one machine's store.
        Heartbeats and leases are written and judged by it, so hosts' clocks need not agree."""

    def begin_run(self, run: RunRecord) -> None: ...

    def touch_run(self, run_id: str, now: str) -> None:
        """The run's heartbeat: it is alive at ``now`` (by ``clock``)."""

    def finish_run(self, run_id: str, finished_at: str, reason: str) -> None: ...

    def unfinished_runs(self) -> list[RunRecord]: ...

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """The ``limit`` runs heard from last, newest first: by their end, else their last
        heartbeat (both by the store's clock), else their start (an unfinished run of an
        older release; its host's clock)."""

    def acquire_lease(
        self, name: str, holder: str, ttl_seconds: float, now: float, kind: str = "scheduler"
    ) -> bool:
        """Hold the lease ``name`` until ``now + ttl_seconds`` (epoch seconds). True when it
        was free, expired or already ``holder``'s (a renewal); False while another holder's
        lease runs. Never waits longer than the store's own timeout."""

    def renew_lease(self, name: str, holder: str, ttl_seconds: float, now: float) -> bool:
        """Hold ``holder``'s lease ``name`` until ``now + ttl_seconds``; False if ``holder``
        holds it no longer: another took it (and may have released it since)."""

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` still holds it."""

    def archive_days_done(self, first: str, last: str) -> set[str]:
        """The archive days (ISO dates) from ``first`` to ``last``, inclusive, that a
        backfill finished."""

    def mark_archive_days_done(self, days: list[str], run_id: str, now: str) -> None:
        """These archive days (ISO dates) are finished, in one transaction (a day marked
        already keeps its first run)."""

    def count(self) -> int:
        """Articles exported so far."""

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of a table, in ``COLUMNS`` order (for ``rfi-state copy``)."""

    def load(self, tables: dict[str, Iterable[tuple[Any, ...]]]) -> None:
        """Insert rows (``COLUMNS`` order) into these tables, all in one transaction."""

    def count_rows(self, table: str) -> int: ...

    def close(self) -> None: ...


class StateStoreError(RuntimeError):
    """The state store cannot be opened or used (locked too long, corrupt, wrong URI)."""


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(uri: str, timeout: float = 60.0) -> StateStore:
    """A plain file path, ``sqlite:///relative/path`` / ``sqlite:////absolute/path`` (the
    SQLAlchemy spelling), or a libpq URI ``postgresql://[user[:password]@]host[:port]/db``
    (missing parts come from libpq's PG* variables and ~/.pgpass). ``timeout``: seconds to
    wait for another crawl's write."""
    if uri.startswith(POSTGRES_SCHEMES):
        try:
            from rfi_crawler.state.postgres import PostgresStateStore
        except ImportError as exc:
            raise StateStoreError(
                f"RFI_STATE_URI is a PostgreSQL URI but psycopg is missing ({exc}): install"
                " rfi-crawler[postgres]"
            ) from exc

        return PostgresStateStore(uri, timeout)
    from rfi_crawler.state.sqlite import SqliteStateStore

    path = sqlite_path(uri)
    if path is None:
        raise StateStoreError(f"RFI_STATE_URI: {uri_problem(uri)}")
    return SqliteStateStore(path, timeout)


def sqlite_path(uri: str) -> Path | None:
    """The file of a SQLite store's URI (a path, or ``sqlite:///…``), None for any other."""
    if uri.startswith(POSTGRES_SCHEMES) or uri_problem(uri):
        return None
    return Path(uri.removeprefix("sqlite:///")).expanduser()


def uri_problem(uri: str) -> str | None:
    """Why ``open_store`` refuses ``uri`` before trying it (its password left out), or None:
    the settings check asks too, so that a crawl stops before its first request."""
    if uri.startswith(POSTGRES_SCHEMES) or uri.startswith("sqlite:///") or "://" not in uri:
        return None
    return f"unsupported {redact_uri(uri)!r}; use a path, sqlite:///path or postgresql://host/db"


def redact_uri(uri: str) -> str:
    """The URI without its password (in the user part or a ``password=`` parameter), for
    logs, messages and manifests; anything else is left as it is."""
    if "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    # The user part ends at the last "@": libpq takes a password holding "/", "?", "#" or
    # "@" as it is written. (An "@" in a query hides more than the password: never less.)
    at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        rest = f"{rest[:at].split(':', 1)[0]}:***{rest[at:]}"
    rest = re.sub(r"(?i)([?&]password=)[^&#]*", r"\g<1>***", rest)
    return f"{scheme}://{rest}"


def check_version(found: int, where: str) -> None:
    """Refuse a store whose layout this crawler does not know (one line, no traceback)."""
    if found > STORE_VERSION:
        raise StateStoreError(
            f"state store {where} has schema version {found}, newer than this crawler's"
            f" {STORE_VERSION}: upgrade rfi-crawler, or use another RFI_STATE_URI"
        )
    if found < 1:
        raise StateStoreError(
            f"state store {where} has unknown schema version {found}; it was not made by"
            " rfi-crawler: use another RFI_STATE_URI"
        )
