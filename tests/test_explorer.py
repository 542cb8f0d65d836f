"""rfi-dataset build --format sqlite and rfi-dataset serve: tables, search, determinism, and a
served database that answers reads and refuses writes."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from rfi_crawler.dataset.cli import main
from rfi_crawler.dataset.explorer import prepare_connection, script_forms
from rfi_crawler.dataset.serve import SEARCH_ANY_SCRIPT_SQL, SEARCH_SQL, metadata
from rfi_crawler.schema import record_schema
from tests.crawling import PROJECT_ROOT, run_crawl, run_files
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

SEED = PROJECT_ROOT.parent / "shared" / "seed_corpus"
TODAY = date(2026, 11, 20)
# Real words of the seed corpus: two characters (the instr() fallback) and three or more
# (the trigram index), common and rare.
SEED_WORDS = (
    "台湾",
    "香港",
    "中国",
    "俄罗斯",
    "习近平",
    "马克龙",
    "国际刑事法院",
    "民进党",
    "赖清德",
)
# The seed corpus is all simplified script; these traditional forms are in none of it.
TRADITIONAL_WORDS = ("臺灣", "習近平", "馬克宏")

# The seed corpus has no traditional text, so one made-up tw-edition record stands in.
TW_RECORD = {
    "id": "WBMZ1",
    "url": "https://www.rfi.fr/tw/政治/20251101-1",
    "edition": "tw",
    "language": "zh-Hant",
    "type": "article",
    "title": "臺灣總統選舉",
    "lead": None,
    "body": "習近平談臺灣。\n\n第二段",
    "published_at": "2025-11-01T00:00:00+00:00",
    "authors": [],
    "tags": ["臺灣"],
    "related": [],
    "links": [],
    "crawl": {"fetched_at": "2025-11-02T00:00:00+00:00", "via": "url", "referer": None, "depth": 0},
}


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def containing(records: list[dict], word: str) -> set[str]:
    return {
        r["url"]
        for r in records
        if word in r["title"] + "\n" + (r["lead"] or "") + "\n" + r["body"]
    }


def search(db: Path, word: str) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        sql = f"SELECT a.url FROM ({SEARCH_SQL}) s JOIN articles a USING (article_id)"
        return {url for (url,) in conn.execute(sql, {"q": word})}
    finally:
        conn.close()


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seed_jsonl(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.jsonl"
    assert run("import-archive", SEED, "-o", path) == 0
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, seed_jsonl) -> tuple[Path, list[dict]]:
    """A database of the seed corpus plus a real crawl of the replica (run files with their
    manifests), and the records it was built from. Real and replica records mix here on
    purpose, hence --allow-mixed-origins."""
    work = tmp_path_factory.mktemp("corpus")
    with ReplicaServer(ReplicaSite(articles=60, seed=7, today=TODAY)) as server:
        crawl = run_crawl(server.base_url, work / "crawl", data_dir=work / "data")
    assert crawl.returncode == 0, crawl.log[-3000:]
    files = run_files(work / "data")
    assert files
    db = work / "rfi.db"
    assert (
        run(
            "build",
            "--format",
            "sqlite",
            "--allow-mixed-origins",
            seed_jsonl,
            work / "data" / "output",
            "-o",
            db,
        )
        == 0
    )
    card = (work / "rfi.db.DATASET.md").read_text(encoding="utf-8")
    assert card.startswith("# RFI Chinese articles: rfi.db") and "--format sqlite" in card
    records = lines(seed_jsonl) + [r for f in files for r in lines(f)]
    return db, records


# -- build ----------------------------------------------------------------------------------


def test_tables_hold_every_article_author_tag_and_edge(corpus):
    db, records = corpus
    conn = sqlite3.connect(db)
    urls = {r["url"] for r in records}
    assert {u for (u,) in conn.execute("SELECT url FROM articles")} == urls
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == len(urls)
    # Dataset order: published_at, id, url; article_id numbers it.
    rows = conn.execute("SELECT published_at, id, url FROM articles ORDER BY article_id").fetchall()
    assert rows == sorted(rows)
    pairs = conn.execute(
        "SELECT a.url, au.name FROM article_authors x JOIN articles a USING (article_id)"
        " JOIN authors au ON au.id = x.author_id"
    ).fetchall()
    assert sorted(pairs) == sorted({(r["url"], n) for r in records for n in r["authors"]})
    tagged = conn.execute(
        "SELECT a.url, t.name, x.position FROM article_tags x JOIN articles a USING (article_id)"
        " JOIN tags t ON t.id = x.tag_id"
    ).fetchall()
    assert sorted(tagged) == sorted(
        (r["url"], n, i) for r in records for i, n in enumerate(r["tags"])
    )
    assert sum(len(r["tags"]) for r in records) > 0
    edges = conn.execute(
        "SELECT a.url, r.position, r.to_url, r.title, t.url FROM related r"
        " JOIN articles a ON a.article_id = r.from_article_id"
        " LEFT JOIN articles t ON t.article_id = r.to_article_id"
    ).fetchall()
    expected = [
        (r["url"], i, e["url"], e["title"], e["url"] if e["url"] in urls else None)
        for r in records
        for i, e in enumerate(r["related"])
    ]
    assert sorted(edges, key=str) == sorted(expected, key=str)
    assert any(e[4] for e in edges) and any(e[4] is None for e in edges)  # in and outside
    links = conn.execute(
        "SELECT a.url, l.to_url FROM links l JOIN articles a ON a.article_id = l.from_article_id"
    ).fetchall()
    assert sorted(links) == sorted((r["url"], u) for r in records for u in r["links"])
    runs = conn.execute("SELECT file, run_id, records FROM runs ORDER BY file").fetchall()
    crawled = [r for r in runs if r[1]]
    assert len(runs) == 1 + len(crawled) and crawled  # the seed file has no manifest
    assert sum(r[2] for r in crawled) == len(records) - len(lines_of_seed(records))
    conn.close()


def lines_of_seed(records: list[dict]) -> list[dict]:
    return [r for r in records if r["crawl"]["via"] == "archive"]


@pytest.mark.parametrize("word", SEED_WORDS + TRADITIONAL_WORDS)
def test_search_finds_exactly_the_articles_containing_a_word(corpus, word):
    db, records = corpus
    expected = containing(records, word)
    if word in SEED_WORDS:
        assert containing(lines_of_seed(records), word), f"{word} is not a seed-corpus word"
    assert search(db, word) == expected


def test_the_trigram_index_alone_misses_two_character_words(corpus):
    # Why the search query falls back to instr(): FTS5 trigram answers nothing for a query
    # under three characters, while the articles plainly contain the word.
    db, records = corpus
    conn = sqlite3.connect(db)
    fts = conn.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH '\"台湾\"'")
    assert fts.fetchone()[0] == 0
    assert len(containing(records, "台湾")) > 2
    conn.close()


def test_search_is_by_script_as_typed_and_reads_traditional_text(tmp_path):
    record = TW_RECORD
    source = tmp_path / "tw.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "tw.db") == 0
    for word in ("臺灣", "習近平", "總統選舉", "灣"):
        assert search(tmp_path / "tw.db", word) == {record["url"]}, word
    for word in ("台湾", "习近平", "总统选举"):
        assert search(tmp_path / "tw.db", word) == set(), word


def test_same_inputs_give_the_same_dump(corpus, seed_jsonl, tmp_path):
    db, _ = corpus
    inputs = [seed_jsonl, db.parent / "data" / "output"]
    assert (
        run(
            "build",
            "--format",
            "sqlite",
            "--allow-mixed-origins",
            *inputs,
            "-o",
            tmp_path / "again.db",
        )
        == 0
    )
    assert dump(tmp_path / "again.db") == dump(db)
    assert (
        run(
            "build",
            "--format",
            "sqlite",
            "--allow-mixed-origins",
            *inputs,
            "-o",
            tmp_path / "again.db",
        )
        == 0
    )
    assert dump(tmp_path / "again.db") == dump(db)  # an existing file is replaced whole
    # Input given in another order: the same articles in the same order, other `runs` order.
    assert (
        run(
            "build",
            "--format",
            "sqlite",
            "--allow-mixed-origins",
            *inputs[::-1],
            "-o",
            tmp_path / "rev.db",
        )
        == 0
    )
    assert [s for s in dump(tmp_path / "rev.db") if "runs" not in s] == [
        s for s in dump(db) if "runs" not in s
    ]


def version(n: int, v: int, fetched: str) -> dict:
    return {
        "id": f"WBMZ{n}",
        "url": f"https://www.rfi.fr/cn/中国/20251101-{n}",
        "title": f"标题{n} 第{v}版",
        "lead": "导语",
        "body": f"正文{v}",
        "published_at": f"2025-11-0{n}T00:00:00+00:00",
        "version": v,
        "authors": ["左依"],
        "tags": ["中国"],
        "related": [{"url": "https://www.rfi.fr/cn/中国/20251101-1", "title": "t"}],
        "links": [],
        "crawl": {"fetched_at": fetched, "via": "section", "referer": None, "depth": 0},
    }


def test_all_versions_keeps_every_version_and_the_latest_as_the_article(tmp_path):
    source = tmp_path / "runs.jsonl"
    rows = [
        version(1, 1, "2025-11-02T10:00:00+00:00"),
        version(2, 1, "2025-11-02T10:00:00+00:00"),
        version(1, 2, "2025-11-03T10:00:00+00:00"),
    ]
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    assert (
        run("build", "--format", "sqlite", "--all-versions", source, "-o", tmp_path / "v.db") == 0
    )
    conn = sqlite3.connect(tmp_path / "v.db")
    assert conn.execute("SELECT title FROM articles ORDER BY article_id").fetchall() == [
        ("标题1 第2版",),
        ("标题2 第1版",),
    ]
    versions = conn.execute(
        "SELECT v.title, a.title FROM article_versions v JOIN articles a USING (article_id)"
        " ORDER BY v.version_id"
    ).fetchall()
    assert versions == [
        ("标题1 第1版", "标题1 第2版"),
        ("标题1 第2版", "标题1 第2版"),
        ("标题2 第1版", "标题2 第1版"),
    ]
    assert conn.execute("SELECT count(*) FROM related WHERE to_article_id = 1").fetchone() == (2,)
    conn.close()
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "l.db") == 0
    conn = sqlite3.connect(tmp_path / "l.db")
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "article_versions" not in names
    assert conn.execute("SELECT body FROM articles ORDER BY article_id").fetchall() == [
        ("正文2",),
        ("正文1",),
    ]
    conn.close()


def test_bad_input_is_one_line_and_leaves_no_database(tmp_path, capsys):
    source = tmp_path / "bad.jsonl"
    good = json.dumps(version(1, 1, "2025-11-02T10:00:00+00:00"))
    source.write_text(good + "\n{not json\n", encoding="utf-8")
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "bad.db") == 1
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "Traceback" not in err
    assert not list(tmp_path.glob("bad.db*"))
    with pytest.raises(SystemExit) as exit_:  # no -o: a usage error
        run("build", "--format", "sqlite", source)
    assert exit_.value.code == 2
    assert "give -o FILE" in capsys.readouterr().err


def test_a_missing_sqlite_utils_is_named(tmp_path, capsys, monkeypatch, seed_jsonl):
    monkeypatch.setitem(sys.modules, "sqlite_utils", None)
    assert run("build", "--format", "sqlite", seed_jsonl, "-o", tmp_path / "x.db") == 1
    assert "pip install 'rfi-crawler[explore]'" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()


# -- serve ----------------------------------------------------------------------------------


def test_serve_without_datasette_says_how_to_install(corpus, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasette", None)
    assert run("serve", corpus[0]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("rfi-dataset: serve needs Datasette 0.65")
    assert "pip install 'rfi-crawler[explore]'" in err
    assert len(err.splitlines()) == 1


def test_serve_refuses_what_it_did_not_build(tmp_path, capsys):
    (tmp_path / "x.db").write_bytes(b"not a database at all, just some bytes" * 40)
    assert run("serve", tmp_path / "x.db") == 1
    assert run("serve", tmp_path / "none.db") == 1
    sqlite3.connect(tmp_path / "empty.db").execute("CREATE TABLE t (x)").connection.close()
    assert run("serve", tmp_path / "empty.db") == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("rfi-dataset: ") for line in err)


class Served:
    """``rfi-dataset serve DB --port 0`` in a child process; the URL from its log."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rfi_crawler.dataset", "serve", str(db), "--port", "0"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self.base = ""
        assert self.process.stderr is not None
        for line in self.process.stderr:  # blocks until the server says where it listens
            self.log.append(line)
            found = re.search(r"running on (http://[\d.]+:\d+)", line)
            if found:
                self.base = found.group(1)
                break
        assert self.base, "".join(self.log)
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def get(self, path: str, data: bytes | None = None) -> tuple[int, str]:
        request = urllib.request.Request(self.base + path, data=data)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def json(self, path: str) -> object:
        status, body = self.get(path)
        assert status == 200, body[:500]
        return json.loads(body)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self._drain.join(timeout=60)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture(scope="module")
