"""SQLite state store: WAL journal, every write in a ``BEGIN IMMEDIATE`` transaction.

Several crawls may share one file: SQLite serialises the writers (each waits up to
``timeout`` seconds, RFI_STATE_TIMEOUT, for another's transaction), and a version is reserved by a
claim row before it is written, so two runs never export the same version.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from rfi_crawler.state import (
    Claim,
    ClaimStatus,
    KnownArticle,
    RunRecord,
    StateStoreError,
)

logger = logging.getLogger(__name__)
_BATCH = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    published_at TEXT,
    modified_at TEXT,
    related TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
CREATE TABLE IF NOT EXISTS claims (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    published_at TEXT,
    modified_at TEXT,
    related TEXT NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE INDEX IF NOT EXISTS claims_run ON claims (run_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finish_reason TEXT,
    output_path TEXT NOT NULL,
    lock_path TEXT NOT NULL
);
"""


class SqliteStateStore:
    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path, self.timeout = path, timeout
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            # A commit says "these lines are on disk": it must survive a power cut too.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)  # idempotent; runs in its own transaction
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot open state store {path}: {exc}") from exc

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db, self.path, self.timeout)

    def known(self, url: str) -> KnownArticle | None:
        row = self.db.execute(
            "SELECT id, published_at, version, related FROM articles WHERE url = ? "
            "ORDER BY version DESC LIMIT 1",
            (url,),
        ).fetchone()
        if row is None:
            return None
        return KnownArticle(row[0], row[1], row[2], tuple(json.loads(row[3])))

    def known_many(self, urls: list[str]) -> dict[str, KnownArticle]:
        found: dict[str, KnownArticle] = {}
        unique = list(dict.fromkeys(urls))
        for start in range(0, len(unique), _BATCH):  # under SQLite's bound-variable limit
            batch = unique[start : start + _BATCH]
            rows = self.db.execute(
                "SELECT url, id, published_at, version, related FROM articles"
                f" WHERE url IN ({', '.join('?' * len(batch))}) ORDER BY version",
                batch,
            )
            for url, article_id, published, version, related in rows:
                # The highest version wins, as in ``known``.
                found[url] = KnownArticle(
                    article_id, published, version, tuple(json.loads(related))
                )
        return found

    def claim(self, record: dict[str, Any], run_id: str, now: str) -> Claim:
        article_id, content_hash = record["id"], record["content_hash"]
        with self._transaction():
            row = self.db.execute(
                "SELECT content_hash, modified_at, version FROM articles WHERE id = ?",
                (article_id,),
            ).fetchone()
            pending = self.db.execute(
                "SELECT version, content_hash FROM claims WHERE id = ?", (article_id,)
            ).fetchall()
            if any(claimed_hash == content_hash for _, claimed_hash in pending):
                return Claim(ClaimStatus.TAKEN)
            if row and row[0] == content_hash and not _newer(record.get("modified_at"), row[1]):
                self.db.execute("UPDATE articles SET last_seen = ? WHERE id = ?", (now, article_id))
                return Claim(ClaimStatus.UNCHANGED, row[2])
            version = max([row[2] if row else 0, *(v for v, _ in pending)]) + 1
            self.db.execute(
                "INSERT INTO claims (id, version, url, content_hash, published_at, modified_at,"
                " related, run_id, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    article_id,
                    version,
                    record["url"],
                    content_hash,
                    record.get("published_at"),
                    record.get("modified_at"),
                    json.dumps([link["url"] for link in record.get("related") or []]),
                    run_id,
                    now,
                ),
            )
        return Claim(ClaimStatus.NEW if version == 1 else ClaimStatus.CHANGED, version)

    def commit(self, keys: list[tuple[str, int]], run_id: str, now: str) -> int:
        committed = 0
        with self._transaction():
            for article_id, version in keys:
                claim = self.db.execute(
                    "SELECT url, content_hash, published_at, modified_at, related FROM claims"
                    " WHERE id = ? AND version = ? AND run_id = ?",
                    (article_id, version, run_id),
                ).fetchone()
                if claim is None:
                    continue  # already committed (a recovered batch)
                self.db.execute(
                    "INSERT INTO articles (id, url, content_hash, published_at, modified_at,"
                    " related, first_seen, last_seen, version, run_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET url = excluded.url,"
                    " content_hash = excluded.content_hash, published_at = excluded.published_at,"
                    " modified_at = excluded.modified_at, related = excluded.related,"
                    " last_seen = excluded.last_seen,"
                    " version = excluded.version, run_id = excluded.run_id"
                    " WHERE excluded.version > articles.version",
                    (article_id, *claim, now, now, version, run_id),
                )
                self.db.execute(
                    "DELETE FROM claims WHERE id = ? AND version = ?", (article_id, version)
                )
                committed += 1
        return committed

    def release(self, run_id: str) -> int:
        with self._transaction():
            return self.db.execute("DELETE FROM claims WHERE run_id = ?", (run_id,)).rowcount

    def begin_run(self, run: RunRecord) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT INTO runs (run_id, job, started_at, output_path, lock_path)"
                " VALUES (?, ?, ?, ?, ?)",
                (run.run_id, run.job, run.started_at, run.output_path, run.lock_path),
            )

    def finish_run(self, run_id: str, finished_at: str, reason: str) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE runs SET finished_at = ?, finish_reason = ? WHERE run_id = ?",
                (finished_at, reason, run_id),
            )

    def unfinished_runs(self) -> list[RunRecord]:
        rows = self.db.execute(
            "SELECT run_id, job, started_at, output_path, lock_path FROM runs"
            " WHERE finished_at IS NULL ORDER BY started_at"
        ).fetchall()
        return [RunRecord(*row) for row in rows]

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]

    def exported_versions(self) -> dict[str, int]:
        """id → latest exported version (for checks and tools; reads the whole table)."""
        return dict(self.db.execute("SELECT id, version FROM articles"))

    def close(self) -> None:
        self.db.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection, path: Path, timeout: float) -> None:
        self.db, self.path, self.timeout = db, path, timeout

    def __enter__(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateStoreError(
                f"state store {self.path} stayed locked by another crawl for {self.timeout:g}s"
                f" ({exc}); nothing was written. Retry later, or raise RFI_STATE_TIMEOUT."
            ) from exc

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


def _newer(candidate: str | None, stored: str | None) -> bool:
    """ISO UTC strings of one format compare as text."""
    return bool(candidate and (stored is None or candidate > stored))
