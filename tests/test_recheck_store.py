"""The state store's side of re-checks, every backend: each version's changed fields,
cause and detection time; check outcomes, removals and restorations; layout 2 → 3."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from rfi_crawler.records import EXTRACTOR_VERSION, content_hash
from rfi_crawler.state import STORE_VERSION, CheckState, ClaimStatus, Removal, open_store
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)

T1, T2, T3, T4 = (f"2026-11-25T1{n}:00:00+00:00" for n in range(4))
URL = "https://www.rfi.fr/cn/x/20261125-a"

# The version-2 layout, as a store made before re-checks holds it ({real}: the float type).
LAYOUT_2 = """
CREATE TABLE articles (id TEXT PRIMARY KEY, url TEXT NOT NULL, content_hash TEXT NOT NULL,
    published_at TEXT, modified_at TEXT, related TEXT NOT NULL DEFAULT '[]',
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, version INTEGER NOT NULL,
    run_id TEXT NOT NULL);
CREATE INDEX articles_url ON articles (url);
CREATE TABLE claims (id TEXT NOT NULL, version INTEGER NOT NULL, url TEXT NOT NULL,
    content_hash TEXT NOT NULL, published_at TEXT, modified_at TEXT, related TEXT NOT NULL,
    run_id TEXT NOT NULL, claimed_at TEXT NOT NULL, PRIMARY KEY (id, version));
CREATE INDEX claims_run ON claims (run_id);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, job TEXT, started_at TEXT NOT NULL,
    finished_at TEXT, finish_reason TEXT, output_path TEXT NOT NULL, lock_path TEXT NOT NULL,
    host TEXT, pid INTEGER, pid_start TEXT, heartbeat_at TEXT);
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, kind TEXT NOT NULL,
    acquired_at {real} NOT NULL, expires_at {real} NOT NULL)
