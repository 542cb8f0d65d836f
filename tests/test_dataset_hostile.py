"""rfi-dataset against an attacker's inputs and outputs: a full disk, a device or FIFO as the
output, an output that is an input, values no output format holds, damaged manifests,
arguments out of range. Each is one line (or a counted skip), never a traceback."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rfi_crawler.dataset.cli import main
from tests.test_dataset import SEED, lines, record, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: object) -> int:
    return main([str(a) for a in argv])


def one_line(err: str) -> str:
    """The single line on standard error, which is not a traceback."""
    assert "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    return line


@pytest.fixture
def source(tmp_path) -> Path:
    return write_jsonl(tmp_path / "rfi_cn-1.jsonl", [record(n) for n in range(1, 6)])


# -- a full disk, a device ------------------------------------------------------------------


def small_disk(max_bytes: int) -> None:
    """In the child: files stop growing at ``max_bytes`` (EFBIG, as ENOSPC on a full disk;
    Python ignores SIGXFSZ, so the write fails instead of killing the process)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, resource.RLIM_INFINITY))


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out" / "archive.jsonl"
    out.parent.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "rfi_crawler.dataset", "import-archive", SEED, "-o", out],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        preexec_fn=lambda: small_disk(4096),
        check=False,
    )
    assert done.returncode == 1
    assert one_line(done.stderr).startswith(f"rfi-dataset: {out}: cannot write it (File too large)")
    assert list(out.parent.iterdir()) == []  # neither the output nor .archive.jsonl.*.tmp


def test_a_full_disk_under_sqlite_is_one_line(source, tmp_path, capsys, monkeypatch):
    import sqlite3

    from rfi_crawler.dataset import sqlite

    def full(db):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite, "_fts", full)
    out = tmp_path / "out.db"
    assert run("build", source, "--format", "sqlite", "-o", out) == 1
    line = one_line(capsys.readouterr().err)
    assert line == f"rfi-dataset: {out}: cannot write it (database or disk is full)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rfi_cn-1.jsonl"]


def test_sqlite_into_a_missing_folder_creates_it(source, tmp_path, capsys):
    out = tmp_path / "new" / "out.db"
    assert run("build", source, "--format", "sqlite", "-o", out) == 0
    assert out.is_file()


def reading_fifo(path: Path) -> int:
    os.mkfifo(path)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so a writer's open returns


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_output_that_is_not_a_regular_file_is_written_not_replaced(source, tmp_path, fmt):
    fifo = tmp_path / "fifo"
    reader = reading_fifo(fifo)
    try:
        assert run("build", source, "--format", fmt, "-o", fifo) == 0
        assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still the FIFO, not a file renamed over it
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert len(received.splitlines()) == (5 if fmt == "jsonl" else 6)
    # No temporary file and no card beside a device or FIFO (/dev/null.DATASET.md).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "rfi_cn-1.jsonl"]


def test_sqlite_refuses_an_output_that_is_not_a_regular_file(source, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.close(reading_fifo(fifo))
    assert run("build", source, "--format", "sqlite", "-o", fifo) == 1
    assert "not a regular file" in one_line(capsys.readouterr().err)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "rfi_cn-1.jsonl"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "sqlite"])
def test_an_output_through_a_symbolic_link_replaces_the_file_it_points_to(source, tmp_path, fmt):
    real = tmp_path / "data" / f"2025.{fmt}"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / f"latest.{fmt}"
    link.symlink_to(real)
    assert run("build", source, "--format", fmt, "-o", link) == 0
    assert link.is_symlink() and real.read_bytes() != b"old"
    assert sorted(p.name for p in real.parent.iterdir()) == [f"2025.{fmt}"]


# -- an output that is one of the inputs ----------------------------------------------------


def warc_file(path: Path) -> Path:
    """A readable WARC file with no article in it (re-extract writes nothing from it)."""
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
    return path


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    (tmp_path / "runs").mkdir()
    (tmp_path / "archives").mkdir()
    archive = tmp_path / "archives" / "a.md"
    archive.write_bytes((SEED / "000_00e6d9a6cc292860.txt").read_bytes())
    return {
        "run": write_jsonl(tmp_path / "runs" / "rfi_cn-1.jsonl", [record(1), record(2)]),
        "runs": tmp_path / "runs",
        "archive": archive,
        "archives": tmp_path / "archives",
        "warc": warc_file(tmp_path / "w.warc.gz"),
        "png": write_jsonl(tmp_path / "records.png", [record(1)]),  # any name given is read
    }


