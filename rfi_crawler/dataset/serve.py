"""``rfi-dataset serve rfi.db``: Datasette on 127.0.0.1, read-only, with metadata that makes
the corpus self-explaining (Datasette is the optional ``[explore]`` extra)."""

from __future__ import annotations

import errno
import json
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from rfi_crawler.dataset.sqlite import FTS_MIN_CHARS
from rfi_crawler.dataset.sqlite import columns as article_columns

HOST = "127.0.0.1"
MISSING = "serve needs Datasette 0.65: pip install 'rfi-crawler[explore]'"
SETTINGS = {
    "allow_download": "off",  # the articles are RFI's: browse them, don't hand out the file
    "truncate_cells_html": "160",  # table pages stay scannable; an article page shows it all
    "default_page_size": "50",
    "sql_time_limit_ms": "10000",  # the two-character fallback scans every article
}
LICENCE = (
    "Texts, titles and images © RFI / France Médias Monde. For research use (text and data "
    "mining) only; do not republish the articles."
)

# Substring search: FTS5 trigram for three characters or more; shorter words (台湾, 香港)
# fall back to instr() over the plain columns, which a trigram index cannot answer.
SEARCH_SQL = f"""select article_id, title, published_at, section, count(*) over () as hits
from articles
where article_id in (
  select rowid from articles_fts
  where length(:q) >= {FTS_MIN_CHARS}
    and articles_fts match '"' || replace(:q, '"', '""') || '"'
  union all
  select article_id from articles
  where length(:q) between 1 and {FTS_MIN_CHARS - 1}
    and (instr(title, :q) > 0 or instr(coalesce(lead, ''), :q) > 0 or instr(body, :q) > 0)
)
order by published_at desc, article_id"""

# The same search for each form of the word in either script (OpenCC), when installed.
SEARCH_ANY_SCRIPT_SQL = f"""select article_id, title, published_at, section,
  count(*) over () as hits
from articles
where article_id in (
  select articles_fts.rowid from json_each(rfi_script_forms(:q)) w, articles_fts
  where length(w.value) >= {FTS_MIN_CHARS}
    and articles_fts match '"' || replace(w.value, '"', '""') || '"'
  union
  select a.article_id from json_each(rfi_script_forms(:q)) w, articles a
  where length(w.value) between 1 and {FTS_MIN_CHARS - 1}
    and (instr(a.title, w.value) > 0 or instr(coalesce(a.lead, ''), w.value) > 0
      or instr(a.body, w.value) > 0)
)
order by published_at desc, article_id"""

PER_MONTH_SQL = """select substr(published_at, 1, 7) as month,
  coalesce(section, '(none)') as section, count(*) as articles
from articles
group by month, section
order by month desc, articles desc, section"""

ARTICLE_SQL = """select 0 as part, 'article' as relation, a.article_id, a.title,
  a.published_at, a.url
from articles a where a.article_id = :id
union all
select 1, 'related', r.to_article_id, r.title, t.published_at, r.to_url
from related r left join articles t on t.article_id = r.to_article_id
where r.from_article_id = :id
union all
select 2, 'linked from (related)', f.article_id, f.title, f.published_at, f.url
from related r join articles f on f.article_id = r.from_article_id
where r.to_article_id = :id
union all
select 3, 'linked from (body)', f.article_id, f.title, f.published_at, f.url
from links l join articles f on f.article_id = l.from_article_id
where l.to_article_id = :id
order by part, published_at desc"""

TAGS_PER_YEAR_SQL = """select year, tag, articles from (
  select substr(a.published_at, 1, 4) as year, t.name as tag, count(*) as articles,
    row_number() over (partition by substr(a.published_at, 1, 4)
      order by count(*) desc, t.name) as rank
  from article_tags x
  join articles a on a.article_id = x.article_id
  join tags t on t.id = x.tag_id
  group by year, t.id
)
where rank <= cast(coalesce(nullif(:top, ''), 10) as integer)
order by year desc, articles desc, tag"""


class ServeError(RuntimeError):
    """Datasette is missing, or the file is not a database built by rfi-dataset."""


def check_database(path: Path) -> None:
    if not path.is_file():
        raise ServeError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ServeError(f"{path}: not an SQLite database ({exc})") from exc
    if not {"articles", "articles_fts", "related"} <= names:
        raise ServeError(
            f"{path}: not built by 'rfi-dataset build --format sqlite' (no articles tables)"
        )


