"""``rfi-state copy`` on a source that is not a store: one line, exit 2, nothing made."""

from __future__ import annotations

from rfi_crawler.state.cli import main


def test_a_missing_source_is_refused_and_nothing_is_created(tmp_path, capsys):
    source, target = tmp_path / "no" / "such" / "state.sqlite3", tmp_path / "new.sqlite3"
    assert main(["copy", str(source), str(target)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"rfi-state: error: no state store at {source} (SOURCE must exist)"
    assert not (tmp_path / "no").exists() and not target.exists()


def test_a_damaged_source_is_one_line(tmp_path, capsys):
    source = tmp_path / "state.sqlite3"
    source.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)  # a header, then garbage
    assert main(["copy", str(source), str(tmp_path / "new.sqlite3")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("rfi-state: error: ")
