"""Articles wait in the frontier and reach Scrapy's scheduler a few at a time."""

from __future__ import annotations

import json
import pickle
import tracemalloc
import zlib
from collections import Counter, deque
from types import SimpleNamespace

import pytest
from scrapy.exceptions import DontCloseSpider

from rfi_crawler.compact import hash64
from rfi_crawler.frontier import Discovery, RelatedFrontier, UrlQueue
from rfi_crawler.spiders.rfi_cn import AHEAD_PER_SLOT, MIN_AHEAD
from rfi_crawler.urls import quote_path
from tests.crawling import built_crawler, run_crawl
from tests.replica.server import ReplicaServer
from tests.replica.site import ReplicaSite

# -- the frontier's waiting articles ------------------------------------------------------


def test_waiting_articles_come_out_nearest_first_in_the_order_met():
    frontier = RelatedFrontier(2)
    for url, depth in (("b", 1), ("a", 0), ("c", 1), ("d", 0)):
        (found,) = frontier.offer(url, depth, "homepage" if depth == 0 else "related", "p")
        frontier.defer(found)
    assert frontier.waiting == 4
    assert [frontier.take().url for _ in range(4)] == ["a", "d", "b", "c"]
    assert frontier.take() is None
    assert frontier.waiting == 0


def test_an_article_that_moved_closer_while_waiting_leaves_with_its_best_path():
    frontier = RelatedFrontier(2)
    frontier.offer("a", 0, "homepage")
    (far,) = frontier.parsed("a", ["b"])
    frontier.defer(far)
    assert frontier.offer("b", 0, "sitemap", "https://x/sitemap") == []  # known: moved closer
    assert frontier.take() == Discovery("b", 0, "sitemap", "https://x/sitemap")


def test_waiting_articles_survive_a_jobdir_pause():
    frontier = RelatedFrontier(1)
    for url in ("a", "b"):
        (found,) = frontier.offer(url, 0, "rss")
        frontier.defer(found)
    frontier.take()
    resumed = pickle.loads(pickle.dumps(frontier))
    assert [resumed.take().url, resumed.take()] == ["b", None]


def test_a_frontier_pickled_by_an_older_release_loads():
    # As an older release pickled it into JOBDIR: URLs as keys, related links joined,
    # no queue. a (0) → b (1) → c, d (2).
    old = RelatedFrontier.__new__(RelatedFrontier)
    old.__dict__.update(
        max_depth=2,
        _reached={"a": 0 << 5 | 0, "b": 1 << 5 | 1, "c": 2 << 5 | 1, "d": 2 << 5 | 1},
        _referers={"b": "a", "c": "b", "d": "b"},
        _related={"b": "c\nd"},
        _vias=["rss", "related"],
        improved=0,
    )
    resumed = pickle.loads(pickle.dumps(old))
    assert resumed.waiting == 0
    assert resumed.best("a") == Discovery("a", 0, "rss", None)
    assert resumed.best("c") == Discovery("c", 2, "related", "b")
    assert resumed.offer("b", 0, "sitemap") == []  # b moved closer: c and d too
    assert [resumed.best(u).depth for u in "abcd"] == [0, 0, 1, 1]
    assert resumed.offer("e", 0, "rss") == [Discovery("e", 0, "rss", None)]


def test_a_frontier_with_its_depths_in_a_dict_loads():
    # As the release before this one pickled it: hashed keys, depths and deflated links
    # in dicts. a (0) → b (1) → c (2), parsed; d (1) waiting.
    old = RelatedFrontier.__new__(RelatedFrontier)
    old.__dict__.update(
        max_depth=2,
        _reached={hash64(u): d << 5 | (d > 0) for u, d in (("a", 0), ("b", 1), ("c", 2), ("d", 1))},
        _referers={hash64("d"): "a"},
        _related={hash64("b"): zlib.compress(b"c", 1)},
        _vias=["rss", "related"],
        _waiting={1: deque(["d"])},
        improved=0,
    )
    resumed = pickle.loads(pickle.dumps(old))
    assert resumed.take() == Discovery("d", 1, "related", "a")
    assert resumed.parsed("d", ["e"]) == [Discovery("e", 2, "related", "d")]
    assert resumed.offer("b", 0, "sitemap") == []  # b moved closer: c too
    assert [resumed.best(u).depth for u in "abcde"] == [0, 0, 1, 1, 2]
    assert resumed.offer("d", 0, "sitemap") == []  # d too, and e with it
    assert resumed.best("e") == Discovery("e", 1, "related", "d")