def served(corpus) -> Iterator[Served]:
    server = Served(corpus[0])
    yield server
    server.stop()


def q(text: str) -> str:
    return urllib.parse.quote(text)


def test_serves_on_loopback_only(served):
    assert served.base.startswith("http://127.0.0.1:")


def test_metadata_explains_the_corpus(served, corpus):
    meta = served.json("/-/metadata.json")
    assert "RFI" in meta["title"] and "research" in meta["license"]
    assert meta["source_url"] == "https://www.rfi.fr/cn/"
    database = meta["databases"][corpus[0].stem]
    columns = database["tables"]["articles"]["columns"]
    properties = record_schema()["properties"]
    for name in ("title", "lead", "body", "published_at", "section", "content_hash"):
        assert columns[name] == properties[name]["description"], name
    assert columns["tags"].startswith(properties["tags"]["description"])
    assert properties["image"]["description"] in columns["image_url"]
    assert set(database["queries"]) == {
        "search",
        "search_any_script",  # OpenCC is installed with the dev requirements
        "articles_per_month",
        "article",
        "tags_per_year",
    }
    assert meta == json.loads(json.dumps(metadata(corpus[0].stem, any_script=True)))


def test_datasette_search_box_uses_the_trigram_index(served, corpus):
    _, records = corpus
    for word in ("俄罗斯", "习近平", "国际刑事法院"):
        hits = served.json(f"/rfi/articles.json?_search={q(word)}&_shape=array&_col=url&_size=max")
        assert {h["url"] for h in hits} == containing(records, word), word


