"""The state store's archive days (layout version 3), every backend: marked once, read by
range, migrated in from version 2, copied by ``rfi-state copy``."""

from __future__ import annotations

import io
import sqlite3

import psycopg
import pytest

from rfi_crawler.state import STORE_VERSION, open_store
from rfi_crawler.state.cli import copy
from rfi_crawler.state.layout import execute_script
from rfi_crawler.state.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)
from tests.test_recheck_store import LAYOUT_2

NOW = "2026-12-06T10:00:00+00:00"
LATER = "2026-12-06T11:00:00+00:00"


@pytest.fixture
def store(state_uri):  # noqa: F811
    store = open_store(state_uri)
    yield store
    store.close()


def test_days_are_marked_and_read_by_inclusive_range(store):
    assert store.archive_days_done("2019-01-01", "2019-12-31") == set()
    store.mark_archive_days_done(["2019-03-01", "2019-03-02", "2019-12-31"], "r1", NOW)
    store.mark_archive_days_done(["2020-01-01"], "r1", NOW)
    assert store.archive_days_done("2019-03-02", "2019-12-31") == {"2019-03-02", "2019-12-31"}
    assert store.archive_days_done("2019-01-01", "2019-03-01") == {"2019-03-01"}
    assert store.archive_days_done("2020-01-02", "2020-12-31") == set()
    assert store.count_rows("archive_days") == 4


def test_a_day_marked_twice_keeps_its_first_run(store):
    store.mark_archive_days_done(["2019-03-01"], "r1", NOW)
    store.mark_archive_days_done(["2019-03-01", "2019-03-02"], "r2", LATER)
    assert sorted(store.rows("archive_days")) == [
        ("2019-03-01", "r1", NOW),
        ("2019-03-02", "r2", LATER),
    ]


def test_two_stores_on_one_uri_see_each_others_days(state_uri):  # noqa: F811
    one, two = open_store(state_uri), open_store(state_uri)
    try:
        one.mark_archive_days_done(["2019-03-01"], "r1", NOW)
        assert two.archive_days_done("2019-01-01", "2019-12-31") == {"2019-03-01"}
    finally:
        one.close()
        two.close()


def _sqlite_version_2(path) -> None:
    """A version-2 SQLite store (its layout as written by that release)."""
    db = sqlite3.connect(path, isolation_level=None)
    execute_script(db, LAYOUT_2.format(real="REAL"))
    db.execute(
        "INSERT INTO articles VALUES ('a', 'https://www.rfi.fr/cn/x/20190301-a', 'h',"
        " NULL, NULL, '[]', ?, ?, 1, 'r0')",
        (NOW, NOW),
    )
    db.execute("PRAGMA user_version = 2")
    db.close()


def test_a_version_2_sqlite_store_is_migrated_keeping_its_articles(tmp_path):
    path = tmp_path / "state.sqlite3"
    _sqlite_version_2(path)
    assert 2 in SQLITE_MIGRATIONS
    store = open_store(str(path))
    try:
        assert store.count() == 1
        store.mark_archive_days_done(["2019-03-01"], "r1", NOW)
        assert store.archive_days_done("2019-03-01", "2019-03-01") == {"2019-03-01"}
    finally:
        store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION
    db.close()


def test_a_version_2_postgres_store_is_migrated_keeping_its_articles(postgres):  # noqa: F811
    uri = postgres.new_database()
    with psycopg.connect(uri, autocommit=True) as db:
        version_table = "CREATE TABLE rfi_state_version (version INTEGER NOT NULL);"
        execute_script(db, version_table + LAYOUT_2.format(real="DOUBLE PRECISION"))
        db.execute("INSERT INTO rfi_state_version VALUES (2)")
        db.execute(
            "INSERT INTO articles VALUES ('a', 'https://www.rfi.fr/cn/x/20190301-a', 'h',"
            " NULL, NULL, '[]', %s, %s, 1, 'r0')",
            (NOW, NOW),
        )
    store = open_store(uri)
    try:
        assert store.count() == 1
        store.mark_archive_days_done(["2019-03-01"], "r1", NOW)
        assert store.archive_days_done("2019-01-01", "2019-12-31") == {"2019-03-01"}
    finally:
        store.close()
    with psycopg.connect(uri) as db:
        assert db.execute("SELECT version FROM rfi_state_version").fetchall() == [(3,)]


def test_rfi_state_copy_carries_the_archive_days(tmp_path, postgres):  # noqa: F811
    source_uri, target_uri = str(tmp_path / "state.sqlite3"), postgres.new_database()
    source = open_store(source_uri)
    source.mark_archive_days_done(["2019-03-01", "2019-03-02"], "r1", NOW)
    source.close()
    out = io.StringIO()
    assert copy(source_uri, target_uri, out), out.getvalue()
    assert "archive_days: 2 rows → 2 rows" in out.getvalue()
    target = open_store(target_uri)
    try:
        assert target.archive_days_done("2019-01-01", "2019-12-31") == {"2019-03-01", "2019-03-02"}
    finally:
        target.close()
