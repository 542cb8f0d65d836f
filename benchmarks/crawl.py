"""Crawl cost: rfi_cn against a null spider fetching the same URLs, on the replica.

    python -m benchmarks.crawl [--articles 3000] [--concurrency 8] [--repeat 1]
    # and an older checkout's rfi_cn in the same run (git archive REV | tar -x -C /tmp/old):
    python -m benchmarks.crawl --baseline /tmp/old
    # memory growth with crawl size, on small pages (no <style>/<svg>/plain <script>):
    python -m benchmarks.crawl --small-pages --articles 10000 --articles 100000 --concurrency 2
    # where the memory sits at the end (pymalloc arenas, glibc heap), per crawl size:
    python -m benchmarks.crawl --small-pages --articles 2000 --articles 20000 --no-null \
        --profile allocator --keep /tmp/alloc

The replica (pages of ~500 KB built from the real article template) runs in this process
on 127.0.0.1; each crawl is a child ``scrapy crawl`` process with the same settings (no
delays, no AutoThrottle). rfi_cn runs first; the null spider then requests exactly the
URLs rfi_cn fetched (the replica's request log) through the same engine and middlewares
(no item pipelines: it yields no item), and does nothing with the responses. CPU time and
peak RSS of each crawl come from the kernel, so they count the crawler only, never the
replica: CPU from ``os.wait4``; peak RSS is the crawl's own ``VmHWM`` (``/proc/<pid>/status``),
read every 50 ms while it runs. Not ``ru_maxrss``: Linux carries the high-water mark of the
address space a process had before ``exec`` into it, and that is this process's, replica
included (392 MiB for a 100,000-article replica, whatever the crawl did).

Throughput is pages over the engine's time (Scrapy's ``elapsed_time_seconds``, open to
close; process start-up is left out); CPU per page counts the whole process, start-up
included (about 1 s). On a shared machine wall time is noisy; CPU ms per page is the
steadier figure. With
``--repeat`` the two spiders alternate and the table gives medians.

``--baseline DIR`` runs a third crawl, rfi_cn of the project checked out in DIR, against
the same replica (same URLs expected). ``--small-pages`` serves pages stripped of their
``<style>``, ``<svg>`` and non-data ``<script>`` elements (about 90 KB instead of 500 KB),
to measure what grows with the crawl rather than what the pages in flight hold; several
``--articles`` then give one table each and the growth per article between each two.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy import Request, Spider, signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.http import Response

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class NullSpider(Spider):
    """Requests the URLs listed in the file ``NULL_URLS_FILE`` names and ignores every
    response (a setting: the project's ``crawl`` command refuses unknown spider arguments)."""

    name = "null"
    # The project's pipelines need the run's extensions, which rfi_cn adds for itself; they
    # would receive no item from this spider anyway.
    custom_settings: ClassVar[dict[str, Any]] = {"ITEM_PIPELINES": {}}

    async def start(self) -> AsyncIterator[Request]:
        path = Path(self.settings["NULL_URLS_FILE"])
        lines = path.read_text(encoding="utf-8").splitlines()
        for url in lines:
            yield Request(url, self.parse)

    def parse(self, response: Response) -> None:
        return None


class MemoryProbe:
    """``--profile memory``: tracemalloc snapshots at the traced peak (what the in-flight
    pages hold) and at the end (what grew with the crawl), each compared with one taken
    after the first 200 responses; the top allocation sites go to ``PROFILE_DUMP_FILE``."""

    def __init__(self, crawler: Any) -> None:
        self.path = Path(crawler.settings["PROFILE_DUMP_FILE"])
        self.responses = 0
        self.peak = 0
        self.early: Any = None
        self.at_peak: Any = None
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> MemoryProbe:
        if not tracemalloc.is_tracing():
            raise NotConfigured("run with PYTHONTRACEMALLOC")
        return cls(crawler)

    def response_received(self, **_: Any) -> None:
        self.responses += 1
        if self.responses == 200:
            self.early = tracemalloc.take_snapshot()
        current, _ = tracemalloc.get_traced_memory()
        if self.responses % 5 == 0 and current > self.peak:
            self.peak = current
            self.at_peak = tracemalloc.take_snapshot()

    def spider_closed(self, spider: Any, reason: str) -> None:
        final = tracemalloc.take_snapshot()
        lines = [f"responses {self.responses}; traced peak {self.peak / 2**20:.1f} MiB"]
        for title, snapshot in (("at the peak", self.at_peak), ("at the end", final)):
            if snapshot is None:
                continue
            lines.append(f"\n== {title}: top allocation sites (size) ==")
            lines += [str(s) for s in snapshot.statistics("lineno")[:25]]
            if self.early is not None:
                lines.append(f"\n== {title}, compared with after 200 responses ==")
                lines += [str(s) for s in snapshot.compare_to(self.early, "lineno")[:25]]
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class AllocatorProbe:
    """``--profile allocator``: at the end of the crawl, where its memory sits: pymalloc's
    arenas (small Python objects; a partly used arena cannot be given back) against the
    bytes its live objects take, and glibc's heap (``mallinfo2``), to ``PROFILE_DUMP_FILE``."""

    def __init__(self, crawler: Any) -> None:
        self.path = Path(crawler.settings["PROFILE_DUMP_FILE"])
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> AllocatorProbe:
        return cls(crawler)

    def spider_closed(self, spider: Any, reason: str) -> None:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
        lines = re.findall(r"^(?:VmRSS|VmHWM|RssAnon|RssFile):.*$", status, re.M)
        with tempfile.TemporaryFile() as dump:  # pymalloc writes its statistics to fd 2
            saved = os.dup(2)
            os.dup2(dump.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            dump.seek(0)
            pymalloc = dump.read().decode("ascii", "replace")
        lines += re.findall(
            r"^(?:# arenas allocated current|# bytes in .*blocks).*$", pymalloc, re.M
        )
        lines.append(glibc_heap())
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def glibc_heap() -> str:
    """glibc's ``mallinfo2``: heap obtained, in use, free; mmapped blocks (bytes)."""
    fields = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks")
    fields += ("uordblks", "fordblks", "keepcost")

    class MallInfo2(ctypes.Structure):
        _fields_: ClassVar = [(name, ctypes.c_size_t) for name in fields]

    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return "glibc heap: unknown (no mallinfo2)"
    mallinfo2.restype = MallInfo2
    info = mallinfo2()
    return (
        f"glibc heap: {info.arena:,} obtained, {info.uordblks:,} in use, {info.fordblks:,} "
        f"free; {info.hblkhd:,} in mmapped blocks"
    )


# --profile memory and allocator: the extension that writes the profile, and its file.
PROBES = {
    "memory": ("memory.txt", "benchmarks.crawl.MemoryProbe"),
    "allocator": ("allocator.txt", "benchmarks.crawl.AllocatorProbe"),
}


def settings_for(concurrency: int, listing_pages: int, base_url: str) -> dict[str, str]:
    return {
        "AUTOTHROTTLE_ENABLED": "0",
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS": str(concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "TELNETCONSOLE_ENABLED": "0",
        "LOG_LEVEL": "WARNING",
        "RFI_CONTACT": "benchmark@example.invalid",
        "RFI_BASE_URL": base_url,
        "RFI_MAX_LISTING_PAGES": str(listing_pages),
        # The replica's 403 section is retried after milliseconds, not the real site's seconds.
        "RFI_BACKOFF_BASE": "0.05",
        "RFI_BACKOFF_MAX": "0.5",
        # Both spiders are found by the same project settings.
        "SPIDER_MODULES": "rfi_crawler.spiders,benchmarks.crawl",
    }


def run_spider(
    spider: str,
    server: Any,
    workdir: Path,
    settings: dict[str, str],
    extra: dict[str, str],
    profile: str | None = None,
    project: Path = PROJECT_ROOT,
) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    merged = {
        **settings,
        "RFI_DATA_DIR": str(workdir / "data"),
        "STATS_DUMP_FILE": str(workdir / "stats.json"),
        "EXTENSIONS": json.dumps({"tests.stats_dump.StatsDump": 0}),
        **extra,
    }
    # ``project`` first on the path (and the working directory): its rfi_crawler is the one run.
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join({str(project): 0, str(PROJECT_ROOT): 0}),
    }
    command = [sys.executable, "-m", "scrapy", "crawl", spider]
    if profile == "cpu":
        command[1:1] = ["-m", "cProfile", "-o", str(workdir / "cpu.prof")]
    elif profile in PROBES:
        if profile == "memory":
            environment["PYTHONTRACEMALLOC"] = "1"
        dump_file, probe = PROBES[profile]
        merged["PROFILE_DUMP_FILE"] = str(workdir / dump_file)
        merged["EXTENSIONS"] = json.dumps({"tests.stats_dump.StatsDump": 0, probe: 0})
    for name, value in merged.items():
        command += ["-s", f"{name}={value}"]
    server.reset_log()
    log = open(workdir / "log.txt", "wb")  # noqa: SIM115 (closed below)
    started = time.perf_counter()
    with log:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=environment,
            stdout=log,
            stderr=log,
        )
        peak_kb = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_kb = max(peak_kb, own_peak_kb(process.pid))
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{spider} crawl failed (status {status}); see {workdir / 'log.txt'}")
    requests = list(server.requests)
    stats = json.loads((workdir / "stats.json").read_text(encoding="utf-8"))
    pages = len(requests)
    cpu = usage.ru_utime + usage.ru_stime
    crawling = stats.get("elapsed_time_seconds") or seconds  # engine open → close
    return {
        "spider": spider,
        "pages": pages,
        "articles": sum(path in server.site.by_path for path in requests),
        "items": stats.get("item_scraped_count", 0),
        "seconds": seconds,
        "crawl_seconds": crawling,
        "pages_per_s": pages / crawling,
        "cpu_s": cpu,
        "sys_s": usage.ru_stime,
        "cpu_ms_per_page": 1000 * cpu / pages,
        "peak_rss_mb": peak_kb / 1024,
        "requests": requests,
    }