def test_a_frontier_pickled_with_queues_of_strings_loads():
    # As releases before packed queues pickled it: a deque of URLs per depth.
    frontier = RelatedFrontier(1)
    for url in ("a", "b", "c"):
        frontier.defer(frontier.offer(url, 0, "rss")[0])
    old = RelatedFrontier.__new__(RelatedFrontier)
    old.__dict__.update(frontier.__dict__ | {"_waiting": {0: deque(["a", "b", "c"])}})
    resumed = pickle.loads(pickle.dumps(old))
    assert resumed.waiting == 3
    assert [resumed.take().url for _ in range(3)] == ["a", "b", "c"]


@pytest.mark.parametrize("size", [0, 1, UrlQueue.BLOCK - 1, UrlQueue.BLOCK, 3 * UrlQueue.BLOCK + 7])
def test_the_queue_gives_urls_back_in_order_across_blocks(size):
    urls = [f"https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/2025113{n % 10}-{n}" for n in range(size)]
    queue, taken = UrlQueue(), []
    for n, url in enumerate(urls):  # taking while appending, as a crawl does
        queue.append(url)
        if n % 3 == 0:
            taken.append(queue.popleft())
    resumed = pickle.loads(pickle.dumps(queue))
    assert len(resumed) == size - len(taken)
    taken += [resumed.popleft() for _ in range(len(resumed))]
    assert taken == urls
    with pytest.raises(IndexError):
        resumed.popleft()


def test_a_url_holding_the_separator_comes_back_whole():
    urls = [f"u{n}" for n in range(UrlQueue.BLOCK * 2)]
    urls[5] = "u\nv"
    queue = UrlQueue(urls)
    assert [queue.popleft() for _ in range(len(urls))] == urls


def test_waiting_urls_are_kept_packed():
    site = ReplicaSite(articles=2000, seed=1, page_size=50)
    urls = [f"http://127.0.0.1:8000{quote_path(path)}" for path in site.by_path]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        queue = UrlQueue(urls)
        per_url = (tracemalloc.get_traced_memory()[0] - before) / len(urls)
    finally:
        tracemalloc.stop()
    assert len(queue) == len(urls)
    # A string each took ~340 bytes (percent-encoded Chinese paths) and a deque slot.
    assert per_url < 60, per_url


# -- the spider hands them over as the scheduler drains ------------------------------------


def fake_engine(crawler):
    """Schedules what it is given at once, as Scrapy's engine does."""
    queue: list = []

    def crawl(request):
        crawler.signals.send_catch_log("request_scheduled", request=request)
        spider.request_scheduled(request)
        queue.append(request)

    spider = crawler.spider
    crawler.engine = SimpleNamespace(crawl=crawl, scheduler=queue)
    return queue


def article_urls(count):
    return [f"https://www.rfi.fr/cn/a/20261120-n{i}" for i in range(count)]


def test_a_callback_releases_only_as_many_articles_as_the_queue_has_room_for():
    crawler = built_crawler({"CONCURRENT_REQUESTS": 4})
    spider = crawler.spider
    spider.spider_opened()
    ahead = max(MIN_AHEAD, AHEAD_PER_SLOT * 4)
    released = list(spider._article_requests(article_urls(100), 0, "sitemap", None))
    # Nothing schedules them here: they stay in transit, so the room is ``ahead`` in all.
    assert len(released) == ahead == spider.in_transit
    assert spider.frontier.waiting == 100 - ahead
    assert list(spider._article_requests(article_urls(110)[100:], 0, "sitemap", None)) == []
    assert crawler.stats.get_value("rfi/requested/article") == ahead


