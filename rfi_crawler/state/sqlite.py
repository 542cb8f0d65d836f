"""SQLite state store: WAL journal, every write in a ``BEGIN IMMEDIATE`` transaction.

Several crawls may share one file: SQLite serialises the writers (each waits up to
``timeout`` seconds, RFI_STATE_TIMEOUT, for another's transaction), and a version is reserved by a
claim row before it is written, so two runs never export the same version. The layout's
version is ``PRAGMA user_version``: checked at open, older layouts migrated in place.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rfi_crawler.state import (
    COLUMNS,
    REMOVAL_EVIDENCE,
    STORE_VERSION,
    CheckState,
    Claim,
    ClaimStatus,
    KnownArticle,
    Removal,
    RunRecord,
    StateStoreError,
    check_version,
    removal_verdict,
)
from rfi_crawler.state.layout import ARCHIVE_DAYS, RECHECK_MIGRATION, execute_script, tables_sql
from rfi_crawler.versions import change_cause, changed_fields, field_hashes

logger = logging.getLogger(__name__)

# The current layout (STORE_VERSION), for a new file.
SCHEMA = tables_sql("REAL")

# MIGRATIONS[n] takes a store from version n to n + 1, inside one transaction.
MIGRATIONS: dict[int, str] = {
    # 1 → 2: a run records who runs it and when it was last alive (state/liveness.py);
    # the leases table (a store of the scheduler's first lease code has it already).
    1: """
    ALTER TABLE runs ADD COLUMN host TEXT;
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN pid_start TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat_at TEXT;
    CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        kind TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    # 2 → 3: re-check columns, field hashes and the versions table; the archive days a
    # backfill finished (state/layout.py).
    2: RECHECK_MIGRATION + ";" + ARCHIVE_DAYS,
}

_KNOWN_CHUNK = 500  # below SQLite's limit on bound parameters


