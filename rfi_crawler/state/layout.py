"""The state store's tables as SQL, written once for every backend."""

from __future__ import annotations

from typing import Any, Protocol


class _Executes(Protocol):
    def execute(self, statement: Any, /) -> Any: ...


# Version 3: the archive days a backfill finished (every item its day page listed reached
# a final outcome, the day is over in Paris). Also the 2 → 3 migration of both backends.
ARCHIVE_DAYS = """
CREATE TABLE IF NOT EXISTS archive_days (
    day TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    done_at TEXT NOT NULL
)
"""

# The current layout (STORE_VERSION); backends differ only in their floating-point type.
_TABLES = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    published_at TEXT,
    modified_at TEXT,
    related TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    version INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    field_hashes TEXT,
    extractor_version INTEGER,
    checked_at TEXT,
    check_outcome TEXT,
    check_run TEXT,
    removed_at TEXT
);
CREATE INDEX articles_url ON articles (url);
CREATE INDEX articles_published ON articles (published_at);
CREATE TABLE claims (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    published_at TEXT,
    modified_at TEXT,
    related TEXT NOT NULL,
    run_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    field_hashes TEXT,
    extractor_version INTEGER,
    changed_fields TEXT,
    change_cause TEXT,
    detected_at TEXT,
    PRIMARY KEY (id, version)
);
CREATE INDEX claims_run ON claims (run_id);
{versions}
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    job TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finish_reason TEXT,
    output_path TEXT NOT NULL,
    lock_path TEXT NOT NULL,
    host TEXT,
    pid INTEGER,
    pid_start TEXT,
    heartbeat_at TEXT
);
-- Short-lived, expiring locks between processes (the scheduler's overlap guard).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    kind TEXT NOT NULL,
    acquired_at {real} NOT NULL,
    expires_at {real} NOT NULL
);
{archive_days}
"""


# What each exported version changed (JSON list of fields), why, and when first seen.
VERSIONS = """
CREATE TABLE versions (
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    changed_fields TEXT,
    change_cause TEXT,
    detected_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
"""

# 2 → 3, for both backends: the re-check columns and the versions table. (Store version 3
# may hold other additions too; each keeps to its own statements.)
RECHECK_MIGRATION = (
    """
ALTER TABLE articles ADD COLUMN field_hashes TEXT;
ALTER TABLE articles ADD COLUMN extractor_version INTEGER;
ALTER TABLE articles ADD COLUMN checked_at TEXT;
ALTER TABLE articles ADD COLUMN check_outcome TEXT;
ALTER TABLE articles ADD COLUMN check_run TEXT;
ALTER TABLE articles ADD COLUMN removed_at TEXT;
CREATE INDEX articles_published ON articles (published_at);
ALTER TABLE claims ADD COLUMN field_hashes TEXT;
ALTER TABLE claims ADD COLUMN extractor_version INTEGER;
ALTER TABLE claims ADD COLUMN changed_fields TEXT;
ALTER TABLE claims ADD COLUMN change_cause TEXT;
ALTER TABLE claims ADD COLUMN detected_at TEXT;
"""
    + VERSIONS
)


def tables_sql(real: str) -> str:
    """The current layout's DDL; ``real`` is the backend's 8-byte float type."""
    return _TABLES.format(real=real, archive_days=ARCHIVE_DAYS, versions=VERSIONS)


def execute_script(db: _Executes, script: str) -> None:
    """Statement by statement, inside the caller's transaction (SQLite's ``executescript``
    would commit it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
