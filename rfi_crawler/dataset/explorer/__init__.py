"""Datasette plugin for ``rfi-dataset serve``: article pages as readable text with their
related articles, the articles linking to them, their versions with what changed between
them, and their removal; search hits linked to their article."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from datasette import hookimpl
from datasette.utils import tilde_decode
from markupsafe import Markup, escape

from rfi_crawler.dataset.build import csv_safe
from rfi_crawler.dataset.edits import web_url
from rfi_crawler.dataset.textdiff import TEXT_FIELDS, counts, runs

PLUGIN = __name__
# Unchanged text around a change is cut to this many characters on each side.
CONTEXT_CHARS = 40


@hookimpl
def prepare_connection(conn: Any) -> None:
    # rfi_script_forms(q): q and its forms in the other script, as a JSON array, for the
    # search_any_script query (only when OpenCC is installed; serve.py then offers it).
    forms = script_forms()
    if forms is not None:
        conn.create_function(
            "rfi_script_forms",
            1,
            lambda q: json.dumps(forms(q or ""), ensure_ascii=False),
            deterministic=True,
        )


def script_forms() -> Callable[[str], list[str]] | None:
    """``q`` with its simplified and traditional forms (OpenCC), or None without OpenCC."""
    try:
        import opencc
    except ImportError:
        return None
    to_hans, to_hant = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")

    def forms(q: str) -> list[str]:
        hant = to_hant.convert(q)
        # OpenCC writes 臺; texts from Taiwan mostly write 台灣 (both are traditional).
        found = [q, to_hans.convert(q), hant, hant.replace("臺", "台")]
        return sorted(set(found))

    return forms


@hookimpl
def asgi_wrapper(datasette: Any):
    """Reads only: any method but GET and HEAD is refused before Datasette sees it (its
    database is immutable anyway; this also closes the POST forms of canned queries).
    CSV downloads get their formula cells neutralised, as ``build --format csv`` does."""

    def wrap(app: Any) -> Any:
        async def read_only(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 405,
                        "headers": [(b"content-type", b"text/plain"), (b"allow", b"GET, HEAD")],
                    }
                )
                await send({"type": "http.response.body", "body": b"read-only\n"})
                return
            if scope["type"] == "http" and _is_csv(scope):
                await app(_unsorted(_without_trace(scope)), receive, CsvCells(send))
                return
            await app(scope, receive, send)

        return read_only

    return wrap


def _is_csv(scope: dict) -> bool:
    """A request Datasette answers with CSV: its path, read as Datasette's router reads it
    (the raw path), ends in ``.csv`` (tables, rows, queries, ``?_stream=1`` too)."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope.get("path", "")
    return path.partition("?")[0].endswith(".csv")


def _unsorted(scope: dict) -> dict:
    """The articles' CSV asked for in no order is given in their key's (``_sort=article_id``):
    Datasette pages a download by the table's default sort (``published_at``, newest first),
    and where many rows share one value it repeats some and leaves others out (0.65.5;
    ``_nosort`` does not help)."""
    raw = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string", b"")
    names = {unquote_plus(part.split(b"=")[0].decode("latin-1")) for part in query.split(b"&")}
    if not raw.partition(b"?")[0].endswith(b"/articles.csv") or names & {"_sort", "_sort_desc"}:
        return scope
    return {**scope, "query_string": query + (b"&" if query else b"") + b"_sort=article_id"}


def _without_trace(scope: dict) -> dict:
    """``_trace=1`` wraps the CSV in an HTML page: not offered, the CSV stays plain (the
    other parameters are kept byte for byte)."""
    parts = scope.get("query_string", b"").split(b"&")
    kept = [p for p in parts if unquote_plus(p.split(b"=")[0].decode("latin-1")) != "_trace"]
    return scope if len(kept) == len(parts) else {**scope, "query_string": b"&".join(kept)}