def own_peak_kb(pid: int) -> int:
    """``VmHWM`` of the process once it runs the crawl (before its ``exec``, the address
    space and its high-water mark are still this process's); 0 if unknown."""
    try:
        if b"scrapy" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return 0
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) if found else 0


def strip_page(html: str) -> str:
    """The page without its ``<style>``, ``<svg>`` and non-data ``<script>`` elements."""
    return _BULK.sub(lambda m: m[0] if _DATA_SCRIPT.match(m[0]) else "", html)


_BULK = re.compile(r"<style\b.*?</style>|<svg\b.*?</svg>|<script\b.*?</script>", re.S | re.I)
_DATA_SCRIPT = re.compile(r'<script[^>]*(?:application/ld\+json|id="datalayer")', re.I)


def small_page_site(articles: int) -> Any:
    from tests.replica.site import ReplicaSite

    class SmallPageSite(ReplicaSite):
        def render_article(self, article: Any) -> str:
            return strip_page(super().render_article(article))

        def render_page(self, canonical_url: str, title: str, main: str) -> str:
            return strip_page(super().render_page(canonical_url, title, main))

    return SmallPageSite(articles=articles, seed=1, page_size=50)


def fetched_urls(base_url: str, paths: list[str]) -> list[str]:
    from rfi_crawler.urls import quote_path

    seen: dict[str, None] = {}
    for path in paths:
        if path != "/robots.txt":  # fetched by RobotsTxtMiddleware for either spider
            seen.setdefault(base_url + quote_path(path), None)
    return list(seen)