class SqliteStateStore:
    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path, self.timeout = path, timeout
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            _set_wal_mode(self.db, timeout)
            # Durability, per transaction. WAL with synchronous=NORMAL survives any crash of
            # the process (kill -9: committed frames are in the OS's cache), not a power
            # cut. A claim may be lost to a power cut as long as its line is too: the
            # export calls ``flush`` (the WAL fsynced) before it fsyncs the run file, so no
            # line is durable before its claim is. ``commit`` ("these lines are on disk")
            # and the other transactions run FULL, durable at COMMIT. A claim's fsync was
            # ~9 ms under load, one per record on the store's one thread.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._wal = path.with_name(path.name + "-wal")
            self._wal_created = False  # its directory entry fsynced once, by ``flush``
            if self._version() != STORE_VERSION:
                self._create_or_migrate()
        except (sqlite3.Error, OSError) as exc:  # OSError: a folder that cannot be made
            raise StateStoreError(f"cannot open state store {path}: {exc}") from exc

    def _version(self) -> int:
        """``user_version``; 0 is a new file, or the unversioned layout 1 if it has tables."""
        found = self.db.execute("PRAGMA user_version").fetchone()[0]
        if (
            found == 0
            and self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles'"
            ).fetchone()
        ):
            return 1
        return found

    def _create_or_migrate(self) -> None:
        with self._transaction():  # decided again under the write lock: one crawl migrates
            found = self._version()
            if found == 0:
                execute_script(self.db, SCHEMA)
            else:
                check_version(found, str(self.path))
                for step in range(found, STORE_VERSION):
                    execute_script(self.db, MIGRATIONS[step])
                logger.info(
                    "state store %s migrated from schema version %d to %d",
                    self.path,
                    found,
                    STORE_VERSION,
                )
            self.db.execute(f"PRAGMA user_version = {STORE_VERSION:d}")

    def _transaction(self, durable: bool = True) -> _Transaction:
        return _Transaction(self.db, self.path, self.timeout, durable)

    def flush(self) -> None:
        """Make every transaction committed so far (claims included) survive a power cut:
        fsync the WAL, as synchronous=FULL does at each COMMIT."""
        try:
            fd = os.open(self._wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # nothing written since the last checkpoint emptied it
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if not self._wal_created:
            directory = os.open(self._wal.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self._wal_created = True

    def known(self, url: str) -> KnownArticle | None:
        return self.known_many([url]).get(url)

    def known_many(self, urls: list[str]) -> dict[str, KnownArticle]:
        found: dict[str, KnownArticle] = {}
        unique = list(dict.fromkeys(urls))
        for start in range(0, len(unique), _KNOWN_CHUNK):
            chunk = unique[start : start + _KNOWN_CHUNK]
            rows = self.db.execute(
                "SELECT url, id, published_at, version, related, removed_at IS NOT NULL"
                f" FROM articles WHERE url IN ({', '.join('?' * len(chunk))}) ORDER BY version",
                chunk,
            )
            for url, *article in rows:  # ascending: the highest version wins
                found[url] = _known(*article)
        return found

    def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        return self.claim_many([(record, now)], run_id)[0]

    def claim_many(self, claims: Sequence[tuple[dict[str, Any], str]], run_id: str) -> list[Claim]:
        with self._transaction(durable=False):  # made durable by ``flush``
            return [
                claim_in_transaction(self._execute_shared, record, run_id, now)
                for record, now in claims
            ]

    def _execute_shared(self, sql: str, values: Sequence[Any]) -> sqlite3.Cursor:
        """A statement shared with the PostgreSQL store (written with ``%s`` placeholders)."""
        return self.db.execute(sql.replace("%s", "?"), values)

    def commit(self, keys: list[tuple[str, int]], run_id: str, now: str) -> int:
        committed = 0
        with self._transaction():
            for article_id, version in keys:
                claim = self.db.execute(
                    f"SELECT {CLAIM_CARRIED} FROM claims WHERE id = ? AND version = ?"
                    " AND run_id = ?",
                    (article_id, version, run_id),
                ).fetchone()
                if claim is None:
                    continue  # already committed (a recovered batch)
                for statement, values in commit_writes(article_id, version, claim, run_id, now):
                    self._execute_shared(statement, values)
                self.db.execute(
                    "DELETE FROM claims WHERE id = ? AND version = ?", (article_id, version)
                )
                committed += 1
        return committed

    def release(self, run_id: str) -> int:
        with self._transaction():
            return self.db.execute("DELETE FROM claims WHERE run_id = ?", (run_id,)).rowcount

    def recheck_candidates(self, published_since: str) -> list[CheckState]:
        rows = self._execute_shared(RECHECK_READ, (published_since, *REMOVAL_EVIDENCE)).fetchall()
        return [CheckState(*row) for row in rows]

    def check_failed(
        self, url: str, evidence: str, run_id: str, now: str
    ) -> tuple[Removal, CheckState] | None:
        with self._transaction():
            row = self.db.execute(
                f"SELECT {CHECK_FIELDS} FROM articles WHERE url = ? ORDER BY version DESC LIMIT 1",
                (url,),
            ).fetchone()
            if row is None:
                return None
            state = CheckState(*row)
            verdict = removal_verdict(state, run_id)
            self._execute_shared(
                CHECK_FAILED,
                (now, evidence, run_id, now if verdict is Removal.REMOVED else None, state.id),
            )
        return verdict, state

    def begin_run(self, run: RunRecord) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO runs (run_id, job, started_at, output_path, lock_path, host, pid,"
                " pid_start, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                run_row(run),
            )

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def touch_run(self, run_id: str, now: str) -> None:
        with self._transaction():
            self.db.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (now, run_id))

    def finish_run(self, run_id: str, finished_at: str, reason: str) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE runs SET finished_at = ?, finish_reason = ? WHERE run_id = ?",
                (finished_at, reason, run_id),
            )

    def unfinished_runs(self) -> list[RunRecord]:
        rows = self.db.execute(
            f"SELECT {RUN_FIELDS} FROM runs WHERE finished_at IS NULL ORDER BY started_at"
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    def recent_runs(self, limit: int) -> list[RunRecord]:
        with self._transaction():
            rows = self.db.execute(
                f"SELECT {RUN_FIELDS} FROM runs ORDER BY {HEARD_LAST_FIRST} LIMIT ?",
                (limit,),
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def acquire_lease(
        self, name: str, holder: str, ttl_seconds: float, now: float, kind: str = "scheduler"
    ) -> bool:
        with self._transaction():
            row = self.db.execute(
                "SELECT holder, expires_at FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row and row[0] != holder and row[1] > now:
                return False
            self.db.execute(
                "INSERT INTO leases (name, holder, kind, acquired_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " holder = excluded.holder, kind = excluded.kind,"
                " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                (name, holder, kind, now, now + ttl_seconds),
            )
        return True

    def renew_lease(self, name: str, holder: str, ttl_seconds: float, now: float) -> bool:
        with self._transaction():
            cursor = self.db.execute(
                "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?",
                (now + ttl_seconds, name, holder),
            )
        return cursor.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def archive_days_done(self, first: str, last: str) -> set[str]:
        rows = self.db.execute(
            "SELECT day FROM archive_days WHERE day >= ? AND day <= ?", (first, last)
        )
        return {day for (day,) in rows}

    def mark_archive_days_done(self, days: list[str], run_id: str, now: str) -> None:
        with self._transaction():
            self.db.executemany(
                "INSERT INTO archive_days (day, run_id, done_at) VALUES (?, ?, ?)"
                " ON CONFLICT (day) DO NOTHING",
                [(day, run_id, now) for day in days],
            )

    def count(self) -> int:
        return self.count_rows("articles")

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        yield from self.db.execute(f"SELECT {', '.join(COLUMNS[table])} FROM {table}")

    def load(self, tables: dict[str, Iterable[tuple[Any, ...]]]) -> None:
        with self._transaction():
            for table, rows in tables.items():
                columns = COLUMNS[table]
                self.db.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)})"
                    f" VALUES ({', '.join('?' * len(columns))})",
                    rows,
                )

    def count_rows(self, table: str) -> int:
        assert table in COLUMNS
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self.db.close()