# A quote (which opens or closes a quoted cell) or a line end (which ends a record outside one).
_QUOTE_OR_LINE_END = re.compile('["\n]')


class CsvCells:
    """``send`` for a CSV response: the body's records rewritten with every formula cell
    (``=``, ``+``, ``-``, ``@``, tab, CR first) neutralised by ``csv_safe``, as ``build
    --format csv`` writes its text cells (here every cell is text: a negative number gets
    its ``'`` too). A streamed body comes in pieces: only whole records are rewritten, the
    rest waits for the next piece."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.csv = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.pending = ""
        self.scanned = 0  # of pending, read for quotes and line ends
        self.quoted = False  # at ``scanned``, inside a quoted cell

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            kind = next((bytes(v) for k, v in headers if bytes(k).lower() == b"content-type"), b"")
            # Datasette's CSV is text/csv (a download) or text/plain (shown); error pages
            # are HTML and pass as they are.
            self.csv = kind.startswith((b"text/csv", b"text/plain"))
            if self.csv:  # the length changes with the cells
                headers = [h for h in headers if bytes(h[0]).lower() != b"content-length"]
            await self.send({**message, "headers": headers})
            return
        if message["type"] != "http.response.body" or not self.csv:
            await self.send(message)
            return
        more = message.get("more_body", False)
        self.pending += self.decoder.decode(message.get("body", b""), final=not more)
        end = len(self.pending) if not more else self._whole_records()
        done, self.pending = self.pending[:end], self.pending[end:]
        self.scanned -= end
        await self.send({**message, "body": neutralised(done).encode("utf-8")})

    def _whole_records(self) -> int:
        """Where the last whole record of ``pending`` ends (0: none yet)."""
        end = 0
        for found in _QUOTE_OR_LINE_END.finditer(self.pending, self.scanned):
            if found.group() == '"':
                self.quoted = not self.quoted
            elif not self.quoted:
                end = found.end()
        self.scanned = len(self.pending)
        return end


def neutralised(text: str) -> str:
    """CSV text with its formula cells neutralised, in the dialect Datasette writes."""
    if not text:
        return text
    # A body of 140,000 characters is one cell: past the reader's default limit (131,072)
    # the rows after it were lost. The limit is the process's; serve's reads only this.
    csv.field_size_limit(sys.maxsize)
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([csv_safe(cell) for cell in row])
    return out.getvalue()


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.static_plugins(PLUGIN, "explorer.css")]


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
):
    # In canned queries (table is None) a title next to its article_id links to the article.
    if table is None and column == "title" and "article_id" in row.keys():  # noqa: SIM118 (sqlite3.Row: `in` tests values)
        article_id = row["article_id"]
        if isinstance(article_id, int) and value is not None:
            href = datasette.urls.row(database, "articles", str(article_id))
            return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    return None


@hookimpl
def extra_template_vars(
    view_name: str, table: str | None, database: str, request: Any, datasette: Any
):
    if view_name != "row" or table != "articles" or request is None:
        return {}

    async def article_vars() -> dict[str, Any]:
        pks = request.url_vars.get("pks", "")
        try:
            article_id = int(tilde_decode(pks))
        except ValueError:
            return {}
        return await _article(datasette, database, article_id)

    return article_vars


async def _article(datasette: Any, database: str, article_id: int) -> dict[str, Any]:
    db = datasette.get_database(database)
    found = await db.execute(
        "SELECT title, lead, body, subheadings, published_at, section, programme, url,"
        " removed_at,"
        " (SELECT group_concat(name, '、') FROM (SELECT au.name FROM article_authors aa"
        " JOIN authors au ON au.id = aa.author_id WHERE aa.article_id = a.article_id"
        " ORDER BY aa.position)) AS authors,"
        " (SELECT group_concat(name, '、') FROM (SELECT t.name FROM article_tags at"
        " JOIN tags t ON t.id = at.tag_id WHERE at.article_id = a.article_id"
        " ORDER BY at.position)) AS tags"
        " FROM articles a WHERE article_id = ?",
        [article_id],
    )
    row = found.first()
    if row is None:
        return {}
    subheads = set(_json_list(row["subheadings"]))
    blocks = [
        {"text": text, "subhead": text in subheads}
        for text in (row["body"] or "").split("\n\n")
        if text.strip()
    ]
    related = await db.execute(
        "SELECT r.title, r.to_url, r.to_article_id, t.published_at FROM related r"
        " LEFT JOIN articles t ON t.article_id = r.to_article_id"
        " WHERE r.from_article_id = ? ORDER BY r.position",
        [article_id],
    )
    linking = await db.execute(
        "SELECT f.article_id, f.title, f.published_at, group_concat(via, ' + ') AS via FROM ("
        " SELECT from_article_id, 'related' AS via FROM related WHERE to_article_id = :id"
        " UNION SELECT from_article_id, 'body link' FROM links WHERE to_article_id = :id)"
        " JOIN articles f ON f.article_id = from_article_id"
        " GROUP BY f.article_id ORDER BY f.published_at DESC, f.article_id",
        {"id": article_id},
    )

    def href(target: int | None) -> str | None:
        return None if target is None else datasette.urls.row(database, "articles", str(target))

    versions = []
    if await db.table_exists("article_versions"):
        found_versions = await db.execute(
            "SELECT version_id, version, detected_at, crawl_fetched_at, changed_fields,"
            " change_cause, title, kicker, lead, body FROM article_versions"
            " WHERE article_id = ? ORDER BY version",
            [article_id],
        )
        versions = _versions(
            [dict(r) for r in found_versions.rows],
            lambda pk: datasette.urls.row(database, "article_versions", str(pk)),
        )

    return {
        "rfi_article": {**dict(row), "url": web_url(row["url"]), "blocks": blocks},
        "rfi_licence": datasette.metadata("license"),
        "rfi_versions": versions,
        "rfi_related": [
            {
                "title": r["title"] or r["to_url"],
                "href": href(r["to_article_id"]),
                "url": web_url(r["to_url"]),
                "published_at": r["published_at"],
            }
            for r in related.rows
        ],
        "rfi_linking": [
            {
                "title": r["title"],
                "href": href(r["article_id"]),
                "published_at": r["published_at"],
                "via": r["via"],
            }
            for r in linking.rows
        ],
    }


def _versions(rows: list[dict[str, Any]], href: Callable[[int], str]) -> list[dict[str, Any]]:
    """Each version with its page, and (after the first) what changed in its text fields
    since the one before, as runs of unchanged text (cut) and changes."""
    shown = []
    for before, row in zip([None, *rows], rows, strict=False):
        changes = []
        for name in TEXT_FIELDS if before is not None else ():
            found = runs(before[name] or "", row[name] or "")
            if any(run.op != "equal" for run in found):
                changes.append({"field": name, "runs": _cut(found), **counts(found)})
        shown.append(
            {
                "version": row["version"],
                "href": href(row["version_id"]),
                "detected_at": row["detected_at"] or row["crawl_fetched_at"],
                "changed_fields": ", ".join(_json_list(row["changed_fields"])),
                "cause": row["change_cause"],
                "changes": changes,
            }
        )
    return shown


def _cut(found: list[Any]) -> list[dict[str, str]]:
    """Runs for display: long unchanged stretches keep their ends next to the changes."""
    shown = []
    for index, run in enumerate(found):
        text = run.old
        if run.op == "equal" and len(text) > 2 * CONTEXT_CHARS:
            head = text[:CONTEXT_CHARS] if index else ""
            tail = text[-CONTEXT_CHARS:] if index < len(found) - 1 else ""
            text = f"{head}…{tail}"
        shown.append({"op": run.op, "old": text if run.op == "equal" else run.old, "new": run.new})
    return shown


def _json_list(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
