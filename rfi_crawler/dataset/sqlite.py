"""SQLite output for browsing (``rfi-dataset build --format sqlite``): articles, authors, tags,
related and body-link edges, the runs it was built from, and trigram full-text search.

Built with sqlite-utils (``pip install 'rfi-crawler[explore]'``). Records arrive merged and
ordered (``build.merged``), go into the database in batches, and every derived table is made
by SQL inside SQLite (``json_each``), so memory stays bounded and the same inputs give the
same ``.dump``. The file appears under its name only when complete.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from rfi_crawler.dataset.output import OutputError, link_target
from rfi_crawler.dataset.shape import INT64
from rfi_crawler.export.run_file import read_manifest
from rfi_crawler.schema import record_schema

BATCH = 2000
REMOVED_AT = (
    "when the crawl recorded the article removed by RFI (404/410 or a redirect away, on two"
    " checks in separate runs), unless it came back since; the article is kept"
)
_PREFIX = {"translations": "translation"}  # translation_zh_hans, as the CSV names it
#: Trigram FTS matches substrings of three characters or more; shorter words need a scan.
FTS_MIN_CHARS = 3
#: The latest version of each URL: the highest version, then the latest fetch.
LATEST = (
    "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY url ORDER BY version DESC,"
    " crawl_fetched_at DESC) AS n FROM article_versions) WHERE n = 1"
)


@dataclass(frozen=True)
class Column:
    """An ``articles`` column: a record field, or one key of an object field spread out."""

    field: str
    key: str | None
    kind: type  # int or str; lists and unspread objects are JSON text
    description: str


@cache
def columns() -> dict[str, Column]:
    """The ``articles`` columns, in schema order, with the schema's descriptions: objects
    with known keys (image, crawl, translations) spread into one column per key, lists
    kept as JSON text."""
    found: dict[str, Column] = {}
    for name, spec in record_schema()["properties"].items():
        about = spec.get("description", "")
        keys = _object_keys(spec)
        if keys:
            prefix = _PREFIX.get(name, name)
            for key, inner in keys.items():
                column = f"{prefix}_{key.lower().replace('-', '_')}"
                found[column] = Column(name, key, _kind(inner), f"{about}: {key}")
        else:
            kind = _kind(spec)
            json_text = "array" in _types(spec) or "object" in _types(spec)
            found[name] = Column(name, None, kind, about + (" (JSON)" if json_text else ""))
    found["removed_at"] = Column("removed_at", None, str, REMOVED_AT)
    return found


def _types(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type", [])
    return kind if isinstance(kind, list) else [kind]


def _kind(spec: dict[str, Any]) -> type:
    return int if "integer" in _types(spec) else str


def _object_keys(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for option in [spec, *spec.get("oneOf", [])]:
        if "object" in _types(option) and option.get("properties"):
            return option["properties"]
    return {}


class SqliteUnavailable(RuntimeError):
    """sqlite-utils is missing, or this SQLite has no FTS5 trigram tokenizer."""


def _sqlite_utils() -> Any:
    try:
        import sqlite_utils
    except ImportError as exc:
        raise SqliteUnavailable(
            f"--format sqlite needs sqlite-utils ({exc}); pip install 'rfi-crawler[explore]'"
        ) from exc
    return sqlite_utils


def write_sqlite(
    records: Iterator[dict[str, Any]],
    path: Path,
    files: list[Path],
    *,
    all_versions: bool = False,
) -> None:
    """Write ``records`` (merged, in dataset order) to a new SQLite database at ``path``."""
    sqlite_utils = _sqlite_utils()
    if sqlite3.sqlite_version_info < (3, 34, 0):
        raise SqliteUnavailable(f"SQLite {sqlite3.sqlite_version} has no trigram tokenizer")
    target = _target(path)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = None
    try:
        conn = sqlite3.connect(partial)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB at most; the rest spills to disk
        conn.execute("PRAGMA temp_store=FILE")
        db = sqlite_utils.Database(conn)
        _create_articles(db, "articles", "article_id")
        if all_versions:
            _create_articles(db, "article_versions", "version_id", of_article=True)
            db["article_versions"].insert_all((_row(r) for r in records), batch_size=BATCH)
            names = ", ".join(columns())
            conn.execute(
                f"INSERT INTO articles ({names}) SELECT {names} FROM ({LATEST})"
                " ORDER BY published_at, id, url"
            )
            db["articles"].create_index(["url"], unique=True)  # for the lookup below
            conn.execute(
                "UPDATE article_versions SET article_id ="
                " (SELECT article_id FROM articles WHERE articles.url = article_versions.url)"
            )
            db["article_versions"].create_index(["article_id"])
        else:
            db["articles"].insert_all((_row(r) for r in records), batch_size=BATCH)
        db["articles"].create_index(["url"], unique=True, if_not_exists=True)
        db["articles"].create_index(["published_at"])
        db["articles"].create_index(["section", "published_at"])
        _names(db, "authors", "author_id")
        _names(db, "tags", "tag_id")
        _edges(db, "related", with_title=True)
        _edges(db, "links", with_title=False)
        _runs(db, files)
        _fts(db)
        conn.commit()
    except BaseException as exc:
        if conn is not None:
            conn.close()
        partial.unlink(missing_ok=True)
        if isinstance(exc, sqlite3.OperationalError):  # "database or disk is full"
            raise OutputError(f"{path}: cannot write it ({exc})") from None
        raise
    conn.close()
    os.replace(partial, target)


def _target(path: Path) -> Path:
    """The file to replace: the one a symbolic link points to, never a device or a FIFO
    (a rename would put a regular file in its place); its folder is created."""
    if path.exists() and not path.is_file():
        raise OutputError(f"{path}: not a regular file; give -o a file name for the database")
    target = link_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror})") from None
    return target


def _create_articles(db: Any, name: str, pk: str, *, of_article: bool = False) -> None:
    kinds: dict[str, type] = {pk: int}
    kinds |= {name: column.kind for name, column in columns().items()}
    if of_article:  # a version points at its article
        kinds["article_id"] = int
    keys = [("article_id", "articles", "article_id")] if of_article else None
    db[name].create(kinds, pk=pk, not_null={"url"}, foreign_keys=keys)


def _row(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, column in columns().items():
        value = record.get(column.field)
        if column.key is not None:
            value = value.get(column.key) if isinstance(value, dict) else None
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        row[name] = value
    return row


def _names(db: Any, table: str, key: str) -> None:
    """``authors``/``tags`` (id, name, articles) and the link table ``article_<table>``
    (article_id, <key>, position), from the JSON lists of the articles."""
    link = f"article_{table}"
    db[table].create({"id": int, "name": str, "articles": int}, pk="id", not_null={"name"})
    db[link].create(
        {"article_id": int, key: int, "position": int},
        pk=("article_id", key),
        foreign_keys=[("article_id", "articles", "article_id"), (key, table, "id")],
    )
    # Names sorted, so ids do not depend on which article came first.
    db.execute(
        f"INSERT INTO {table} (name, articles) SELECT j.value, COUNT(DISTINCT a.article_id)"
        f" FROM articles a, json_each(a.{table}) j WHERE j.value <> ''"
        " GROUP BY j.value ORDER BY j.value"
    )
    db[table].create_index(["name"], unique=True)
    db.execute(
        f"INSERT OR IGNORE INTO {link} (article_id, {key}, position)"
        f" SELECT a.article_id, n.id, j.key FROM articles a, json_each(a.{table}) j"
        f" JOIN {table} n ON n.name = j.value ORDER BY a.article_id, j.key"
    )
    db[link].create_index([key])


def _edges(db: Any, table: str, *, with_title: bool) -> None:
    """``related`` (as the page's aside gave them) or ``links`` (from the body): one row per
    edge; ``to_article_id`` is null when the target is not in this dataset."""
    columns: dict[str, type] = {
        "from_article_id": int,
        "position": int,
        "to_url": str,
        "to_article_id": int,
    }
    if with_title:
        columns["title"] = str
    db[table].create(
        columns,
        pk=("from_article_id", "position"),
        foreign_keys=[
            ("from_article_id", "articles", "article_id"),
            ("to_article_id", "articles", "article_id"),
        ],
    )
    url = "json_extract(j.value, '$.url')" if with_title else "j.value"
    title = ", json_extract(j.value, '$.title')" if with_title else ""
    db.execute(
        f"INSERT INTO {table} (from_article_id, position, to_url, to_article_id"
        f"{', title' if with_title else ''}) SELECT a.article_id, j.key, {url},"
        f" (SELECT t.article_id FROM articles t WHERE t.url = {url}){title}"
        f" FROM articles a, json_each(a.{table}) j ORDER BY a.article_id, j.key"
    )
    db[table].create_index(["to_article_id"])


def _runs(db: Any, files: list[Path]) -> None:
    """One row per input file, with its run manifest where one lies beside it."""
    db["runs"].create(
        {
            "file": str,
            "run_id": str,
            "started_at": str,
            "finished_at": str,
            "finish_reason": str,
            "records": int,
            "sha256": str,
            "schema_version": str,
            "manifest": str,
        },
        pk="file",
    )
    rows = []
    for path in files:
        try:
            info = read_manifest(path) or {}
        except ValueError:
            info = {}  # a damaged manifest: the file is still listed (the card names it)
        rows.append(
            {
                "file": str(path),
                **{k: _cell(info.get(k)) for k in ("run_id", "started_at", "finished_at")},
                **{k: _cell(info.get(k)) for k in ("finish_reason", "records", "sha256")},
                "schema_version": _cell(info.get("schema_version")),
                "manifest": json.dumps(info, ensure_ascii=False, sort_keys=True) if info else None,
            }
        )
    db["runs"].insert_all(rows, replace=True)


def _cell(value: Any) -> Any:
    """A manifest value as SQLite holds it: text, a 64-bit integer, else its JSON."""
    if value is None or type(value) is str or (type(value) is int and value in INT64):
        return value
    return json.dumps(value, ensure_ascii=False)


def _fts(db: Any) -> None:
    """FTS5 with the trigram tokenizer over title, lead and body: substring search without a
    word segmenter, for queries of three characters or more."""
    db["articles"].enable_fts(
        ["title", "lead", "body"], fts_version="FTS5", tokenize="trigram", create_triggers=False
    )
    db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