def test_search_query_counts_hits_including_two_character_words(served, corpus):
    _, records = corpus
    for word in ("台湾", "俄罗斯"):
        hits = served.json(f"/rfi/search.json?q={q(word)}&_shape=array")
        assert len(hits) == len(containing(records, word)) > 0
        assert {h["hits"] for h in hits} == {len(hits)}


@pytest.mark.parametrize(
    ("word", "simplified"),
    [
        ("臺灣", "台湾"),
        ("台灣", "台湾"),
        ("台湾", "台湾"),
        ("習近平", "习近平"),
        ("國際刑事法院", "国际刑事法院"),
        ("国际刑事法院", "国际刑事法院"),
    ],
)
def test_search_any_script_folds_simplified_and_traditional(served, corpus, word, simplified):
    db, records = corpus
    forms = script_forms()
    assert forms is not None and simplified in forms(word)
    # The corpus is simplified script: whatever the script typed, the hits are the articles
    # containing the simplified form.
    expected = containing(records, simplified)
    assert expected and set().union(*(containing(records, f) for f in forms(word))) == expected
    hits = served.json(f"/rfi/search_any_script.json?q={q(word)}&_shape=array")
    assert {h["hits"] for h in hits} == {len(hits)}
    conn = sqlite3.connect(db)
    urls = dict(conn.execute("SELECT article_id, url FROM articles"))
    conn.close()
    assert {urls[h["article_id"]] for h in hits} == expected