def main(argv: list[str] | None = None) -> int:
    from tests.replica.server import ReplicaServer
    from tests.replica.site import ReplicaSite

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crawl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--articles", type=int, action="append", help="default 3000; repeatable")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="alternating runs per spider")
    parser.add_argument(
        "-s",
        dest="extra",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra Scrapy setting for every crawl (e.g. RFI_WARC_DIR=…)",
    )
    parser.add_argument("--keep", type=Path, help="keep run folders (logs, outputs) here")
    parser.add_argument(
        "--profile",
        choices=("cpu", "memory", "allocator"),
        help="profile rfi_cn (cProfile to cpu.prof, tracemalloc to memory.txt, or where its "
        "memory sits at the end to allocator.txt, in its run folder; use with --keep); "
        "with cpu or memory its numbers are then not comparable",
    )
    parser.add_argument(
        "--baseline", type=Path, help="also crawl with rfi_cn of the project checked out here"
    )
    parser.add_argument(
        "--small-pages",
        action="store_true",
        help="pages without <style>, <svg> and non-data <script> (for growth per article)",
    )
    parser.add_argument("--no-null", action="store_true", help="skip the null spider")
    args = parser.parse_args(argv)
    sizes = args.articles or [3000]
    if min(sizes) < 40 or args.concurrency < 1 or args.repeat < 1:
        parser.error("--articles must be 40 or more, --concurrency and --repeat 1 or more")
    if args.baseline and not (args.baseline / "rfi_crawler").is_dir():
        parser.error(f"--baseline {args.baseline}: no rfi_crawler package there")
    extra = dict(item.split("=", 1) for item in args.extra if "=" in item)
    scratch = tempfile.TemporaryDirectory(prefix="rfi-bench-")
    root = args.keep or Path(scratch.name)
    spiders = ["rfi_cn"] + ["baseline"] * bool(args.baseline) + ["null"] * (not args.no_null)
    tables: list[tuple[int, dict[str, list[dict[str, Any]]]]] = []
    with scratch:
        for size in sizes:
            if args.small_pages:
                site = small_page_site(size)
            else:
                site = ReplicaSite(articles=size, seed=1, page_size=50)
            runs = crawl_site(site, size, spiders, args, extra, root / str(size), ReplicaServer)
            tables.append((size, runs))
    for size, runs in tables:
        print_table(size, runs, args, extra)
    for (small, first), (large, second) in itertools.pairwise(tables):
        print(f"\ngrowth of peak RSS per article from {small:,} to {large:,} articles:")
        for spider in first:
            grown = median(second[spider], "peak_rss_mb") - median(first[spider], "peak_rss_mb")
            print(f"- {spider}: {1024 * grown / (large - small):.2f} KB/article")
    return 0