def metadata(database: str, *, any_script: bool = False) -> dict[str, Any]:
    """Datasette metadata: what the corpus is, where it comes from, its rights, every
    column's meaning and the canned queries (``search_any_script`` needs OpenCC)."""
    columns = {"article_id": "row number in dataset order (published_at, id, url)"}
    columns |= {name: column.description for name, column in article_columns().items()}
    edges = {
        "from_article_id": "the article whose page gives the link",
        "position": "order on that page, from 0",
        "to_url": "canonical URL of the target",
        "to_article_id": "the target's row, or null when it is not in this dataset",
    }
    queries: dict[str, Any] = {
        "search": {
            "title": "Search title, lead and body",
            "description": (
                f"Substring search, as typed. {FTS_MIN_CHARS}+ characters use the trigram "
                "index; one or two characters (台湾, 香港) scan every article with instr(), "
                "slower on large corpora."
            ),
            "sql": SEARCH_SQL,
            "hide_sql": True,
        }
    }
    if any_script:
        queries["search_any_script"] = {
            "title": "Search in simplified and traditional script",
            "description": (
                "As 'search', for the word and its forms in the other script (OpenCC t2s and "
                "s2t, and 台 for 臺): 台湾 also finds 臺灣 and 台灣. Character conversion, "
                "not vocabulary: 马克龙 does not find 馬克宏."
            ),
            "sql": SEARCH_ANY_SCRIPT_SQL,
            "hide_sql": True,
        }
    queries |= {
        "articles_per_month": {"title": "Articles per month by section", "sql": PER_MONTH_SQL},
        "article": {
            "title": "An article, its related articles and the articles linking to it",
            "description": "id: the article_id of an article.",
            "sql": ARTICLE_SQL,
        },
        "tags_per_year": {
            "title": "Most frequent tags per year",
            "description": "top: how many per year (default 10).",
            "sql": TAGS_PER_YEAR_SQL,
        },
    }
    return {
        "title": "RFI 华语 corpus",
        "description": (
            "Articles of Radio France Internationale's Chinese service, one row per article "
            "(the latest version), with authors, tags, the 'same topic' links each page gave "
            "and the RFI pages its text links to. Full-text search over title, lead and body "
            f"finds substrings of {FTS_MIN_CHARS} characters or more (FTS5 trigram, as typed: "
            "台湾 ≠ 臺灣); for two-character words use the 'search' query."
        ),
        "source": "RFI 华语 (www.rfi.fr/cn/), collected with rfi-crawler",
        "source_url": "https://www.rfi.fr/cn/",
        "license": LICENCE,
        "databases": {
            database: {
                "tables": {
                    "articles": {
                        "description_html": (
                            "One row per article. The search box needs 3 characters or more;"
                            ' for 台湾 or 香港 use the <a href="search">search</a>'
                            " query."
                        ),
                        "label_column": "title",
                        "sort_desc": "published_at",
                        "facets": ["section", "type"],
                        "columns": columns,
                    },
                    "article_versions": {
                        "description": "Every version kept by --all-versions.",
                        "label_column": "title",
                        "columns": {
                            "version_id": "row number",
                            **columns,
                            "article_id": "the article (latest version) in articles",
                        },
                    },
                    "authors": {"label_column": "name", "columns": {"articles": "article count"}},
                    "tags": {"label_column": "name", "columns": {"articles": "article count"}},
                    "related": {
                        "description": "The 'same topic' aside of each article, as given.",
                        "columns": {**edges, "title": "the title the aside showed"},
                    },
                    "links": {
                        "description": "RFI content pages linked from an article's body.",
                        "columns": edges,
                    },
                    "runs": {"description": "The run files (and their manifests) used."},
                },
                "queries": queries,
            }
        },
    }


def serve(path: Path, port: int) -> int:
    """Run Datasette on ``path`` (immutable) until interrupted."""
    try:
        from datasette import cli as datasette_cli
        from datasette.plugins import pm
    except ImportError as exc:
        raise ServeError(f"{MISSING} ({exc})") from exc
    check_database(path)
    check_port(port)
    from rfi_crawler.dataset import explorer

    any_script = explorer.script_forms() is not None
    if not pm.is_registered(explorer):
        pm.register(explorer, name=explorer.PLUGIN)
    with tempfile.TemporaryDirectory(prefix="rfi-serve-") as scratch:
        meta = Path(scratch) / "metadata.json"
        meta.write_text(
            json.dumps(metadata(path.stem, any_script=any_script), ensure_ascii=False),
            encoding="utf-8",
        )
        argv = ["serve", "--immutable", str(path), "--host", HOST, "--port", str(port)]
        argv += ["--metadata", str(meta)]
        for name, value in SETTINGS.items():
            argv += ["--setting", name, value]
        try:
            datasette_cli.cli.main(argv, prog_name="rfi-dataset serve", standalone_mode=False)
        except SystemExit as exc:  # uvicorn's 3 when it cannot start (its message printed)
            if exc.code not in (None, 0):
                raise ServeError(f"Datasette stopped with exit status {exc.code}") from None
    return 0


def check_port(port: int) -> None:
    """Bind the port as uvicorn will (SO_REUSEADDR), so a port in use is one line, not
    uvicorn's log and its exit status 3. Port 0 is any free one."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"port {port} on {HOST} is in use; choose another with --port (0: any free)"
                ) from None
            raise ServeError(f"port {port} on {HOST}: {exc.strerror}") from None