def test_an_empty_scheduler_is_topped_up_and_idleness_waits_for_the_articles():
    crawler = built_crawler({"CONCURRENT_REQUESTS": 2})
    spider = crawler.spider
    spider.spider_opened()
    queue = fake_engine(crawler)
    released = list(spider._article_requests(article_urls(30), 0, "sitemap", None))
    assert len(released) == MIN_AHEAD
    for request in released:
        crawler.engine.crawl(request)
    assert spider.in_transit == 0 and len(queue) == MIN_AHEAD
    queue.clear()  # the downloader took them
    spider.scheduler_empty()
    assert len(queue) == MIN_AHEAD and spider.frontier.waiting == 30 - 2 * MIN_AHEAD
    # A released request that never reached the scheduler does not hold its place past
    # idleness, and a crawl with articles still waiting is not closed.
    spider.in_transit = MIN_AHEAD
    queue.clear()
    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    assert len(queue) == MIN_AHEAD
    queue.clear()
    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    assert spider.frontier.waiting == 0
    spider.spider_idle()  # nothing waits: the crawl may close
    urls = [r.cb_kwargs["url"] for r in released] + [r.cb_kwargs["url"] for r in queue]
    assert len(set(urls)) == len(urls)


def test_a_large_sitemap_is_crawled_with_a_short_scheduler_queue(tmp_path):
    site = ReplicaSite(articles=60, seed=5)
    # 400 article URLs in the news sitemap (2015: answered 404), beside its 10 articles.
    site.sitemap_padding = 400
    with ReplicaServer(site) as server:
        result = run_crawl(
            server.base_url,
            tmp_path,
            settings={
                "RFI_START_POINTS": "sitemap",
                "CONCURRENT_REQUESTS": "2",
                "EXTENSIONS": json.dumps(
                    {"tests.stats_dump.StatsDump": 1000, "tests.queue_probe.QueueProbe": 0}
                ),
            },
        )
        requests = Counter(server.requests)
    assert result.returncode == 0, result.log[-3000:]
    stats = result.stats
    # Every URL listed was requested once and settled, as before.
    padding = [p for p in requests if "/cn/x/2015" in p]
    assert len(padding) == 400 and set(requests.values()) == {1}
    assert stats["rfi/outcome/failed/http_404"] == 400
    assert stats["rfi/outcome/met"] == sum(
        v for k, v in stats.items() if k.startswith("rfi/outcome/") and k != "rfi/outcome/met"
    )
    assert result.records and stats.get("rfi/outcome/cancelled", 0) == 0
    # The sitemap's 410 articles never waited in Scrapy's scheduler all at once.
    assert stats["probe/max_queued"] <= max(MIN_AHEAD, AHEAD_PER_SLOT * 2)


def test_the_frontier_keeps_no_url_string_of_an_article_parsed():
    def url(n: int) -> str:  # built anew each time: only the frontier can keep it
        return f"https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261120-%E4%B8%AD%E5%9B%BD-{n:06d}"

    count = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        frontier = RelatedFrontier(0)
        for n in range(count):
            for found in frontier.offer(url(n), 0, "sitemap", "https://www.rfi.fr/sitemap"):
                frontier.defer(found)
        assert frontier.waiting == count
        while (found := frontier.take()) is not None:
            frontier.parsed(found.url, [url(count + 1)])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert frontier.best(url(7)) == Discovery(url(7), 0, "sitemap", None)
    # A URL string alone is ~150 bytes here (~340 for a real one). Its hash and depth in
    # dicts took ~95 (~140 at 100,000: the referers' table, emptied, kept its size); in
    # arrays, ~12.
    assert held / count < 16, held / count
