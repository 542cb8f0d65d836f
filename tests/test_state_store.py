"""The state store, every backend: versions, claims, commits, runs, concurrent writers,
schema versions and migration."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager

import psycopg
import pytest

from rfi_crawler.state import (
    STORE_VERSION,
    ClaimStatus,
    RunRecord,
    StateStoreError,
    open_store,
    redact_uri,
)
from tests.postgres import postgres, state_uri  # noqa: F401 (fixtures)

NOW = "2026-11-25T10:00:00+00:00"
LATER = "2026-11-25T10:00:30+00:00"


def record(
    article_id: str = "WBMZ1-RFI-CN-20261125",
    body_hash: str = "a" * 64,
    modified: str | None = None,
) -> dict:
    return {
        "id": article_id,
        "url": f"https://www.rfi.fr/cn/x/20261125-{article_id}",
        "content_hash": body_hash,
        "published_at": "2026-11-25T08:00:00+00:00",
        "modified_at": modified,
        "related": [{"url": "https://www.rfi.fr/cn/y/20261120-other"}],
    }


@pytest.fixture
def store(state_uri):  # noqa: F811
    store = open_store(state_uri)
    yield store
    store.close()


def test_versions_grow_only_when_content_changes(store):
    assert store.claim(record(), "r1", NOW).status is ClaimStatus.NEW
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW) == 1
    assert store.claim(record(), "r2", NOW).status is ClaimStatus.UNCHANGED
    changed = store.claim(record(body_hash="b" * 64), "r2", NOW)
    assert (changed.status, changed.version) == (ClaimStatus.CHANGED, 2)
    store.commit([("WBMZ1-RFI-CN-20261125", 2)], "r2", NOW)
    assert store.count() == 1
    known = store.known(record()["url"])
    assert (known.id, known.version) == ("WBMZ1-RFI-CN-20261125", 2)
    assert known.related == ("https://www.rfi.fr/cn/y/20261120-other",)
    assert known.published_at == "2026-11-25T08:00:00+00:00"


def test_a_batch_of_claims_decides_what_the_same_claims_one_by_one_decide(store):
    """New, taken (this run holds that very version), a second version, unchanged and
    changed after a commit: in one transaction, each claim sees those before it."""

    def steps(prefix):
        first, second = record(f"{prefix}-1"), record(f"{prefix}-2")
        return [
            (first, NOW),
            (second, NOW),
            (first, NOW),
            (record(f"{prefix}-1", body_hash="b" * 64), LATER),
            (record(f"{prefix}-3", modified="2026-11-25T09:00:00+00:00"), LATER),
        ]

    def seen(claims):
        return [(c.status, c.version) for c in claims]

    for prefix in ("one", "batch"):
        store.claim(record(f"{prefix}-2"), "r0", NOW)
        store.commit([(f"{prefix}-2", 1)], "r0", NOW)
    one_by_one = [store.claim(r, "r1", now) for r, now in steps("one")]
    batch = store.claim_many(steps("batch"), "r1")
    assert (
        seen(batch)
        == seen(one_by_one)
        == [
            (ClaimStatus.NEW, 1),
            (ClaimStatus.UNCHANGED, 1),
            (ClaimStatus.TAKEN, None),
            (ClaimStatus.CHANGED, 2),
            (ClaimStatus.NEW, 1),
        ]
    )


def test_a_batch_of_claims_that_fails_leaves_none_of_them(store):
    broken = {"id": "WBMZ9-RFI-CN-20261125"}  # no content hash: the claim raises
    with pytest.raises(KeyError):
        store.claim_many([(record(), NOW), (broken, NOW)], "r1")
    # The first claim was rolled back with the batch: another run may claim it.
    assert store.claim(record(), "r2", NOW).status is ClaimStatus.NEW


def test_known_many_answers_for_the_known_urls_only(store):
    for n in range(3):
        store.claim(record(f"id-{n}"), "r1", NOW)
        store.commit([(f"id-{n}", 1)], "r1", NOW)
    store.claim(record("id-1", body_hash="c" * 64), "r2", NOW)
    store.commit([("id-1", 2)], "r2", NOW)
    urls = [record(f"id-{n}")["url"] for n in range(5)]
    known = store.known_many([*urls, urls[0]])
    assert {url: (k.id, k.version) for url, k in known.items()} == {
        urls[0]: ("id-0", 1),
        urls[1]: ("id-1", 2),
        urls[2]: ("id-2", 1),
    }
    assert store.known_many([]) == {}
    assert store.known(urls[4]) is None


def test_known_many_handles_more_urls_than_one_query_binds(store):
    for n in range(600):
        store.claim(record(f"id-{n}"), "r1", NOW)
    store.commit([(f"id-{n}", 1) for n in range(600)], "r1", NOW)
    known = store.known_many([record(f"id-{n}")["url"] for n in range(700)])
    assert len(known) == 600


def test_a_newer_modified_time_is_a_new_version_even_with_the_same_text(store):
    store.claim(record(modified="2026-11-25T09:00:00+00:00"), "r1", NOW)
    store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW)
    assert (
        store.claim(record(modified="2026-11-25T09:00:00+00:00"), "r2", NOW).status
        is ClaimStatus.UNCHANGED
    )
    claim = store.claim(record(modified="2026-11-25T11:00:00+00:00"), "r2", NOW)
    assert (claim.status, claim.version) == (ClaimStatus.CHANGED, 2)


def test_a_version_claimed_by_one_run_is_not_exported_by_another(store):
    assert store.claim(record(), "r1", NOW).version == 1
    assert store.claim(record(), "r2", NOW).status is ClaimStatus.TAKEN
    # r1 dies without writing: its claim is released and the article is free again.
    assert store.release("r1") == 1
    assert store.claim(record(), "r2", NOW).version == 1


def test_two_pending_versions_of_one_article_get_distinct_numbers(store):
    assert store.claim(record(), "r1", NOW).version == 1
    assert store.claim(record(body_hash="b" * 64), "r2", NOW).version == 2
    assert store.commit([("WBMZ1-RFI-CN-20261125", 2)], "r2", NOW) == 1
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW) == 1
    assert store.known(record()["url"]).version == 2  # an older commit never goes back


def test_commit_ignores_keys_it_does_not_hold(store):
    store.claim(record(), "r1", NOW)
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "other-run", NOW) == 0
    assert store.commit([("missing", 3)], "r1", NOW) == 0
    assert store.count() == 0
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW) == 1
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW) == 0  # once only


def test_runs_are_registered_beat_and_finish(store):
    store.begin_run(RunRecord("r1", None, NOW, "/out/r1.jsonl", "/locks/r1.lock"))
    store.begin_run(
        RunRecord(
            "r2",
            "job-2",
            NOW,
            "/out/r2.jsonl",
            "/locks/r2.lock",
            host="node-a",
            pid=4242,
            pid_start="boot:123",
            heartbeat_at=NOW,
        )
    )
    store.touch_run("r2", LATER)
    store.finish_run("r1", NOW, "finished")
    (r2,) = store.unfinished_runs()
    assert r2 == RunRecord(
        "r2",
        "job-2",
        NOW,
        "/out/r2.jsonl",
        "/locks/r2.lock",
        host="node-a",
        pid=4242,
        pid_start="boot:123",
        heartbeat_at=LATER,
    )


def test_concurrent_writers_never_share_a_version(state_uri):  # noqa: F811
    open_store(state_uri).close()
    results: dict[str, list] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def crawl(run: str) -> None:
        store = open_store(state_uri)
        try:
            for n in range(150):
                claim = store.claim(record(f"id-{n}"), run, NOW)
                if claim.status in (ClaimStatus.NEW, ClaimStatus.CHANGED):
                    store.commit([(f"id-{n}", claim.version)], run, NOW)
                    results[run].append(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=crawl, args=(run,)) for run in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    exported = results["a"] + results["b"]
    assert sorted(exported) == list(range(150))  # each article exported by exactly one run


def test_batches_whose_ids_share_a_lock_key_never_deadlock(postgres):  # noqa: F811
    """PostgreSQL locks a 32-bit key per article id: two ids may share one. Batches take
    their locks in key order, so one waiting for a key another holds can never hold a key
    that the other waits for (by id order, x < z < y with x and y sharing a key, they did)."""
    from rfi_crawler.state.postgres import LOCK_SPACE, _lock_key

    owner: dict[int, str] = {}
    n = 0
    while _lock_key(f"WBMZ{n}") not in owner:
        owner[_lock_key(f"WBMZ{n}")] = f"WBMZ{n}"
        n += 1
    x, y = sorted([owner[_lock_key(f"WBMZ{n}")], f"WBMZ{n}"])
    key = _lock_key(x)
    z = next(c for c in (x + "0", x + "1", x + "~") if x < c < y and _lock_key(c) != key)
    uri = postgres.new_database()
    holder, first, second = (open_store(uri, 30) for _ in range(3))
    results: dict[str, object] = {}

    def claim(name, store, ids):
        try:
            claims = store.claim_many([(record(i), NOW) for i in ids], name)
            results[name] = [c.status for c in claims]
        except Exception as exc:
            results[name] = exc

    def waiting(count: int) -> None:
        for _ in range(3000):  # progress, not time: until both batches wait for a lock
            found = holder.db.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()[0]
            if found >= count:
                return
            threading.Event().wait(0.01)
        raise AssertionError(f"fewer than {count} batches waiting")

    holder.db.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, key))
    threads = [
        threading.Thread(target=claim, args=("r1", first, [x, z])),
        threading.Thread(target=claim, args=("r2", second, [y, z])),
    ]
    try:
        threads[0].start()
        waiting(1)
        threads[1].start()
        waiting(2)
    finally:
        holder.db.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, key))
        for thread in threads:
            thread.join()
        for store in (holder, first, second):
            store.close()
    statuses = sorted(map(str, results.values()))
    assert statuses == sorted(
        map(str, [[ClaimStatus.NEW, ClaimStatus.NEW], [ClaimStatus.NEW, ClaimStatus.TAKEN]])
    ), results


@contextmanager
def write_lock_held(uri: str):
    """Another process's long write on the store."""
    if uri.startswith("sqlite:///"):
        db = sqlite3.connect(uri.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
    else:
        db = psycopg.connect(uri)
        db.execute("LOCK TABLE claims IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        db.rollback() if isinstance(db, psycopg.Connection) else db.execute("ROLLBACK")
        db.close()


def test_a_write_lock_held_too_long_fails_clearly_and_writes_nothing(state_uri):  # noqa: F811
    store = open_store(state_uri, timeout=0.5)
    try:
        with write_lock_held(state_uri), pytest.raises(StateStoreError, match="stayed locked"):
            store.claim(record(), "r1", NOW)
        assert store.claim(record(), "r1", NOW).version == 1  # nothing was left half-done
    finally:
        store.close()


# ---- schema versions -------------------------------------------------------------------

# The first wave's SQLite layout, verbatim (main at 8f8b174): no user_version, runs without
# an owner or heartbeat.
LAYOUT_1 = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, url TEXT NOT NULL, content_hash TEXT NOT NULL, published_at TEXT,
    modified_at TEXT, related TEXT NOT NULL DEFAULT '[]', first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL, version INTEGER NOT NULL, run_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_url ON articles (url);
CREATE TABLE IF NOT EXISTS claims (
    id TEXT NOT NULL, version INTEGER NOT NULL, url TEXT NOT NULL, content_hash TEXT NOT NULL,
    published_at TEXT, modified_at TEXT, related TEXT NOT NULL, run_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL, PRIMARY KEY (id, version)
);
CREATE INDEX IF NOT EXISTS claims_run ON claims (run_id);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, job TEXT, started_at TEXT NOT NULL, finished_at TEXT,
    finish_reason TEXT, output_path TEXT NOT NULL, lock_path TEXT NOT NULL
);
"""


def test_the_first_wave_sqlite_layout_is_migrated_keeping_every_article(tmp_path):
    path = tmp_path / "state.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(LAYOUT_1)
    old.executemany(
        "INSERT INTO articles VALUES (?, ?, ?, ?, NULL, '[]', ?, ?, ?, 'old-run')",
        [
            (f"id-{n}", record(f"id-{n}")["url"], "a" * 64, "2026-11-01", NOW, NOW, 1 + n % 3)
            for n in range(500)
        ],
    )
    old.execute(
        "INSERT INTO runs (run_id, started_at, output_path, lock_path)"
        " VALUES ('dead-run', ?, '/out/x.jsonl', '/locks/x.lock')",
        (NOW,),
    )
    old.commit()
    old.close()

    store = open_store(str(path))
    try:
        assert store.count() == 500
        urls = [record(f"id-{n}")["url"] for n in range(500)]
        known = store.known_many(urls)
        assert {k.id: k.version for k in known.values()} == {
            f"id-{n}": 1 + n % 3 for n in range(500)
        }
        (run,) = store.unfinished_runs()
        assert (run.run_id, run.host, run.heartbeat_at) == ("dead-run", None, None)
        # The migrated store works: an unchanged article is not exported again.
        assert store.claim(record("id-7"), "new-run", NOW).status is ClaimStatus.UNCHANGED
        store.touch_run("dead-run", LATER)
    finally:
        store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == STORE_VERSION
    db.close()
    open_store(str(path)).close()  # opening again migrates nothing


def test_a_sqlite_store_from_a_newer_crawler_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    open_store(str(path)).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {STORE_VERSION + 1}")
    db.close()
    with pytest.raises(StateStoreError) as refused:
        open_store(str(path))
    message = str(refused.value)
    assert f"schema version {STORE_VERSION + 1}, newer than this crawler's" in message
    assert "\n" not in message


def test_a_sqlite_store_whose_folder_cannot_be_made_is_one_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "state" / "state.sqlite3"
    with pytest.raises(StateStoreError) as refused:
        open_store(str(path))
    message = str(refused.value)
    assert message.startswith(f"cannot open state store {path}: ") and "\n" not in message


def test_a_sqlite_store_of_an_unknown_version_is_refused(tmp_path):
    path = tmp_path / "state.sqlite3"
    sqlite3.connect(path).execute("PRAGMA user_version = -3").connection.close()
    with pytest.raises(StateStoreError, match="unknown schema version -3"):
        open_store(str(path))


def test_a_postgres_store_from_a_newer_crawler_is_refused(postgres):  # noqa: F811
    uri = postgres.new_database()
    open_store(uri).close()
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute("UPDATE rfi_state_version SET version = %s", (STORE_VERSION + 1,))
    with pytest.raises(StateStoreError, match="newer than this crawler's") as refused:
        open_store(uri)
    assert postgres.password not in str(refused.value)


def test_a_postgres_database_of_another_application_is_refused(postgres):  # noqa: F811
    uri = postgres.new_database()
    with psycopg.connect(uri, autocommit=True) as db:
        db.execute("CREATE TABLE articles (title TEXT)")
    with pytest.raises(StateStoreError, match="not an rfi-crawler store"):
        open_store(uri)


def opened_together(uri: str, openers: int = 4) -> list[BaseException]:
    """What ``openers`` threads opening ``uri`` at the same moment failed with."""
    start = threading.Barrier(openers)
    failures: list[BaseException] = []

    def opener() -> None:
        start.wait()
        try:
            open_store(uri).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_many_openers_of_a_new_postgres_store_create_it_once(postgres):  # noqa: F811
    uri = postgres.new_database()
    assert opened_together(uri) == []
    with psycopg.connect(uri) as db:
        assert db.execute("SELECT version FROM rfi_state_version").fetchall() == [(STORE_VERSION,)]


def test_many_openers_of_a_new_sqlite_store_wait_for_each_other(tmp_path):
    """SQLite answers "database is locked" at once, without its busy timeout, to a
    connection turning a store to WAL while another does: 9 of 400 openers failed."""
    for trial in range(100):
        assert opened_together(str(tmp_path / f"{trial}.sqlite3")) == []


# ---- URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "relative"),
    [("state.sqlite3", "state.sqlite3"), ("sqlite:///state.sqlite3", "state.sqlite3")],
)
def test_store_uris(tmp_path, monkeypatch, uri, relative):
    monkeypatch.chdir(tmp_path)
    open_store(uri).close()
    assert (tmp_path / relative).exists()
    open_store(f"sqlite:///{tmp_path / 'abs.sqlite3'}").close()
    assert (tmp_path / "abs.sqlite3").exists()


def test_unsupported_or_unusable_stores_fail_clearly(tmp_path):
    with pytest.raises(StateStoreError, match="unsupported"):
        open_store("mysql://db/state")
    (tmp_path / "not-a-db.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateStoreError, match="cannot open state store"):
        open_store(str(tmp_path / "not-a-db.sqlite3"))


def test_an_unreachable_postgres_fails_clearly_without_the_password(postgres):  # noqa: F811
    wrong = postgres.uri().replace(postgres.password, "s3cret-wrong")
    with pytest.raises(StateStoreError, match="cannot open state store") as refused:
        open_store(wrong, timeout=5)
    assert "s3cret-wrong" not in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://rfi:s3cret@db:5432/state", "postgresql://rfi:***@db:5432/state"),
        ("postgresql://rfi@db/state", "postgresql://rfi@db/state"),
        ("postgresql://db/state?password=s3cret&sslmode=require", None),
        ("postgres://u:p%40ss@h/d", "postgres://u:***@h/d"),
        ("postgresql://u:s3cret@h:notaport/d", "postgresql://u:***@h:notaport/d"),
        ("/var/lib/rfi/state.sqlite3", "/var/lib/rfi/state.sqlite3"),
        ("sqlite:////var/lib/rfi/state.sqlite3", "sqlite:////var/lib/rfi/state.sqlite3"),
        # Written raw, as libpq takes them: "#", "/", "?" and "@" inside the password.
        ("postgresql://u:top#s3cret@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u:pa/s3cret@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:pa?s3cret@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:p@s3cret@h/d", "postgresql://u:***@h/d"),
    ],
)
def test_uris_are_redacted(uri, shown):
    redacted = redact_uri(uri)
    assert "s3cret" not in redacted and "p%40ss" not in redacted
    if shown is not None:
        assert redacted == shown
    else:
        assert "password=***" in redacted and "sslmode=require" in redacted


# ---- leases and the runs' history (the scheduler's guard and status) -------------------


def test_a_lease_has_one_holder_until_it_expires_or_is_released(store):
    assert store.acquire_lease("schedule:rfi", "a", 60, 1000.0)
    assert not store.acquire_lease("schedule:rfi", "b", 60, 1059.0)
    assert store.acquire_lease("schedule:rfi", "a", 60, 1059.0)  # a renewal
    assert not store.acquire_lease("schedule:rfi", "b", 60, 1118.0)
    assert store.acquire_lease("schedule:rfi", "b", 60, 1119.5)  # a's lease ran out
    store.release_lease("schedule:rfi", "a")  # not a's any more: nothing happens
    assert not store.acquire_lease("schedule:rfi", "a", 60, 1120.0)
    store.release_lease("schedule:rfi", "b")
    assert store.acquire_lease("schedule:rfi", "a", 60, 1120.0)
    assert store.acquire_lease("other", "b", 60, 1120.0)  # leases are independent


def test_a_lease_is_renewed_only_by_its_holder_while_its_row_is_there(store):
    assert store.acquire_lease("schedule:rfi", "a", 60, 1000.0)
    assert store.renew_lease("schedule:rfi", "a", 60, 1059.0)
    assert not store.acquire_lease("schedule:rfi", "b", 60, 1118.0)  # renewed: till 1119
    assert store.renew_lease("schedule:rfi", "a", 60, 1200.0)  # ran out, nobody took it
    assert store.acquire_lease("schedule:rfi", "b", 60, 1261.0)
    assert not store.renew_lease("schedule:rfi", "a", 60, 1262.0)  # b holds it
    store.release_lease("schedule:rfi", "b")
    assert not store.renew_lease("schedule:rfi", "a", 60, 1263.0)  # b took it, then gave it back
    assert [row[:2] for row in store.rows("leases")] == []


def take_lease(uri: str, name: str, holder: str, start: threading.Barrier, won: list) -> None:
    store = open_store(uri)
    try:
        start.wait()
        if store.acquire_lease(name, holder, 60, 1000.0):
            won.append(holder)
    finally:
        store.close()


def test_racing_takers_of_a_new_lease_get_it_once(state_uri):  # noqa: F811
    open_store(state_uri).close()
    for round_ in range(5):
        won: list[str] = []
        start = threading.Barrier(3)
        threads = [
            threading.Thread(target=take_lease, args=(state_uri, f"race-{round_}", h, start, won))
            for h in "abc"
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1, won


def test_recent_runs_are_newest_first(store):
    for n in range(4):
        store.begin_run(RunRecord(f"r{n}", None, f"2026-11-2{n}T00:00:00+00:00", "/o", "/l"))
    store.finish_run("r1", "2026-11-22T12:00:00+00:00", "finished")
    assert [run.run_id for run in store.recent_runs(3)] == ["r3", "r1", "r2"]
    assert store.recent_runs(3)[1].finish_reason == "finished"


def test_recent_runs_go_by_the_stores_clock_not_their_hosts(store):
    """A run's start is its host's clock; its end and beats are the store's. A host a day
    ahead whose runs ended long ago does not push the runs that ended since out."""
    store.begin_run(RunRecord("ahead", None, "2026-11-26T09:00:00+00:00", "/o", "/l"))
    store.finish_run("ahead", "2026-11-25T09:05:00+00:00", "finished")
    store.begin_run(RunRecord("right", None, "2026-11-25T09:55:00+00:00", "/o", "/l"))
    store.finish_run("right", "2026-11-25T10:00:00+00:00", "finished")
    assert [run.run_id for run in store.recent_runs(1)] == ["right"]
