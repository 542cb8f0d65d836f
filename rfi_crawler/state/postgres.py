"""PostgreSQL state store, shared by crawls on several machines (psycopg 3).

Same semantics as the SQLite store. Each method is one transaction; what SQLite gets from
``BEGIN IMMEDIATE`` (one writer at a time) PostgreSQL gets from a transaction-scoped advisory
lock per article id, taken by ``claim`` and ``commit`` alike, so a version is reserved once.
The layout's version lives in ``rfi_state_version``, checked at open; the URI's password
never reaches a message.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.conninfo
from psycopg import errors

from rfi_crawler.state import (
    COLUMNS,
    REMOVAL_EVIDENCE,
    STORE_VERSION,
    CheckState,
    Claim,
    KnownArticle,
    Removal,
    RunRecord,
    StateStoreError,
    check_version,
    redact_uri,
    removal_verdict,
)
from rfi_crawler.state.layout import ARCHIVE_DAYS, RECHECK_MIGRATION, execute_script, tables_sql
from rfi_crawler.state.sqlite import (
    CHECK_FAILED,
    CHECK_FIELDS,
    CLAIM_CARRIED,
    HEARD_LAST_FIRST,
    RECHECK_READ,
    RUN_FIELDS,
    claim_in_transaction,
    commit_writes,
    run_row,
)

logger = logging.getLogger(__name__)

# First key of our advisory locks ("RFI\0"), so that they never meet another application's.
LOCK_SPACE = 0x52464900

SCHEMA = "CREATE TABLE rfi_state_version (version INTEGER NOT NULL);" + tables_sql(
    "DOUBLE PRECISION"
)

# MIGRATIONS[n] takes a store from version n to n + 1. PostgreSQL stores began at version 2.
MIGRATIONS: dict[int, str] = {
    # 2 → 3: re-check columns, field hashes and the versions table; the archive days a
    # backfill finished (state/layout.py).
    2: RECHECK_MIGRATION + ";" + ARCHIVE_DAYS,
}


class PostgresStateStore:
    def __init__(self, uri: str, timeout: float = 60.0) -> None:
        self.where, self.timeout = redact_uri(uri), timeout
        try:
            self._secret = psycopg.conninfo.conninfo_to_dict(uri).get("password")
        except psycopg.Error as exc:
            raise StateStoreError(f"RFI_STATE_URI: cannot parse {self.where!r}") from exc
        try:
            self.db = psycopg.connect(
                uri,
                autocommit=True,  # transactions are explicit: ``with self._transaction()``
                connect_timeout=max(1, round(timeout)),
                application_name="rfi-crawler",
            )
        except psycopg.Error as exc:
            problem = self._say(exc)
            raise StateStoreError(f"cannot open state store {self.where}: {problem}") from exc
        try:
            # A lock wait longer than RFI_STATE_TIMEOUT fails like SQLite's busy timeout.
            self.db.execute(f"SET lock_timeout = {max(1, round(timeout * 1000)):d}")
            self._create_or_migrate()
        except BaseException:
            self.db.close()
            raise

    def _say(self, exc: BaseException) -> str:
        """psycopg's message on one line, without the password if it quotes the URI."""
        text = " ".join(str(exc).split())
        return text.replace(str(self._secret), "***") if self._secret else text

    @contextmanager
    def _transaction(self, *article_ids: str) -> Iterator[psycopg.Connection]:
        """One transaction holding the advisory locks of these articles, taken in the order
        of their keys (two ids may share a key: ordered by id, two batches could each hold
        a key the other waits for); psycopg's errors become StateStoreError."""
        try:
            with self.db.transaction():
                for key in sorted({_lock_key(article_id) for article_id in article_ids}):
                    self.db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, key))
                yield self.db
        except errors.LockNotAvailable as exc:
            raise StateStoreError(
                f"state store {self.where} stayed locked by another crawl for {self.timeout:g}s;"
                " nothing was written. Retry later, or raise RFI_STATE_TIMEOUT."
            ) from exc
        except psycopg.Error as exc:
            raise StateStoreError(f"state store {self.where}: {self._say(exc)}") from exc

    def _create_or_migrate(self) -> None:
        with self._transaction() as db:
            # One opener at a time decides (concurrent CREATE TABLEs would collide).
            db.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_SPACE,))
            if db.execute("SELECT to_regclass('rfi_state_version')").fetchone()[0] is None:
                if db.execute("SELECT to_regclass('articles')").fetchone()[0] is not None:
                    raise StateStoreError(
                        f"state store {self.where} has an articles table but no"
                        " rfi_state_version: not an rfi-crawler store; use another database"
                    )
                execute_script(db, SCHEMA)
                db.execute("INSERT INTO rfi_state_version VALUES (%s)", (STORE_VERSION,))
                return
            found = db.execute("SELECT max(version) FROM rfi_state_version").fetchone()[0] or 0
            check_version(found, self.where)
            if any(step not in MIGRATIONS for step in range(found, STORE_VERSION)):
                check_version(0, self.where)  # a version PostgreSQL stores never had
            for step in range(found, STORE_VERSION):
                execute_script(db, MIGRATIONS[step])
            if found != STORE_VERSION:
                db.execute("UPDATE rfi_state_version SET version = %s", (STORE_VERSION,))
                logger.info(
                    "state store %s migrated from schema version %d to %d",
                    self.where,
                    found,
                    STORE_VERSION,
                )

    def known(self, url: str) -> KnownArticle | None:
        return self.known_many([url]).get(url)

    def known_many(self, urls: list[str]) -> dict[str, KnownArticle]:
        found: dict[str, KnownArticle] = {}
        with self._transaction() as db:
            rows = db.execute(
                "SELECT url, id, published_at, version, related, removed_at IS NOT NULL"
                " FROM articles WHERE url = ANY(%s) ORDER BY version",
                (list(dict.fromkeys(urls)),),
            ).fetchall()
        for url, article_id, published_at, version, related, removed in rows:  # highest wins
            related_urls = tuple(json.loads(related))
            found[url] = KnownArticle(article_id, published_at, version, related_urls, removed)
        return found

    def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        return self.claim_many([(record, now)], run_id)[0]

    def claim_many(self, claims: Sequence[tuple[dict[str, Any], str]], run_id: str) -> list[Claim]:
        with self._transaction(*(record["id"] for record, _ in claims)) as db:
            return [claim_in_transaction(db.execute, record, run_id, now) for record, now in claims]

    def flush(self) -> None:
        """Nothing to do: every transaction here is durable at COMMIT."""

    def commit(self, keys: list[tuple[str, int]], run_id: str, now: str) -> int:
        committed = 0
        with self._transaction(*(article_id for article_id, _ in keys)) as db:
            for article_id, version in keys:
                claim = db.execute(
                    "DELETE FROM claims WHERE id = %s AND version = %s AND run_id = %s"
                    f" RETURNING {CLAIM_CARRIED}",
                    (article_id, version, run_id),
                ).fetchone()
                if claim is None:
                    continue  # already committed (a recovered batch)
                for statement, values in commit_writes(article_id, version, claim, run_id, now):
                    db.execute(statement, values)
                committed += 1
        return committed

    def recheck_candidates(self, published_since: str) -> list[CheckState]:
        with self._transaction() as db:
            rows = db.execute(RECHECK_READ, (published_since, *REMOVAL_EVIDENCE)).fetchall()
        return [CheckState(*row) for row in rows]

    def check_failed(
        self, url: str, evidence: str, run_id: str, now: str
    ) -> tuple[Removal, CheckState] | None:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {CHECK_FIELDS} FROM articles WHERE url = %s ORDER BY version DESC LIMIT 1",
                (url,),
            ).fetchone()
            if row is None:
                return None
            # The article's lock (a concurrent claim of it waits), then its row again.
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, _lock_key(row[1])))
            row = db.execute(
                f"SELECT {CHECK_FIELDS} FROM articles WHERE id = %s", (row[1],)
            ).fetchone()
            state = CheckState(*row)
            verdict = removal_verdict(state, run_id)
            removed = now if verdict is Removal.REMOVED else None
            db.execute(CHECK_FAILED, (now, evidence, run_id, removed, state.id))
        return verdict, state

    def release(self, run_id: str) -> int:
        with self._transaction() as db:
            return db.execute("DELETE FROM claims WHERE run_id = %s", (run_id,)).rowcount

    def begin_run(self, run: RunRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, job, started_at, output_path, lock_path, host, pid,"
                " pid_start, heartbeat_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                run_row(run),
            )

    def clock(self) -> datetime:
        # The server's time, not the transaction's start (``now()``).
        with self._transaction() as db:
            return db.execute("SELECT clock_timestamp()").fetchone()[0].astimezone(UTC)

    def touch_run(self, run_id: str, now: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET heartbeat_at = %s WHERE run_id = %s", (now, run_id))

    def finish_run(self, run_id: str, finished_at: str, reason: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = %s, finish_reason = %s WHERE run_id = %s",
                (finished_at, reason, run_id),
            )

    def unfinished_runs(self) -> list[RunRecord]:
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {RUN_FIELDS} FROM runs WHERE finished_at IS NULL"
                " ORDER BY started_at, run_id"
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def recent_runs(self, limit: int) -> list[RunRecord]:
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {RUN_FIELDS} FROM runs ORDER BY {HEARD_LAST_FIRST} LIMIT %s",
                (limit,),
            ).fetchall()
        return [RunRecord(*row) for row in rows]

    def acquire_lease(
        self, name: str, holder: str, ttl_seconds: float, now: float, kind: str = "scheduler"
    ) -> bool:
        # The lease's advisory lock serialises two takers of a lease that has no row yet.
        with self._transaction(f"lease:{name}") as db:
            row = db.execute(
                "SELECT holder, expires_at FROM leases WHERE name = %s", (name,)
            ).fetchone()
            if row and row[0] != holder and row[1] > now:
                return False
            db.execute(
                "INSERT INTO leases (name, holder, kind, acquired_at, expires_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET"
                " holder = excluded.holder, kind = excluded.kind,"
                " acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                (name, holder, kind, now, now + ttl_seconds),
            )
        return True

    def renew_lease(self, name: str, holder: str, ttl_seconds: float, now: float) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE leases SET expires_at = %s WHERE name = %s AND holder = %s",
                (now + ttl_seconds, name, holder),
            )
        return cursor.rowcount == 1

    def release_lease(self, name: str, holder: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM leases WHERE name = %s AND holder = %s", (name, holder))

    def archive_days_done(self, first: str, last: str) -> set[str]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT day FROM archive_days WHERE day >= %s AND day <= %s", (first, last)
            ).fetchall()
        return {day for (day,) in rows}

    def mark_archive_days_done(self, days: list[str], run_id: str, now: str) -> None:
        with self._transaction() as db, db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO archive_days (day, run_id, done_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (day) DO NOTHING",
                [(day, run_id, now) for day in days],
            )

    def count(self) -> int:
        return self.count_rows("articles")

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        with self._transaction() as db, db.cursor(name=f"rfi_copy_{table}") as cursor:
            cursor.execute(f"SELECT {', '.join(COLUMNS[table])} FROM {table}")
            yield from cursor

    def load(self, tables: dict[str, Iterable[tuple[Any, ...]]]) -> None:
        with self._transaction() as db, db.cursor() as cursor:
            for table, rows in tables.items():
                columns = COLUMNS[table]
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    def count_rows(self, table: str) -> int:
        assert table in COLUMNS
        with self._transaction() as db:
            return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def _lock_key(article_id: str) -> int:
    """A stable signed 32-bit key for an article id (a collision only serialises two ids)."""
    digest = hashlib.blake2b(article_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)
