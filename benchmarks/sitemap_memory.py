"""Memory of reading a 100,000-URL sitemap whose articles all lie outside the date window.

    python -m benchmarks.sitemap_memory [--urls 100000]

The sitemap is written to a temporary file once; each way of reading runs in a fresh
interpreter that reads those bytes and reports its peak RSS (ru_maxrss; lxml's own memory
is invisible to tracemalloc) and, in a second interpreter, the tracemalloc peak of the
parse alone. ``body`` is the floor: the interpreter, the imports and the sitemap's bytes.
Target (issue 10 item 15): reading the sitemap adds at most a bounded amount above that
floor, whatever the number of URLs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from datetime import date
from urllib.parse import quote

SLUG = "中国与欧盟就气候与贸易问题举行新一轮高级别对话-双方同意加强合作"


def sitemap(count: int) -> bytes:
    """A monthly content sitemap of 2015: lastmod and one image per URL, as RFI's are."""
    entries = (
        f"<url><loc>https://www.rfi.fr{quote(f'/cn/中国/201503{1 + i % 28:02d}-{SLUG}-{i}')}</loc>"
        f"<lastmod>2015-03-{1 + i % 28:02d}T10:00:00+00:00</lastmod>"
        f"<image:image><image:loc>https://s.rfi.fr/media/display/{i:08x}/w:1280/p:16x9/a.jpg"
        "</image:loc></image:image></url>"
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset '
        'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">'
        + "".join(entries)
        + "</urlset>"
    ).encode()


def measure(way: str, path: str, trace: bool) -> dict[str, object]:
    from rfi_crawler import urls
    from rfi_crawler.extract import feeds

    with open(path, "rb") as file:
        body = file.read()
    window_since, window_until = date(2025, 1, 1), date(2025, 12, 31)
    page = "https://www.rfi.fr/sitemaps/cn/contents_201503.xml"
    inside = outside = 0
    if trace:
        tracemalloc.start()
    if way == "lists":  # what the spider does today: whole lists, then the window
        found = feeds.sitemap_links(body, page).articles
    elif way == "lazy":
        found = (e.url for e in feeds.iter_sitemap(body, page) if e.kind == "article")
    else:
        found = []
    for url in found:
        day = urls.date_in_path(urls.path_of(url))
        if day is not None and window_since <= day <= window_until:
            inside += 1
        else:
            outside += 1
    if trace:
        return {"tracemalloc_peak_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1)}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "way": way,
        "body_mb": round(len(body) / 2**20, 1),
        "outside_window": outside,
        "inside_window": inside,
        "peak_rss_mb": round(rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=100_000)
    parser.add_argument("--way", choices=("body", "lists", "lazy"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:
        print(json.dumps(measure(args.way, args.file, args.trace)))
        return 0
    ways = ["body", "lists"]
    from rfi_crawler.extract import feeds

    if hasattr(feeds, "iter_sitemap"):
        ways.append("lazy")
    with tempfile.NamedTemporaryFile(suffix=".xml") as file:
        # Written by a child: Linux carries a parent's peak RSS into the children it forks.
        write = (
            "import sys; from benchmarks.sitemap_memory import sitemap; "
            f"sys.stdout.buffer.write(sitemap({args.urls}))"
        )
        subprocess.run([sys.executable, "-c", write], stdout=file, check=True)
        print(f"{args.urls} URLs, all outside the window; python {sys.version.split()[0]}")
        for way in ways:
            result = {"urls": args.urls}
            for trace in (False, True):
                command = [sys.executable, "-m", "benchmarks.sitemap_memory", "--way", way]
                command += ["--file", file.name] + (["--trace"] if trace else [])
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                result |= json.loads(done.stdout)
            print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