def crawl_site(
    site: Any,
    size: int,
    spiders: list[str],
    args: argparse.Namespace,
    extra: dict[str, str],
    root: Path,
    server_class: Any,
) -> dict[str, list[dict[str, Any]]]:
    listing_pages = size // 50 + 1  # every section page: all listed articles start
    runs: dict[str, list[dict[str, Any]]] = {spider: [] for spider in spiders}
    with server_class(site) as server:
        settings = settings_for(args.concurrency, listing_pages, server.base_url)
        for n in range(args.repeat):
            real = run_spider("rfi_cn", server, root / f"rfi_cn-{n}", settings, extra, args.profile)
            results = [real]
            if args.baseline:
                base = run_spider(
                    "rfi_cn", server, root / f"baseline-{n}", settings, extra, None, args.baseline
                )
                results.append({**base, "spider": "baseline"})
            if not args.no_null:
                urls_file = root / f"urls-{n}.txt"
                urls_file.write_text(
                    "\n".join(fetched_urls(server.base_url, real["requests"])), encoding="utf-8"
                )
                null_settings = {**settings, "NULL_URLS_FILE": str(urls_file)}
                results.append(run_spider("null", server, root / f"null-{n}", null_settings, extra))
                results[-1]["parse_ms"] = parse_cost_ms(site)
            for result in results:
                runs[result["spider"]].append(result)
                print(
                    f"{size} articles, run {n + 1}: {result['spider']:8s} {result['pages']:6d} "
                    f"pages ({result['articles']} articles, {result['items']} items) in "
                    f"{result['crawl_seconds']:6.1f} s ({result['seconds']:.1f} s with "
                    f"start-up); CPU {result['cpu_s']:6.1f} s ({result['sys_s']:.1f} s system); "
                    f"peak RSS {result['peak_rss_mb']:6.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


def parse_cost_ms(site: Any, pages: int = 20, rounds: int = 7) -> float:
    """CPU ms for parsel to parse one of the replica's article pages and free its tree (the
    median of ``rounds`` over ``pages`` pages), measured in this process between crawls:
    the "parse" of the CPU bound, null + parse + 2 ms."""
    from parsel import Selector

    bodies = [site.render_article(a).encode() for a in itertools.islice(site.articles, pages)]
    costs = []
    for _ in range(rounds):
        start = time.process_time()
        for body in bodies:
            Selector(body=body, encoding="utf-8", type="html")
        costs.append(1000 * (time.process_time() - start) / len(bodies))
    return statistics.median(costs)


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def print_table(
    size: int, runs: dict[str, list[dict[str, Any]]], args: argparse.Namespace, extra: dict
) -> None:
    pages = "small pages (~90 KB)" if args.small_pages else "~500 KB pages"
    print(
        f"\nreplica: {size} articles ({pages}), {args.concurrency} concurrent, "
        f"{args.repeat} run(s) each{' (medians)' if args.repeat > 1 else ''}; "
        f"extra settings: {extra or 'none'}"
    )
    spiders = list(runs)
    reference = "null" if "null" in runs else None

    def ratio(spider: str, key: str) -> str:
        if reference is None or spider == reference:
            return ""
        return f" ({median(runs[spider], key) / median(runs[reference], key):.2f} × null)"

    print("| | " + " | ".join(spiders) + " |\n|---|" + "---|" * len(spiders))
    rows = (
        ("pages fetched", "pages", "{:.0f}", False),
        ("throughput", "pages_per_s", "{:.1f} pages/s", True),
        ("crawler CPU per page", "cpu_ms_per_page", "{:.2f} ms", False),
        ("peak RSS", "peak_rss_mb", "{:.0f} MB", True),
    )
    for title, key, form, with_ratio in rows:
        cells = [
            form.format(median(runs[s], key)) + (ratio(s, key) if with_ratio else "")
            for s in spiders
        ]
        print(f"| {title} | " + " | ".join(cells) + " |")
    if reference is not None:
        parse, null_cpu = median(runs["null"], "parse_ms"), median(runs["null"], "cpu_ms_per_page")
        bound = null_cpu + parse + 2
        print(
            f"\nparse (parsel, a replica article page, between the crawls): {parse:.2f} ms; "
            f"CPU bound null + parse + 2 ms = {null_cpu:.2f} + {parse:.2f} + 2 = {bound:.2f} ms"
        )
        for spider in spiders:
            print(f"- {spider}: {cpu_range(runs[spider])}", end="")
            if spider != reference:
                cpu = median(runs[spider], "cpu_ms_per_page")
                verdict = "within" if cpu <= bound else "over"
                print(f"; median {verdict} the bound by {100 * abs(cpu / bound - 1):.1f} %", end="")
            print()


def cpu_range(runs: list[dict[str, Any]]) -> str:
    """CPU ms per page of each run, in the order they ran (a median hides the spread)."""
    return "CPU ms per page " + ", ".join(f"{run['cpu_ms_per_page']:.2f}" for run in runs)


if __name__ == "__main__":
    sys.exit(main())