"""


def record(title="标题", body="正文。", extractor=EXTRACTOR_VERSION, **more) -> dict:
    found = {
        "id": "a",
        "url": URL,
        "title": title,
        "lead": None,
        "body": body,
        "tags": [],
        "published_at": "2026-11-25T08:00:00+00:00",
        "modified_at": None,
        "related": [],
        "extractor_version": extractor,
        **more,
    }
    found["content_hash"] = content_hash(found["title"], found["lead"], found["body"])
    return found


@pytest.fixture
def store(state_uri):  # noqa: F811
    store = open_store(state_uri)
    yield store
    store.close()


def export(store, found, run, now):
    claim = store.claim(found, run, now)
    if claim.status in (ClaimStatus.NEW, ClaimStatus.CHANGED):
        assert store.commit([(found["id"], claim.version)], run, now) == 1
    return claim


def test_each_version_says_which_fields_changed_why_and_when(store):
    first = export(store, record(), "r1", T1)
    assert (first.status, first.changed_fields, first.change_cause) == (ClaimStatus.NEW, None, None)
    edited = export(store, record(title="新标题", body="正文。更正。"), "r2", T2)
    assert edited.status is ClaimStatus.CHANGED
    assert edited.changed_fields == ("title", "body")
    assert edited.change_cause == "rfi"
    tagged = export(store, record(title="新标题", body="正文。更正。", tags=["中国"]), "r3", T3)
    # The content hash covers title, lead and body only; tags alone are no new version.
    assert tagged.status is ClaimStatus.UNCHANGED
    ours = export(store, record(title="新标题", body="正文。 更正。", extractor=99), "r4", T4)
    assert (ours.changed_fields, ours.change_cause) == (("body",), "extractor")
    rows = sorted(store.rows("versions"))
    assert rows == [
        ("a", 1, None, None, T1, "r1"),
        ("a", 2, json.dumps(["title", "body"]), "rfi", T2, "r2"),
        ("a", 3, json.dumps(["body"]), "extractor", T4, "r4"),
    ]


def test_a_failed_check_is_a_removal_only_when_another_run_agrees(store):
    export(store, record(), "r1", T1)
    assert store.check_failed(URL + "-never-exported", "http_404", "r2", T2) is None
    verdict, before = store.check_failed(URL, "http_404", "r2", T2)
    assert verdict is Removal.PENDING and before.check_outcome == "ok"
    # Twice in one run is one check: still pending.
    assert store.check_failed(URL, "http_410", "r2", T2)[0] is Removal.PENDING
    (state,) = store.recheck_candidates("2099-01-01")  # awaiting confirmation: always offered
    assert (state.unconfirmed, state.check_outcome, state.check_run) == (True, "http_410", "r2")
    verdict, before = store.check_failed(URL, "http_404", "r3", T3)
    assert verdict is Removal.REMOVED and before.last_checked == T2
    assert store.check_failed(URL, "http_404", "r4", T4)[0] is Removal.STILL_REMOVED
    assert store.recheck_candidates("2099-01-01") == []  # removed: only the schedule offers it
    (state,) = store.recheck_candidates("2026-11-01")
    assert state.removed_at == T3


def test_an_article_that_answers_again_is_restored_once(store):
    export(store, record(), "r1", T1)
    store.check_failed(URL, "redirect", "r2", T2)
    store.check_failed(URL, "redirect", "r3", T3)
    claim = store.claim(record(), "r4", T4)
    assert (claim.status, claim.restored) == (ClaimStatus.UNCHANGED, True)
    assert store.claim(record(), "r5", T4).restored is False
    (state,) = store.recheck_candidates("2026-11-01")
    assert (state.removed_at, state.check_outcome, state.last_checked) == (None, "ok", T4)


def test_a_glitch_answered_by_a_good_check_is_forgotten(store):
    export(store, record(), "r1", T1)
    store.check_failed(URL, "http_404", "r2", T2)
    export(store, record(), "r3", T3)
    assert store.check_failed(URL, "http_404", "r4", T4)[0] is Removal.PENDING


def test_recheck_candidates_are_the_recent_articles_with_their_check_times(store):
    export(store, record(), "r1", T1)
    old = record(published_at="2026-01-01T08:00:00+00:00")
    export(store, {**old, "id": "b", "url": URL + "-old"}, "r1", T1)
    assert [s.url for s in store.recheck_candidates("2026-11-01")] == [URL]
    export(store, record(), "r2", T2)  # unchanged: a check all the same
    (state,) = store.recheck_candidates("2026-11-01")
    assert state == CheckState(URL, "a", 1, "2026-11-25T08:00:00+00:00", T1, T2, "ok", "r2")


def _make_layout_2(uri: str) -> None:
    values = ("a", URL, record()["content_hash"], "2026-11-25T08:00:00+00:00", T1, T1, 1, "old")
    insert = "INSERT INTO articles VALUES ({0}, {0}, {0}, {0}, NULL, '[]', {0}, {0}, {0}, {0})"
    if uri.startswith("sqlite:///"):
        db = sqlite3.connect(uri.removeprefix("sqlite:///"))
        db.executescript(LAYOUT_2.format(real="REAL"))
        db.execute(insert.format("?"), values)
        db.execute("PRAGMA user_version = 2")
        db.commit()
        db.close()
        return
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute("CREATE TABLE rfi_state_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO rfi_state_version VALUES (2)")
        for statement in LAYOUT_2.format(real="DOUBLE PRECISION").split(";"):
            db.execute(statement)
        db.execute(insert.format("%s"), values)


def test_a_version_2_store_is_migrated_and_learns_field_hashes_as_it_goes(state_uri):  # noqa: F811
    _make_layout_2(state_uri)
    store = open_store(state_uri)
    try:
        (state,) = store.recheck_candidates("2026-11-01")
        assert (state.first_seen, state.last_checked, state.check_outcome) == (T1, T1, None)
        # Unchanged: the stored version gains its field hashes and extractor...
        assert store.claim(record(), "r2", T2).status is ClaimStatus.UNCHANGED
        # ...so the next change knows its fields and its cause.
        edited = export(store, record(body="改了。"), "r3", T3)
        assert (edited.version, edited.changed_fields, edited.change_cause) == (2, ("body",), "rfi")
    finally:
        store.close()
    again = open_store(state_uri)  # opening again migrates nothing
    try:
        assert again.count() == 1
    finally:
        again.close()
    if state_uri.startswith("sqlite:///"):
        db = sqlite3.connect(state_uri.removeprefix("sqlite:///"))
        assert db.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION == 3
        db.close()


def test_a_version_2_store_without_field_hashes_says_it_does_not_know(state_uri):  # noqa: F811
    _make_layout_2(state_uri)
    store = open_store(state_uri)
    try:
        edited = export(store, record(body="改了。"), "r2", T2)
        assert (edited.changed_fields, edited.change_cause) == (None, None)
    finally:
        store.close()