@pytest.mark.parametrize(
    "command",
    [
        ["edits", "{run}", "-o", "{run}"],
        ["edits", "{runs}", "-o", "{run}"],
        ["diff", "WBMZ1", "{run}", "-o", "{run}"],
        ["diff", "WBMZ1", "{runs}", "-o", "{run}", "--format", "json"],
        ["import-archive", "{archive}", "-o", "{archive}"],
        ["import-archive", "{archives}", "-o", "{archive}"],
        ["re-extract", "{warc}", "-o", "{warc}"],
        ["re-extract", "{warc}", "--against", "{run}", "-o", "{run}"],
        ["re-extract", "{warc}", "--against", "{runs}", "-o", "{run}"],
        ["stats", "{png}", "--plot", "{png}"],
        ["build", "{runs}", "--format", "csv", "-o", "{run}"],
        ["build", "{run}", "--format", "sqlite", "-o", "{run}"],
    ],
)
def test_every_output_that_is_one_of_the_inputs_is_refused(inputs, tmp_path, capsys, command):
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    output = command[command.index("-o" if "-o" in command else "--plot") + 1].format(**inputs)
    assert run(*(part.format(**inputs) for part in command)) == 1
    line = one_line(capsys.readouterr().err)
    assert line == f"rfi-dataset: {output}: the output is one of the inputs; choose another name"
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


# -- values no output can hold ----------------------------------------------------------------

GOOD = json.dumps(record(1), ensure_ascii=False).encode()


def with_field(name: str, raw: bytes) -> bytes:
    """A valid record line with ``name`` set to the raw JSON text ``raw``."""
    return GOOD[:-1] + b', "' + name.encode() + b'": ' + raw + b"}"


BAD_LINES = {
    "nested 200000 deep": b"[" * 200_000 + b"]" * 200_000,
    "nested 100 deep": with_field("extra", b"[" * 100 + b"]" * 100),
    "version 2**64": with_field("version", str(2**64).encode()),
    "char_count 2**63": with_field("char_count", str(2**63).encode()),
    "crawl.depth -2**63-1": GOOD.replace(b'"depth": 0', f'"depth": {-(2**63) - 1}'.encode()),
    "a lone surrogate": GOOD.replace("标题1".encode(), b"X\\ud800Y"),
    "a lone surrogate in a key": with_field("\\udfff", b"1"),
    "raw surrogate bytes": GOOD.replace("标题1".encode(), b"X\xed\xa0\x80Y"),
    "NaN": with_field("extra", b"NaN"),
    "-Infinity": with_field("extra", b"-Infinity"),
    "1e400": with_field("extra", b"1e400"),
}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "sqlite"])
@pytest.mark.parametrize("bad", BAD_LINES, ids=list(BAD_LINES))
def test_a_value_no_output_can_hold_is_an_invalid_record(tmp_path, capsys, caplog, fmt, bad):
    source = tmp_path / "run.jsonl"
    second = GOOD.replace(b"20251101-1", b"20251101-2")
    source.write_bytes(GOOD + b"\n" + BAD_LINES[bad] + b"\n" + second + b"\n")
    out = tmp_path / f"out.{fmt}"
    assert run("build", source, "--format", fmt, "-o", out) == 1
    assert one_line(capsys.readouterr().err).startswith(f"rfi-dataset: {source}:2: invalid record")
    assert not out.exists()
    assert run("build", source, "--format", fmt, "-o", out, "--skip-invalid") == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "2 records (" in err and "1 invalid line" in err
    assert [m.split(": invalid record skipped: ")[0] for m in caplog.messages] == [f"{source}:2"]


def test_the_limits_accept_what_records_hold(tmp_path):
    """64 levels, the largest int64, an escaped surrogate pair, an escaped backslash."""
    edge = with_field("version", str(2**63 - 1).encode()).replace(
        "标题1".encode(), b"\\\\ud800 \\ud83d\\ude00"
    )
    deep = with_field("extra", b"[" * 63 + b"]" * 63).replace(b"20251101-1", b"20251101-2")
    source = tmp_path / "run.jsonl"
    source.write_bytes(edge + b"\n" + deep + b"\n")
    assert run("build", source, "-o", tmp_path / "o.jsonl") == 0
    first, second = lines(tmp_path / "o.jsonl")
    assert first["title"] == "\\ud800 \U0001f600 v1" and first["version"] == 2**63 - 1
    assert second["extra"] == json.loads("[" * 63 + "]" * 63)


# -- damaged manifests ------------------------------------------------------------------------

MANIFESTS = {
    "not JSON": b"{broken",
    "not an object": b"[1]",
    "empty": b"",
    "a lone surrogate": b'{"run_id": "\\ud800"}',
}