# RunRecord's fields, in its order.
RUN_FIELDS = (
    "run_id, job, started_at, output_path, lock_path, finished_at, finish_reason,"
    " host, pid, pid_start, heartbeat_at"
)
# Runs heard from last first: by their end, else their last beat (the store's clock), else
# their start (their host's); ``RunRecord.heard_at`` in Python.
HEARD_LAST_FIRST = "COALESCE(finished_at, heartbeat_at, started_at) DESC, run_id DESC"


def _set_wal_mode(db: sqlite3.Connection, timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, tried again until ``timeout``: while another crawl
    opens a new store and turns it to WAL, SQLite answers this one "database is locked" at
    once rather than wait (4 crawls opening one new store together: 26 of 400 failed)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            # The primary code (the low byte): also SQLITE_BUSY_RECOVERY and its kind.
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error; ``durable``: the COMMIT
    fsyncs the WAL (synchronous=FULL), which covers the NORMAL transactions before it."""

    def __init__(
        self, db: sqlite3.Connection, path: Path, timeout: float, durable: bool = True
    ) -> None:
        self.db, self.path, self.timeout, self.durable = db, path, timeout, durable

    def __enter__(self) -> None:
        # Outside a transaction, as SQLite requires; the connection default is NORMAL.
        self.db.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateStoreError(
                f"state store {self.path} stayed locked by another crawl for {self.timeout:g}s"
                f" ({exc}); nothing was written. Retry later, or raise RFI_STATE_TIMEOUT."
            ) from exc

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def _known(
    article_id: str, published_at: str | None, version: int, related: str, removed: Any
) -> KnownArticle:
    return KnownArticle(
        article_id, published_at, version, tuple(json.loads(related)), bool(removed)
    )


# -- SQL and decisions shared with the PostgreSQL store (placeholders written ``%s``) ----

# What a claim reads of the stored version.
CLAIM_READ = (
    "SELECT content_hash, modified_at, version, field_hashes, extractor_version, removed_at"
    " FROM articles"
)
# Any answer with content is a check that found the article: it is not (or no longer) removed.
CHECKED_OK = (
    "UPDATE articles SET checked_at = %s, check_outcome = 'ok', check_run = %s,"
    " removed_at = NULL WHERE id = %s"
)
# An unchanged fetch; a version stored before field hashes gains them here.
UNCHANGED_SEEN = (
    "UPDATE articles SET last_seen = %s, field_hashes = COALESCE(field_hashes, %s),"
    " extractor_version = COALESCE(extractor_version, %s) WHERE id = %s"
)
CLAIM_INSERT = (
    f"INSERT INTO claims ({', '.join(COLUMNS['claims'])})"
    f" VALUES ({', '.join(['%s'] * len(COLUMNS['claims']))})"
)
# What a claim carries to its commit, in this order.
CLAIM_CARRIED = (
    "url, content_hash, published_at, modified_at, related, field_hashes, extractor_version,"
    " changed_fields, change_cause, detected_at"
)
ARTICLE_UPSERT = (
    "INSERT INTO articles (id, url, content_hash, published_at, modified_at, related,"
    " field_hashes, extractor_version, first_seen, last_seen, version, run_id, checked_at,"
    " check_outcome, check_run) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " 'ok', %s)"
    " ON CONFLICT (id) DO UPDATE SET url = excluded.url,"
    " content_hash = excluded.content_hash, published_at = excluded.published_at,"
    " modified_at = excluded.modified_at, related = excluded.related,"
    " field_hashes = excluded.field_hashes, extractor_version = excluded.extractor_version,"
    " last_seen = excluded.last_seen, version = excluded.version, run_id = excluded.run_id,"
    " checked_at = excluded.checked_at, check_outcome = 'ok', check_run = excluded.check_run,"
    " removed_at = NULL"
    " WHERE excluded.version > articles.version"
)
VERSION_INSERT = (
    "INSERT INTO versions (id, version, changed_fields, change_cause, detected_at, run_id)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id, version) DO NOTHING"
)
# CheckState's fields, in its order.
CHECK_FIELDS = (
    "url, id, version, published_at, first_seen, COALESCE(checked_at, last_seen),"
    " check_outcome, check_run, removed_at"
)
RECHECK_READ = (
    f"SELECT {CHECK_FIELDS} FROM articles WHERE published_at >= %s"
    " OR (removed_at IS NULL AND check_outcome IN (%s, %s, %s))"
)
assert RECHECK_READ.count("%s") == 1 + len(REMOVAL_EVIDENCE)
CHECK_FAILED = (
    "UPDATE articles SET checked_at = %s, check_outcome = %s, check_run = %s,"
    " removed_at = COALESCE(removed_at, %s) WHERE id = %s"
)


class Decided:
    """A claim's outcome and the values its writes need (one decision, both backends)."""

    def __init__(
        self,
        claim: Claim,
        checked: tuple[Any, ...],
        seen: tuple[Any, ...],
        claim_row: tuple[Any, ...] = (),
    ) -> None:
        self.claim, self.checked, self.seen, self.claim_row = claim, checked, seen, claim_row


def claim_in_transaction(
    execute: Callable[[str, tuple[Any, ...]], Any], record: dict[str, Any], run_id: str, now: str
) -> Claim:
    """A record's claim, inside the caller's transaction; ``execute(sql, values)`` runs a
    statement written with ``%s`` placeholders and returns its cursor."""
    article_id, content_hash = record["id"], record["content_hash"]
    row = execute(f"{CLAIM_READ} WHERE id = %s", (article_id,)).fetchone()
    pending = execute(
        "SELECT version, content_hash FROM claims WHERE id = %s", (article_id,)
    ).fetchall()
    if any(claimed_hash == content_hash for _, claimed_hash in pending):
        return Claim(ClaimStatus.TAKEN)
    decided = decide_claim(row, pending, record, run_id, now)
    if row:
        execute(CHECKED_OK, (*decided.checked, article_id))
    if decided.claim.status is ClaimStatus.UNCHANGED:
        execute(UNCHANGED_SEEN, (*decided.seen, article_id))
    else:
        execute(CLAIM_INSERT, decided.claim_row)
    return decided.claim


def decide_claim(
    row: tuple[Any, ...] | None,
    pending: list[tuple[int, str]],
    record: dict[str, Any],
    run_id: str,
    now: str,
) -> Decided:
    """``row``: the stored version (``CLAIM_READ``); ``pending``: other runs' claims."""
    hashes = field_hashes(record)
    extractor = record.get("extractor_version")
    restored = bool(row and row[5])
    checked = (now, run_id)
    seen = (now, json.dumps(hashes), extractor)
    if row and row[0] == record["content_hash"] and not newer(record.get("modified_at"), row[1]):
        return Decided(Claim(ClaimStatus.UNCHANGED, row[2], restored=restored), checked, seen)
    version = max([row[2] if row else 0, *(v for v, _ in pending)]) + 1
    changed = cause = None
    if row:
        changed = changed_fields(json.loads(row[3]) if row[3] else None, hashes)
        cause = change_cause(row[4], extractor)
    values = (
        record["id"],
        version,
        record["url"],
        record["content_hash"],
        record.get("published_at"),
        record.get("modified_at"),
        json.dumps([link["url"] for link in record.get("related") or []]),
        run_id,
        now,
        json.dumps(hashes),
        extractor,
        None if changed is None else json.dumps(changed),
        cause,
        now,
    )
    status = ClaimStatus.NEW if version == 1 else ClaimStatus.CHANGED
    claim = Claim(status, version, None if changed is None else tuple(changed), cause, restored)
    return Decided(claim, checked, seen, values)


def commit_writes(
    article_id: str, version: int, claim: tuple[Any, ...], run_id: str, now: str
) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that make a claim (``CLAIM_CARRIED`` values) the exported version."""
    url, content_hash, published, modified, related, hashes, extractor, changed, cause, seen = claim
    return [
        (
            ARTICLE_UPSERT,
            (
                article_id,
                url,
                content_hash,
                published,
                modified,
                related,
                hashes,
                extractor,
                now,
                now,
                version,
                run_id,
                now,
                run_id,
            ),
        ),
        (VERSION_INSERT, (article_id, version, changed, cause, seen or now, run_id)),
    ]


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """A new run's values for ``begin_run`` (shared by the backends)."""
    return (
        run.run_id,
        run.job,
        run.started_at,
        run.output_path,
        run.lock_path,
        run.host,
        run.pid,
        run.pid_start,
        run.heartbeat_at,
    )


def newer(candidate: str | None, stored: str | None) -> bool:
    """ISO UTC strings of one format compare as text."""
    return bool(candidate and (stored is None or candidate > stored))
