"""Run files: durable appends, and reading back what a crash leaves."""

from __future__ import annotations

import gzip

import pytest

from rfi_crawler.export.run_file import RunFileError, RunFileWriter, file_sha256, iter_records

RECORDS = [{"id": f"WBMZ{n}", "version": 1, "title": f"标题 {n}"} for n in range(60)]


@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, compress):
    path = tmp_path / ("run.jsonl.gz" if compress else "run.jsonl")
    writer = RunFileWriter(path, compress=compress, sync_every=7)
    for record in RECORDS:
        writer.write(record)
        if writer.sync_due():
            writer.sync()
    writer.close()
    assert [record for _, record in iter_records(path)] == RECORDS
    if not compress:
        assert "标题" in path.read_text(encoding="utf-8")  # Chinese not escaped


def test_sync_is_due_by_count_or_time(tmp_path):
    writer = RunFileWriter(tmp_path / "run.jsonl", sync_every=3, sync_seconds=3600)
    assert not writer.sync_due()
    for record in RECORDS[:3]:
        writer.write(record)
    assert writer.sync_due()
    writer.sync()
    assert not writer.sync_due()
    writer.close()
    timed = RunFileWriter(tmp_path / "timed.jsonl", sync_every=1000, sync_seconds=0.001)
    timed.write(RECORDS[0])
    import time

    time.sleep(0.01)
    assert timed.sync_due()
    timed.close()


def test_an_existing_run_file_is_never_overwritten(tmp_path):
    (tmp_path / "run.jsonl").write_text("{}\n")
    with pytest.raises(FileExistsError):
        RunFileWriter(tmp_path / "run.jsonl")


def test_a_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "run.jsonl"
    text = "".join(f'{{"id": "{n}", "version": 1}}\n' for n in range(5))
    path.write_text(text + '{"id": "5", "vers')
    assert [r["id"] for _, r in iter_records(path)] == ["0", "1", "2", "3", "4"]


def test_a_broken_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text('{"id": "0"}\nnot json\n{"id": "2"}\n')
    with pytest.raises(RunFileError, match=r"run\.jsonl:2"):
        list(iter_records(path))


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_a_gzip_stream_cut_anywhere_yields_its_synced_prefix(tmp_path, cut):
    path = tmp_path / "run.jsonl.gz"
    writer = RunFileWriter(path, compress=True)
    for record in RECORDS:
        writer.write(record)
        writer.sync()  # every line durable and decodable on its own
    writer.close()
    data = path.read_bytes()
    cut_path = tmp_path / "cut.jsonl.gz"
    cut_path.write_bytes(data[: int(len(data) * cut)])
    read = [record for _, record in iter_records(cut_path)]
    assert read == RECORDS[: len(read)]
    assert 0 < len(read) < len(RECORDS)
    with pytest.raises(EOFError):
        gzip.decompress(cut_path.read_bytes())  # what a naive reader would hit


def test_file_sha256(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