@pytest.mark.parametrize("fmt", ["jsonl", "sqlite"])
@pytest.mark.parametrize("manifest", MANIFESTS, ids=list(MANIFESTS))
def test_a_damaged_manifest_is_named_in_a_warning_and_in_the_card(
    source, tmp_path, capsys, caplog, fmt, manifest
):
    damaged = tmp_path / "rfi_cn-1.manifest.json"
    damaged.write_bytes(MANIFESTS[manifest])
    out = tmp_path / f"out.{fmt}"
    assert run("build", source, "--format", fmt, "-o", out) == 0
    assert "Traceback" not in capsys.readouterr().err
    (warning,) = caplog.messages
    assert warning.startswith(f"{damaged}: damaged manifest (")
    assert warning.endswith("; the card lists rfi_cn-1.jsonl without it")
    card = Path(f"{out}.DATASET.md").read_text(encoding="utf-8")
    assert f"- `{source}`: {damaged}: damaged manifest (" in card


def test_manifest_values_sqlite_cannot_hold_are_no_traceback(source, tmp_path):
    import sqlite3

    (tmp_path / "rfi_cn-1.manifest.json").write_text(
        json.dumps({"run_id": "r1", "records": 2**64, "sha256": ["x"]})
    )
    assert run("build", source, "--format", "sqlite", "-o", tmp_path / "o.db") == 0
    with sqlite3.connect(tmp_path / "o.db") as db:
        *row, manifest = db.execute("SELECT run_id, records, sha256, manifest FROM runs").fetchone()
    assert row == ["r1", float(2**64), '["x"]']  # the INTEGER column's affinity: a REAL
    assert json.loads(manifest)["records"] == 2**64  # exact in the manifest column


# -- arguments out of range: exit 2, one line -------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["stats", "{source}", "--plot", "{tmp}/p.txt"], "p.txt': a plot is written as .png, .svg"),
        (["stats", "{source}", "--plot", "{tmp}/p.raw"], "p.raw': a plot is written as .png, .svg"),
        (["serve", "x.db", "--port", "99999"], "argument --port: '99999' is not a port number"),
        (["serve", "x.db", "--port", "-5"], "argument --port: '-5' is not a port number"),
        (["serve", "x.db", "--port", "http"], "argument --port: 'http' is not a port number"),
        (["re-extract", "w.warc.gz", "--jobs", "0"], "argument --jobs: '0' is not a number of"),
        (["re-extract", "w.warc.gz", "--jobs", "-1"], "argument --jobs: '-1' is not a number of"),
        (["re-extract", "w.warc.gz", "--jobs", "1000000"], "argument --jobs: '1000000' is not"),
        (["build", "{source}", "--format", "sqlite"], "--format sqlite cannot go to standard"),
        (["build", "{source}", "--format", "parquet"], "--format parquet cannot go to standard"),
    ],
)
def test_arguments_out_of_range_are_usage_errors(source, tmp_path, capsys, argv, named):
    with pytest.raises(SystemExit) as exit_:
        run(*(part.format(source=source, tmp=tmp_path) for part in argv))
    assert exit_.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"rfi-dataset {argv[0]}: error: ") and named in line, line


@pytest.mark.parametrize("name", ["p.svg", "p.PDF", "p"])
def test_the_plot_formats_offered_are_written(source, tmp_path, name):
    assert run("stats", source, "--plot", tmp_path / name) == 0
    head = (tmp_path / name).read_bytes()[:5]
    assert head == {"p.svg": b"<?xml", "p.PDF": b"%PDF-", "p": b"\x89PNG\r"}[name]


def test_standard_output_closed_early_stops_quietly(tmp_path):
    # `rfi-dataset build … | head -1`: the reader leaves after one line.
    many = write_jsonl(tmp_path / "rfi_cn-2.jsonl", [record(n) for n in range(1, 3001)])
    with subprocess.Popen(
        [sys.executable, "-m", "rfi_crawler.dataset", "build", many],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as build:
        assert build.stdout.readline().startswith(b"{")
        build.stdout.close()
        err = build.stderr.read().decode()
        status = build.wait(timeout=120)
    assert status == 1  # not all of it was written
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err


@pytest.mark.parametrize("fmt", ["jsonl", "sqlite"])
def test_an_output_that_is_a_loop_of_links_is_one_line(source, tmp_path, capsys, fmt):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    assert run("build", source, "--format", fmt, "-o", loop) == 1
    assert one_line(capsys.readouterr().err) == (
        f"rfi-dataset: {loop}: cannot write it (a loop of symbolic links)"
    )


def test_a_date_far_from_the_rest_is_plotted_by_year_not_every_month_between(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    drawn = Axes.bar

    def bar(self, x, *args, **kwargs):
        if len(x) > 100:  # one slot a month from year 1000: 12,300 of them, minutes to draw
            raise AssertionError(f"{len(x)} bars")
        return drawn(self, x, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", bar)
    far = {**record(2), "published_at": "1000-01-01T00:00:00+00:00"}
    basic = {**record(3), "published_at": "20251130"}  # ISO 8601's basic form: no month key
    path = write_jsonl(tmp_path / "rfi_cn-1.jsonl", [record(1), far, basic])
    assert run("stats", path, "--plot", tmp_path / "stats.png") == 0
    assert (tmp_path / "stats.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
