"""``rfi-dataset build`` over generated run files: throughput and peak memory.

    python -m benchmarks.dataset_build --records 100000 1000000
    python -m benchmarks.dataset_build --records 0 --huge-line 50   # one 50 MB line
    # and an older checkout, in the same run (git archive REV | tar -x -C /tmp/old):
    python -m benchmarks.dataset_build --records 50000 --huge-line 50 --baseline /tmp/old

Records are generated (never committed): about 2 KB each, Chinese text, spread over ten
run files, 5% of articles present again as version 2. Each build is a separate process;
its peak RSS comes from the kernel (``os.wait4``).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.records import RunFiles, day_of, record, versions_of
from tests.replica.site import WORDS


def generate(folder: Path, count: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    paragraph = "".join(rng.choice(WORDS) for _ in range(120)) + "。"
    with RunFiles(folder, rng) as out:
        for n in range(count):
            day = day_of(n)
            for version in versions_of(n):
                fields = {
                    "url": f"https://www.rfi.fr/cn/x/{day.replace('-', '')}-{n}",
                    "title": f"{rng.choice(WORDS)}{rng.choice(WORDS)} {n}",
                    "lead": paragraph[:80],
                    "body": "\n\n".join([paragraph] * 5),
                    "authors": ["左依"],
                    "tags": [rng.choice(WORDS)],
                    "related": [],
                    "char_count": 1200,
                }
                out.write(record(n, version, day, **fields))
    return out.written


def huge_line(folder: Path, megabytes: int) -> int:
    """Ten ordinary records and one whose body is ``megabytes`` MB of Chinese text, written
    in pieces: this process never holds it (a forked child's peak RSS would count it)."""
    count = generate(folder, 10)
    piece = "长" * (1_000_000 // 3)
    with open(folder / "rfi_cn-huge.jsonl", "w", encoding="utf-8") as handle:
        handle.write('{"id": "HUGE", "url": "https://www.rfi.fr/cn/x/20251101-huge", "body": "')
        for _ in range(megabytes):
            handle.write(piece)
        handle.write('"}\n')
    return count + 1


def measure(folder: Path, output: Path, code: Path | None = None) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the last line on stderr of one build in its own process
    (``code``: the checkout to import rfi_crawler from; default this one)."""
    command = [sys.executable, "-m", "rfi_crawler.dataset", "build", str(folder), "-o", str(output)]
    env = {**os.environ, "PYTHONPATH": str(code)} if code else None
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=code
        )
        _, status, usage = os.wait4(process.pid, 0)
        errors.seek(0)
        last = (errors.read().decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    if status != 0:
        last = f"exit status {os.waitstatus_to_exitcode(status)}: {last}"
    return time.perf_counter() - started, usage.ru_maxrss / 1024, last[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--huge-line", type=int, metavar="MB", help="also: one line of MB MB")
    parser.add_argument("--baseline", type=Path, help="an older checkout to measure too")
    parser.add_argument("--scratch", type=Path, default=None, help="where to generate files")
    args = parser.parse_args()
    codes = [("this", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    for count in [c for c in args.records if c > 0]:
        with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
            folder = Path(scratch) / "runs"
            folder.mkdir()
            print(f"generating {count:,} articles…", file=sys.stderr, flush=True)
            lines = generate(folder, count)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 1e9
            for name, code in codes:
                seconds, peak, _ = measure(folder, Path(scratch) / "dataset.jsonl", code)
                print(
                    f"{name:>8}: {count:>9,} articles ({lines:,} lines, {size:.2f} GB in 10"
                    f" files): {seconds:6.1f} s, {lines / seconds:,.0f} lines/s, peak RSS"
                    f" {peak:.0f} MB",
                    flush=True,
                )
    if args.huge_line:
        with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
            folder = Path(scratch) / "runs"
            folder.mkdir()
            lines = huge_line(folder, args.huge_line)
            for name, code in codes:
                seconds, peak, last = measure(folder, Path(scratch) / "dataset.jsonl", code)
                print(
                    f"{name:>8}: {lines} lines, one of {args.huge_line} MB: {seconds:6.1f} s,"
                    f" peak RSS {peak:.0f} MB; {last}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
