"""What rfi_cn does with each article page it receives, in this process, phase by phase.

    python -m benchmarks.article_work [--pages 60] [--rounds 6] [--repeat 3] [--baseline DIR]

The phases of ``RfiCnSpider.parse_article`` (and, before ``read_page``, its downloader
middleware) that are the project's own: the charset check (a phase of its own where a
checkout decodes the body to check it, within parsing where the parse checks it),
parsing (``read_page``, or ``page_selector`` before it), extraction (the page's landmarks
and ``extract_article``), ``template_generation``, ``tag_hubs`` and freeing the tree.
Pages are the replica's article pages (~500 KB, from the real template), each parsed once
per round and dropped, as in a crawl (a page's tree is not in the caches when the next
page is read). CPU time (``time.process_time``) per article, the median over rounds
after a first round that is not counted.

Beside a crawl's CPU per page (``benchmarks.crawl``), which moves by ±15 % between runs on
a shared 2-core machine, these phases move by a few per cent, so a change to one of them
shows here. ``--baseline DIR`` measures an older checkout (``git archive REV | tar -x -C
DIR``) in a child process, interleaved with this one, round by round.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PHASES = ("charset", "parse", "extract", "template", "hubs", "free", "total")
BASE = "https://www.rfi.fr"


def write_pages(directory: Path, pages: int) -> None:
    """The replica's first ``pages`` article pages, as files (the same bytes for every
    checkout measured), and their paths."""
    from tests.replica.site import ReplicaSite

    site = ReplicaSite(articles=max(pages, 50), seed=1, page_size=50)
    paths = []
    for number, article in enumerate(itertools.islice(site.articles, pages)):
        (directory / f"{number}.html").write_bytes(site.render_article(article).encode())
        paths.append(article.path)
    (directory / "paths.json").write_text(json.dumps(paths), encoding="utf-8")


def measure(directory: Path, rounds: int) -> dict[str, Any]:
    """Per-round CPU ms per article of each phase, with the rfi_crawler on ``sys.path``, and
    where that rfi_crawler is."""
    from scrapy.http import HtmlResponse, Request

    import rfi_crawler
    from rfi_crawler.encoding import true_encoding
    from rfi_crawler.extract import page as page_module
    from rfi_crawler.extract import parse as parse_module
    from rfi_crawler.extract.article import extract_article, tag_hubs
    from rfi_crawler.extract.page import template_generation
    from rfi_crawler.extract.parse import page_selector

    # Before the landmarks (282465a), each function walked the page on its own.
    landmarks = getattr(page_module, "Landmarks", None)
    # Before read_page, the charset guard decoded each body, then the page was parsed.
    read_page = getattr(parse_module, "read_page", None)
    paths = json.loads((directory / "paths.json").read_text(encoding="utf-8"))
    bodies = [(directory / f"{number}.html").read_bytes() for number in range(len(paths))]
    clock = time.process_time
    per_round: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for number in range(rounds + 1):
        spent = dict.fromkeys(PHASES, 0.0)
        # New responses each round, as a crawl's are (a response caches its encoding).
        responses = [
            HtmlResponse(
                url=BASE + path,
                body=body,
                headers={"Content-Type": "text/html; charset=UTF-8"},
                request=Request(BASE + path),
            )
            for path, body in zip(paths, bodies, strict=True)
        ]
        for response in responses:
            start = clock()
            if read_page is None:
                true_encoding(response)
            parsing = clock()
            selector = page_selector(response) if read_page is None else read_page(response)[0]
            extracting = clock()
            marks = (landmarks(selector.root),) if landmarks else ()
            extract_article(selector, response.url, BASE, {"via": "url"}, None, *marks)
            templating = clock()
            template_generation(selector, *marks)
            hubbing = clock()
            tag_hubs(selector, response.url, BASE, *marks)
            freeing = clock()
            del selector, marks
            end = clock()
            for phase, began, ended in zip(
                PHASES,
                (start, parsing, extracting, templating, hubbing, freeing, start),
                (parsing, extracting, templating, hubbing, freeing, end, end),
                strict=True,
            ):
                spent[phase] += ended - began
        if number:  # the first round warms imports and caches up
            for phase in PHASES:
                per_round[phase].append(1000 * spent[phase] / len(responses))
    return {"package": rfi_crawler.__file__, "phases": per_round}


def run(project: Path, directory: Path, rounds: int) -> dict[str, list[float]]:
    """This script's ``--measure`` in a child whose path starts with ``project`` (and names
    no other project), so that its rfi_crawler is that project's; checked."""
    arguments = ["--measure", str(directory), "--rounds", str(rounds)]
    start = (
        f"import runpy, sys; sys.path.insert(0, {str(project)!r}); sys.argv[1:] = "
        f"{arguments!r}; runpy.run_path({__file__!r}, run_name='__main__')"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.run(
        [sys.executable, "-c", start],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if process.returncode:
        last = (process.stderr.strip().splitlines() or ["no error output"])[-1]
        raise SystemExit(f"measuring {project} failed (status {process.returncode}): {last}")
    measured = json.loads(process.stdout)
    if not Path(measured["package"]).resolve().is_relative_to(project.resolve()):
        raise SystemExit(f"measuring {project} imported {measured['package']} instead")
    return measured["phases"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60, help="replica article pages")
    parser.add_argument("--rounds", type=int, default=6, help="child processes per checkout")
    parser.add_argument("--repeat", type=int, default=3, help="rounds counted in each child")
    parser.add_argument("--baseline", type=Path, help="also measure the checkout here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.pages, args.rounds, args.repeat) < 1:
        parser.error("--pages, --rounds and --repeat must be 1 or more")
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds)))
        return 0
    if args.baseline and not (args.baseline / "rfi_crawler").is_dir():
        parser.error(f"--baseline {args.baseline}: no rfi_crawler package there")
    projects = {"this checkout": PROJECT_ROOT}
    if args.baseline:
        projects["baseline"] = args.baseline
    # Interleaved, one round at a time, so that the machine's drift falls on both alike.
    results: dict[str, dict[str, list[float]]] = {
        name: {phase: [] for phase in PHASES} for name in projects
    }
    with tempfile.TemporaryDirectory(prefix="rfi-article-work-") as scratch:
        write_pages(Path(scratch), args.pages)
        for _ in range(args.rounds):
            for name, project in projects.items():
                for phase, values in run(project, Path(scratch), args.repeat).items():
                    results[name][phase] += values
    print(
        f"CPU ms per article page ({args.pages} replica pages; {args.rounds} processes × "
        f"{args.repeat} rounds for each checkout, interleaved; medians)"
    )
    print("| phase | " + " | ".join(projects) + " |\n|---|" + "---|" * len(projects))
    for phase in PHASES:
        cells = [f"{statistics.median(results[name][phase]):.3f}" for name in projects]
        print(f"| {phase} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