def test_search_any_script_reads_traditional_text(tmp_path):
    source = tmp_path / "tw.jsonl"
    source.write_text(json.dumps(TW_RECORD, ensure_ascii=False) + "\n", encoding="utf-8")
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "tw.db") == 0
    conn = sqlite3.connect(tmp_path / "tw.db")
    prepare_connection(conn)
    for word in ("台湾", "臺灣", "习近平", "总统选举", "湾"):
        hits = conn.execute(SEARCH_ANY_SCRIPT_SQL, {"q": word}).fetchall()
        assert [h[0] for h in hits] == [1], word
    assert conn.execute(SEARCH_ANY_SCRIPT_SQL, {"q": "香港"}).fetchall() == []
    conn.close()


def test_canned_queries_answer(served, corpus):
    db, records = corpus
    months = served.json("/rfi/articles_per_month.json?_shape=array")
    assert sum(m["articles"] for m in months) == len({r["url"] for r in records})
    tags = served.json("/rfi/tags_per_year.json?_shape=array&top=2")
    assert (
        tags and max(sum(1 for t in tags if t["year"] == y) for y in {t["year"] for t in tags}) == 2
    )
    conn = sqlite3.connect(db)
    source, target = conn.execute(
        "SELECT from_article_id, to_article_id FROM related WHERE to_article_id IS NOT NULL"
    ).fetchone()
    conn.close()
    rows = served.json(f"/rfi/article.json?id={target}&_shape=array")
    assert rows[0]["relation"] == "article" and rows[0]["article_id"] == target
    assert {"linked from (related)"} <= {r["relation"] for r in rows}
    assert source in {r["article_id"] for r in rows if r["relation"].startswith("linked from")}


