"""rfi-dataset: archive import/export, building datasets from run files, the card."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rfi_crawler.archive import read_archive, record_of
from rfi_crawler.dataset.cli import main
from rfi_crawler.schema import validation_errors

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seed_corpus"
SEED_FILES = sorted(p for p in SEED.iterdir() if p.name not in ("FORMAT.md", "SOURCES.md"))


def run(*argv: str) -> int:
    return main([str(a) for a in argv])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_all_41_archive_files_import_into_valid_records():
    assert len(SEED_FILES) == 41
    for path in SEED_FILES:
        record = record_of(read_archive(path))
        assert validation_errors(record) == [], path.name
        assert record["crawl"]["via"] == "archive"


def test_the_seed_article_imports_exactly():
    record = record_of(read_archive(SEED / "000_00e6d9a6cc292860.txt"))
    assert record["title"] == "日法首脑电话会谈 推出122项合作计划"
    assert record["published_at"] == "2023-12-03T10:37:00+00:00"
    assert record["section"] == "国际"
    assert record["lead"].startswith("当地时间12月2日晚上7点15分")
    blocks = record["body"].split("\n\n")
    assert len(blocks) == 5
    assert blocks[0].startswith("岸田首相首先表示") and blocks[-1].endswith(
        "因此通过电话进行了会谈。"
    )
    assert [r["title"] for r in record["related"]] == [
        "福岛一核处理水排海：法国强调日本所表现出的透明度",
        "法国与日本今举第7次2+2会议",
        "法国和日本战机将进行联合训练",
    ]
    assert record["url"].startswith("https://www.rfi.fr/cn/%E5%9B%BD%E9%99%85/20231203-")
    assert record["id"].startswith("RFI-URL-")  # as the spider derives it without a datalayer


@pytest.mark.parametrize(
    ("name", "title", "programme", "kind"),
    [
        (
            "1042500.md",
            "谈对丙肝病毒研究有不同贡献的3位科学家获今年诺贝尔生理医学奖",
            "要闻分析",
            "audio",
        ),
        ("1027000.md", "欧股收高", None, "article"),  # a 2021 wire brief: site suffix removed
        ("1015056.md", "【视频】美洲国家峰会：拜登博索纳罗会晤表现和缓", None, "video"),
    ],
)
def test_suffixes_programmes_and_types(name, title, programme, kind):
    record = record_of(read_archive(SEED / name))
    assert (record["title"], record["programme"], record["type"]) == (title, programme, kind)
    if name == "1027000.md":
        assert record["url"] == "https://www.rfi.fr/cn/" + record["url"].rsplit("/", 1)[1]


def test_export_then_import_gives_the_same_records(tmp_path):
    assert run("import-archive", SEED, "-o", tmp_path / "a.jsonl") == 0
    assert run("export-archive", tmp_path / "a.jsonl", "-o", tmp_path / "files") == 0
    assert len(list((tmp_path / "files").iterdir())) == 41
    assert run("import-archive", tmp_path / "files", "-o", tmp_path / "b.jsonl") == 0
    first = {r["url"]: r for r in lines(tmp_path / "a.jsonl")}
    again = {r["url"]: r for r in lines(tmp_path / "b.jsonl")}
    assert first == again


def test_a_file_not_in_the_format_is_named(tmp_path, capsys):
    (tmp_path / "x.md").write_text("hello\nworld\n", encoding="utf-8")
    assert run("import-archive", tmp_path / "x.md") == 1
    assert "x.md" in capsys.readouterr().err


def record(
    n: int,
    version: int = 1,
    day: str = "2025-11-01",
    section: str = "中国",
    kind: str = "article",
    tags: tuple[str, ...] = ("中国",),
    fetched: str = "10",
) -> dict:
    return {
        "id": f"WBMZ{n}",
        "url": f"https://www.rfi.fr/cn/x/{day.replace('-', '')}-{n}",
        "type": kind,
        "title": f"标题{n} v{version}",
        "section": section,
        "tags": list(tags),
        "published_at": f"{day}T0{n % 10}:00:00+00:00",
        "version": version,
        "body": "正文",
        "image": {"url": "https://s.rfi.fr/a.jpg", "caption": "说明", "credit": None},
        "related": [{"url": "https://www.rfi.fr/cn/x/20251101-9", "title": "t"}],
        "translations": {"zh-Hant": "https://www.rfi.fr/tw/x/1"},
        "crawl": {
            "fetched_at": f"2025-11-02T{fetched}:00:00+00:00",
            "via": "homepage",
            "referer": None,
            "depth": 0,
        },
    }


def write_jsonl(path: Path, records: list[dict], tail: str = "") -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) + tail, encoding="utf-8"
    )
    return path


@pytest.fixture
def runs(tmp_path) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "rfi_cn-1.jsonl", [record(1), record(2, day="2025-10-01"), record(3)])
    with gzip.open(folder / "rfi_cn-2.jsonl.gz", "wt", encoding="utf-8") as handle:
        for item in (
            record(1, version=2, fetched="12"),
            record(4, section="法国", kind="audio", tags=("法国",)),
        ):
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    write_jsonl(folder / "rfi_cn-3.jsonl", [record(5, day="2025-12-01")], tail='{"id": "trunc')
    return folder


def test_build_keeps_the_latest_version_sorted_and_is_reproducible(runs, tmp_path, caplog):
    assert run("build", runs, "-o", tmp_path / "out.jsonl") == 0
    built = lines(tmp_path / "out.jsonl")
    assert [(r["id"], r["version"]) for r in built] == [
        ("WBMZ2", 1),
        ("WBMZ1", 2),
        ("WBMZ3", 1),
        ("WBMZ4", 1),
        ("WBMZ5", 1),
    ]
    assert "truncated last line skipped" in caplog.text
    # Same input, in another order and given twice: byte-identical output.
    files = sorted(runs.iterdir(), reverse=True)
    assert run("build", *files, *files, "-o", tmp_path / "again.jsonl") == 0
    assert (tmp_path / "again.jsonl").read_bytes() == (tmp_path / "out.jsonl").read_bytes()
    card = (tmp_path / "out.jsonl.DATASET.md").read_text(encoding="utf-8")
    assert "**Records:** 5" in card and "| 法国 | 1 |" in card and "copyright" in card


def test_build_filters_and_all_versions(runs, tmp_path):
    assert run("build", runs, "--all-versions", "-o", tmp_path / "all.jsonl") == 0
    assert [(r["id"], r["version"]) for r in lines(tmp_path / "all.jsonl")][:3] == [
        ("WBMZ2", 1),
        ("WBMZ1", 1),
        ("WBMZ1", 2),
    ]
    assert (
        run(
            "build",
            runs,
            "--since",
            "2025-11-01",
            "--until",
            "2025-11-30",
            "--section",
            "中国",
            "-o",
            tmp_path / "nov.jsonl",
        )
        == 0
    )
    assert [r["id"] for r in lines(tmp_path / "nov.jsonl")] == ["WBMZ1", "WBMZ3"]
    assert run("build", runs, "--type", "audio", "-o", tmp_path / "audio.jsonl") == 0
    assert [r["id"] for r in lines(tmp_path / "audio.jsonl")] == ["WBMZ4"]
    assert run("build", runs, "--tag", "法国", "-o", tmp_path / "tag.jsonl") == 0
    assert [r["id"] for r in lines(tmp_path / "tag.jsonl")] == ["WBMZ4"]


def test_csv_flattens_and_can_carry_a_bom(runs, tmp_path):
    assert run("build", runs, "--format", "csv", "--excel-bom", "-o", tmp_path / "out.csv") == 0
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 5 and rows[0]["id"] == "WBMZ2"
    assert rows[0]["image_url"] == "https://s.rfi.fr/a.jpg" and rows[0]["image_caption"] == "说明"
    assert rows[0]["tags"] == "中国"
    assert json.loads(rows[0]["related"])[0]["title"] == "t"
    assert rows[0]["translation_zh_hant"] == "https://www.rfi.fr/tw/x/1"


def test_parquet_has_typed_columns(runs, tmp_path):
    assert run("build", runs, "--format", "parquet", "-o", tmp_path / "out.parquet") == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == 5
    assert str(table.schema.field("published_at").type).startswith("timestamp")
    assert str(table.schema.field("tags").type) == "list<element: string>"
    assert table.column("id").to_pylist()[0] == "WBMZ2"


def test_an_invalid_line_fails_with_file_and_line_unless_skipped(runs, tmp_path, capsys):
    (runs / "rfi_cn-4.jsonl").write_text(
        '{"id": "a", "url": "https://www.rfi.fr/cn/a"}\nnot json\n'
        '{"id": "b", "url": "https://www.rfi.fr/cn/b"}\n'
    )
    assert run("build", runs, "-o", tmp_path / "x.jsonl") == 1
    assert "rfi_cn-4.jsonl:2" in capsys.readouterr().err
    assert run("build", runs, "--skip-invalid", "-o", tmp_path / "x.jsonl") == 0
    assert len(lines(tmp_path / "x.jsonl")) == 7


def test_stats_counts_and_plots_with_chinese_labels(runs, tmp_path, capsys):
    assert run("stats", runs, "--plot", tmp_path / "stats.png") == 0
    out = capsys.readouterr().out
    assert "records: 5" in out
    assert "2025-11\t3" in out and "法国\t1" in out
    assert "body length (characters): p10" in out
    assert (tmp_path / "stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_need_a_font_that_draws_chinese(runs, tmp_path, capsys, monkeypatch):
    from rfi_crawler.dataset import stats

    monkeypatch.setattr(stats, "CJK_FONTS", ("No Such Font",))
    assert run("stats", runs, "--plot", tmp_path / "stats.png") == 1
    assert "apt-get install fonts-wqy-microhei" in capsys.readouterr().err


def test_month_range_fills_empty_months():
    from rfi_crawler.dataset.stats import month_range

    assert month_range(["2023-11", "2024-02"]) == ["2023-11", "2023-12", "2024-01", "2024-02"]
