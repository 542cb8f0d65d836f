"""``rfi-dataset build --format sqlite`` over generated run files: build time, peak memory and
database size, then median latency of the ``search`` canned query for common and rare words.

    python -m benchmarks.explorer --records 100000 300000

Records are generated (never committed): bodies of about 1,000 characters (the seed corpus's
mean is 1,042) drawn from the replica's word list, so every article differs; three related
links each; 5% present again as version 2. One article in a thousand carries the rare words
赖清德 (trigram index) and 蟑螂 (two characters: the instr() scan). Each build is a separate
process; peak RSS comes from the kernel (``os.wait4``). The JSON Lines build of the same files,
timed in the same run, is the baseline the SQLite build is compared with.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.records import RunFiles, day_of, record, versions_of
from rfi_crawler.dataset.serve import SEARCH_SQL
from tests.replica.site import AUTHORS, TAGS, WORDS

RARE = ("赖清德", "蟑螂")
COMMON = ("台湾", "中国法国")  # two characters: a scan; four: the trigram index
REPEAT = 7


def url(n: int) -> str:
    return f"https://www.rfi.fr/cn/x/2024{1 + n % 12:02d}{1 + n % 28:02d}-{n}"


def body(rng: random.Random, n: int) -> str:
    paragraphs = ["".join(rng.choice(WORDS) for _ in range(100)) + "。" for _ in range(5)]
    if n % 1000 == 7:
        paragraphs[2] = paragraphs[2][:50] + RARE[0] + paragraphs[2][50:]
    if n % 1000 == 507:
        paragraphs[3] = paragraphs[3][:50] + RARE[1] + paragraphs[3][50:]
    return "\n\n".join(paragraphs)


def generate(folder: Path, count: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    with RunFiles(folder, rng) as out:
        for n in range(count):
            day = day_of(n)
            text = body(rng, n)
            for version in versions_of(n):
                fields = {
                    "url": url(n),
                    "title": f"{rng.choice(WORDS)}{rng.choice(WORDS)} {n}",
                    "lead": text[:80],
                    "body": text,
                    "authors": [rng.choice(AUTHORS)],
                    "tags": rng.sample(TAGS, k=1 + n % 3),
                    # Mostly inside the dataset; n + count is outside it.
                    "related": [
                        {"url": url(rng.randrange(count + count // 10)), "title": "相关"}
                        for _ in range(3)
                    ],
                    "char_count": len(text),
                }
                out.write(record(n, version, day, **fields))
    return out.written


def build(folder: Path, output: Path, fmt: str) -> tuple[float, float]:
    command = [sys.executable, "-m", "rfi_crawler.dataset", "build", str(folder)]
    command += ["--format", fmt, "-o", str(output)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    assert process.stderr is not None
    error = process.stderr.read().decode()
    process.stderr.close()
    if status != 0:
        raise SystemExit(f"build failed with status {status}: {error}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def latency(db: Path, word: str) -> tuple[float, int]:
    """Median milliseconds of the search query over REPEAT runs after one warm-up, and hits."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        hits = len(conn.execute(SEARCH_SQL, {"q": word}).fetchall())
        times = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            conn.execute(SEARCH_SQL, {"q": word}).fetchall()
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times), hits
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--scratch", type=Path, default=None, help="where to generate files")
    args = parser.parse_args()
    for count in args.records:
        with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
            folder = Path(scratch) / "runs"
            folder.mkdir()
            lines = generate(folder, count)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 1e9
            base, base_peak = build(folder, Path(scratch) / "dataset.jsonl", "jsonl")
            db = Path(scratch) / "rfi.db"
            seconds, peak = build(folder, db, "sqlite")
            print(
                f"{count:,} articles ({lines:,} lines, {size:.2f} GB in 10 files): "
                f"sqlite {seconds:.1f} s, peak RSS {peak:.0f} MB, {db.stat().st_size / 1e9:.2f} GB;"
                f" jsonl baseline {base:.1f} s (peak RSS {base_peak:.0f} MB);"
                f" sqlite/jsonl time ratio {seconds / base:.2f}",
                flush=True,
            )
            for word in COMMON + RARE:
                median, hits = latency(db, word)
                path = "trigram" if len(word) >= 3 else "instr scan"
                print(
                    f"  search {word} ({path}): {hits:,} hits, median {median:.1f} ms",
                    flush=True,
                )


if __name__ == "__main__":
    main()