def test_article_page_shows_paragraphs_related_and_linking_articles(served, corpus):
    db, _ = corpus
    conn = sqlite3.connect(db)
    source, target = conn.execute(
        "SELECT from_article_id, to_article_id FROM related WHERE to_article_id IS NOT NULL"
    ).fetchone()
    body, title = conn.execute(
        "SELECT body, title FROM articles WHERE article_id = ?", (source,)
    ).fetchone()
    conn.close()
    status, page = served.get(f"/rfi/articles/{source}")
    assert status == 200
    article = page.split('<div class="rfi-body">')[1].split("</div>")[0]
    blocks = [b for b in body.split("\n\n") if b.strip()]
    assert len(re.findall(r"<(?:p|h3)>", article)) == len(blocks) > 1
    assert "RFI / France Médias Monde" in page.split('class="rfi-licence"')[1]
    assert f'href="/rfi/articles/{target}"' in page.split('class="rfi-related"')[1]
    status, page = served.get(f"/rfi/articles/{target}")
    assert f'href="/rfi/articles/{source}"' in page.split('class="rfi-linking"')[1]
    assert title


@pytest.mark.parametrize(
    "sql",
    [
        "insert into tags (name) values ('x')",
        "update articles set title = 'x'",
        "delete from articles",
        "drop table articles",
        "attach database '/tmp/rfi-explorer-attack.db' as x",
        "pragma query_only = 0",
        "select load_extension('/tmp/x')",
        "select writefile('/tmp/rfi-explorer-attack.txt', 'x')",
        "select readfile('/etc/passwd')",
        "vacuum into '/tmp/rfi-explorer-attack.db'",
        "with x as (select 1) insert into tags (name) select 'x'",
    ],
)
def test_writes_and_file_access_are_refused(served, corpus, sql):
    before = hashlib.sha256(corpus[0].read_bytes()).hexdigest()
    status, body = served.get(f"/rfi.json?sql={q(sql)}")
    assert status >= 400, body[:300]
    assert not Path("/tmp/rfi-explorer-attack.db").exists()
    assert not Path("/tmp/rfi-explorer-attack.txt").exists()
    assert hashlib.sha256(corpus[0].read_bytes()).hexdigest() == before


def test_no_write_endpoint_and_no_download(served, corpus):
    before = hashlib.sha256(corpus[0].read_bytes()).hexdigest()
    row = json.dumps({"row": {"name": "x"}}).encode()
    for path in ("/rfi/-/create", "/rfi/tags/-/insert", "/rfi/tags/1/-/delete", "/rfi/search"):
        status, _ = served.get(path, data=row)
        assert status == 405, path
    status, _ = served.get("/rfi.db")
    assert status in (403, 404)
    status, databases = served.get("/-/databases.json")
    assert json.loads(databases)[0]["is_mutable"] is False
    assert hashlib.sha256(corpus[0].read_bytes()).hexdigest() == before


def test_hostile_text_is_shown_not_run(tmp_path):
    script = "<script>alert(1)</script>"
    record = {
        **TW_RECORD,
        "url": "javascript:alert(1)",
        "title": f"标题{script}",
        "lead": "导语<img src=x onerror=alert(1)>",
        "body": f"第一段{script}\n\n第二段",
        "related": [{"url": "javascript:alert(2)", "title": f"相关{script}"}],
    }
    source = tmp_path / "hostile.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    assert run("build", "--format", "sqlite", source, "-o", tmp_path / "h.db") == 0
    server = Served(tmp_path / "h.db")
    try:
        status, page = server.get("/h/articles/1")
        assert status == 200 and "第一段&lt;script&gt;" in page
        assert "<script>alert" not in page and "<img src=x" not in page
        assert 'href="javascript:' not in page
        hits = server.get(f"/h/search?q={q('标题<script>')}")[1]
        assert "标题&lt;script&gt;" in hits and "<script>alert" not in hits
    finally:
        server.stop()


def test_a_taken_port_fails_with_the_reason(corpus):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "rfi_crawler.dataset", "serve", str(corpus[0])]
        done = subprocess.run(
            [*command, "--port", str(port)],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"rfi-dataset: port {port} on 127.0.0.1 is in use; choose another with --port (0: any"
        " free)\n"
    )
