"""The SQLite state store: versions, claims, commits, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rfi_crawler.state import ClaimStatus, RunRecord, StateStoreError, open_store
from rfi_crawler.state.sqlite import SqliteStateStore

NOW = "2026-11-25T10:00:00+00:00"


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
    }


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    yield store
    store.close()


def test_versions_grow_only_when_content_changes(store):
    assert store.claim(record(), "r1", NOW).status is ClaimStatus.NEW
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "r1", NOW) == 1
    assert store.claim(record(), "r2", NOW).status is ClaimStatus.UNCHANGED
    changed = store.claim(record(body_hash="b" * 64), "r2", NOW)
    assert (changed.status, changed.version) == (ClaimStatus.CHANGED, 2)
    store.commit([("WBMZ1-RFI-CN-20261125", 2)], "r2", NOW)
    assert store.exported_versions() == {"WBMZ1-RFI-CN-20261125": 2}
    known = store.known(record()["url"])
    assert (known.id, known.version) == ("WBMZ1-RFI-CN-20261125", 2)


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


def test_commit_ignores_keys_it_does_not_hold(store):
    store.claim(record(), "r1", NOW)
    assert store.commit([("WBMZ1-RFI-CN-20261125", 1)], "other-run", NOW) == 0
    assert store.commit([("missing", 3)], "r1", NOW) == 0
    assert store.count() == 0


def test_runs_are_registered_and_finished(store):
    store.begin_run(RunRecord("r1", None, NOW, "/out/r1.jsonl", "/locks/r1.lock"))
    store.begin_run(RunRecord("r2", "job-2", NOW, "/out/r2.jsonl", "/locks/r2.lock"))
    store.finish_run("r1", NOW, "finished")
    assert [run.run_id for run in store.unfinished_runs()] == ["r2"]


def test_concurrent_writers_never_share_a_version(tmp_path):
    path = tmp_path / "state.sqlite3"
    SqliteStateStore(path).close()
    results: dict[str, list] = {"a": [], "b": []}

    def crawl(run: str) -> None:
        store = SqliteStateStore(path)
        for n in range(200):
            claim = store.claim(record(f"id-{n}"), run, NOW)
            if claim.status in (ClaimStatus.NEW, ClaimStatus.CHANGED):
                store.commit([(f"id-{n}", claim.version)], run, NOW)
                results[run].append(n)
        store.close()

    threads = [threading.Thread(target=crawl, args=(run,)) for run in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    exported = results["a"] + results["b"]
    assert sorted(exported) == list(range(200))  # each article exported by exactly one run


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
        open_store("postgres://db/state")
    (tmp_path / "not-a-db.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateStoreError, match="cannot open state store"):
        open_store(str(tmp_path / "not-a-db.sqlite3"))
