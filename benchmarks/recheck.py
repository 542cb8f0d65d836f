"""Article requests per hourly run: the re-check schedule against the old refresh window,
over a simulated month at the site's volume.

    python -m benchmarks.recheck [--per-day 40] [--days 30] [--listed-days 3] [--budget 100]

A simulation on a fake clock, with the real policy code: each hourly run, the listings
show every article published in the last ``--listed-days`` days (the homepage, three pages
of each section, the RSS feed and the two-day news sitemap reach about that far back);
unknown ones are fetched. Known ones are then fetched

* by the schedule: as ``RefreshPolicy`` decides (``plan`` then ``skip``) against a real
  SQLite state store, every fetch recorded in it by ``claim``/``commit`` at the fake time;
* by the old window (``RFI_REFRESH_DAYS``=3, the rule this release replaced): every run,
  while their publication day is at most 3 days before the run's day.

Publication times are uniform random (seeded) at ``--per-day`` a day; a month of warm-up
runs first fills the store, so the month measured is in steady state. Listing pages cost
the same under both policies and are not counted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rfi_crawler.incremental import RefreshPolicy
from rfi_crawler.recheck import DEFAULT_SCHEDULE, format_schedule, parse_schedule
from rfi_crawler.state.sqlite import SqliteStateStore

START = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
OLD_REFRESH_DAYS = 3


def articles(per_day: int, days: int, seed: int) -> list[tuple[datetime, str]]:
    rng = random.Random(seed)
    seconds = days * 86400
    found = sorted(START + timedelta(seconds=rng.randrange(seconds)) for _ in range(per_day * days))
    return [
        (moment, f"https://www.rfi.fr/cn/x/{moment:%Y%m%d}-a{n}") for n, moment in enumerate(found)
    ]


def record(url: str, published: datetime) -> dict:
    return {
        "id": url.rsplit("-", 1)[1],
        "url": url,
        "content_hash": "0" * 64,  # RFI's edits do not change what is requested
        "published_at": published.isoformat(),
        "extractor_version": 2,
    }


def fetch(store: SqliteStateStore, found: dict, run: str, now: str) -> None:
    claim = store.claim(found, run, now)
    if claim.version is not None and claim.status.value == "new":
        store.commit([(found["id"], claim.version)], run, now)


def simulate(args: argparse.Namespace, folder: Path) -> dict[str, list[int]]:
    schedule = parse_schedule(args.schedule)
    warmup = 30
    published = articles(args.per_day, warmup + args.days, args.seed)
    store = SqliteStateStore(folder / "state.sqlite3")
    store.db.execute("PRAGMA synchronous=OFF")  # a simulation: durability is not measured
    known_old: set[str] = set()
    counts: dict[str, list[int]] = {"schedule": [], "window": [], "new": []}
    runs = (warmup + args.days) * 24
    first = 0  # index of the first article still listed
    shown = 0  # articles published so far
    for number in range(runs):
        now = START + (number + 1) * HOUR
        while shown < len(published) and published[shown][0] <= now:
            shown += 1
        while published[first][0] < now - timedelta(days=args.listed_days):
            first += 1
        listed = published[first:shown]
        text = now.isoformat()
        run = f"run-{number}"
        # The schedule, with the crawler's own policy and store.
        policy = RefreshPolicy(store, schedule, args.budget, False, now)
        rechecks = policy.plan()
        skipped = policy.skip([url for _, url in listed])
        wanted = dict.fromkeys([*rechecks, *(url for _, url in listed if url not in skipped)])
        by_url = dict((url, moment) for moment, url in published[:shown])
        for url in wanted:
            fetch(store, record(url, by_url[url]), run, text)
        # The old window: every listed article, unless known and older than 3 days.
        window = [
            url
            for moment, url in listed
            if url not in known_old or (now.date() - moment.date()).days <= OLD_REFRESH_DAYS
        ]
        new = sum(url not in known_old for _, url in listed)
        known_old.update(url for _, url in listed)
        if number >= warmup * 24:
            counts["schedule"].append(len(wanted))
            counts["window"].append(len(window))
            counts["new"].append(new)
    store.close()
    return counts


def summary(values: list[int]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return (
        f"mean {statistics.fmean(values):6.1f}  median {statistics.median(values):5.1f}"
        f"  p95 {p95:4d}  max {max(values):4d}  month {sum(values):6d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-day", type=int, default=40, help="new articles a day")
    parser.add_argument("--days", type=int, default=30, help="days measured (after 30 of warm-up)")
    parser.add_argument("--listed-days", type=float, default=3, help="how far back listings reach")
    parser.add_argument("--budget", type=int, default=100, help="RFI_RECHECK_MAX_PER_RUN")
    parser.add_argument("--schedule", default=DEFAULT_SCHEDULE, help="RFI_RECHECK_SCHEDULE")
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    started = time.perf_counter()
    memory = "/dev/shm" if Path("/dev/shm").is_dir() else None  # the store off the disk
    with tempfile.TemporaryDirectory(prefix="rfi-recheck-bench-", dir=memory) as folder:
        counts = simulate(args, Path(folder))
    runs = len(counts["schedule"])
    schedule = format_schedule(parse_schedule(args.schedule))
    print(
        f"{runs} hourly runs, {args.per_day} new articles a day, listings reach"
        f" {args.listed_days:g} days back, schedule {schedule}, budget {args.budget};"
        " article requests per run:"
    )
    print(f"  new articles (both)      {summary(counts['new'])}")
    print(f"  old window (3 days)      {summary(counts['window'])}")
    print(f"  re-check schedule        {summary(counts['schedule'])}")
    ratio = sum(counts["schedule"]) / sum(counts["window"])
    rechecks = sum(counts["schedule"]) - sum(counts["new"])
    per_article = rechecks / (args.per_day * args.days)
    print(
        f"  schedule / window: {ratio:.3f} of the requests; {rechecks} re-checks in the month"
        f" = {per_article:.2f} per article published"
    )
    print(f"  ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
