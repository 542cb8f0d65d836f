"""Sets that grow with the crawl, kept compact: ``HashSet``, the request dupefilter and
the within-run article dedup."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from collections import Counter

import pytest
from scrapy import Request
from scrapy.utils.misc import build_from_crawler

from rfi_crawler.compact import HashSet, hash64
from rfi_crawler.dupefilter import CompactDupeFilter
from rfi_crawler.outcomes import Dropped, OutcomeLedger
from rfi_crawler.pipelines import DuplicateArticlePipeline
from tests.crawling import built_crawler
from tests.test_export_pipeline import item


def test_hash_set_answers_as_a_set_across_merges():
    rng = random.Random(5)
    members = [f"https://www.rfi.fr/cn/x/2026{n:08d}-{rng.random()}" for n in range(30_000)]
    strangers = [url + "/" for url in members]
    found, reference = HashSet(), set()
    for n, url in enumerate(members):
        assert (url in found) == (url in reference)
        found.add(url)
        reference.add(url)
        if n % 997 == 0:  # re-adding changes nothing
            found.add(members[n // 2])
            assert len(found) == len(reference)
    assert len(found) == len(members)
    assert all(url in found for url in members)
    assert not any(url in found for url in strangers)
    assert len(found._merged) > 20_000  # merged several times
    assert list(found._merged) == sorted(found._merged)


def test_hash64_is_stable_and_takes_bytes_and_text():
    assert hash64("文") == hash64("文".encode())
    # blake2b with an 8-byte digest (``hash()`` of a str differs between processes).
    assert hash64("a") == int(hashlib.blake2b(b"a", digest_size=8).hexdigest(), 16)


def test_the_project_uses_the_compact_dupefilter():
    crawler = built_crawler()
    assert crawler.settings["DUPEFILTER_CLASS"] == "rfi_crawler.dupefilter.CompactDupeFilter"


def dupefilter(settings=None):
    crawler = built_crawler(settings)
    return build_from_crawler(CompactDupeFilter, crawler)


def test_dupefilter_refuses_a_request_seen_before():
    refuse = dupefilter()
    assert not refuse.request_seen(Request("https://www.rfi.fr/cn/a/20261120-x"))
    assert refuse.request_seen(Request("https://www.rfi.fr/cn/a/20261120-x"))
    # Scrapy's fingerprint: a canonical URL (query order) is the same request.
    assert not refuse.request_seen(Request("https://www.rfi.fr/cn/?b=2&a=1"))
    assert refuse.request_seen(Request("https://www.rfi.fr/cn/?a=1&b=2"))
    assert not refuse.request_seen(Request("https://www.rfi.fr/cn/?a=1&b=2", method="POST"))
    assert len(refuse.seen) == 3
    assert not refuse._fingerprints  # Scrapy's own set stays empty


def test_dupefilter_with_jobdir_is_scrapys_and_persists(tmp_path):
    first = dupefilter({"JOBDIR": str(tmp_path)})
    assert not first.request_seen(Request("https://www.rfi.fr/cn/a/20261120-x"))
    first.close("shutdown")
    again = dupefilter({"JOBDIR": str(tmp_path)})
    assert again.request_seen(Request("https://www.rfi.fr/cn/a/20261120-x"))
    again.close("finished")


def test_article_dedup_keeps_its_scope_and_reason():
    pipeline = DuplicateArticlePipeline.from_crawler(built_crawler())
    assert pipeline.process_item(item(1)) is not None
    assert pipeline.process_item(item(2)) is not None
    with pytest.raises(Dropped, match="duplicate: WBMZ1") as dropped:
        pipeline.process_item(item(1))
    assert dropped.value.outcome == "skipped/duplicate"


# -- the outcome ledger ---------------------------------------------------------------------


class SetLedger:
    """The ledger as it was, with sets of URLs: the reference for its counts."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.settled: set[str] = set()
        self.counts: Counter[str] = Counter()

    def meet(self, url: str) -> None:
        if url not in self.settled:
            self.open.add(url)

    def settle(self, url: str, outcome: str) -> bool:
        if url in self.settled:
            return False
        self.open.discard(url)
        self.settled.add(url)
        self.counts[outcome] += 1
        return True


def test_the_compact_ledger_counts_as_the_sets_did():
    rng = random.Random(8)
    urls = [f"https://www.rfi.fr/cn/x/20261120-{n}" for n in range(20_000)]
    ledger, reference = OutcomeLedger(), SetLedger()
    for _ in range(60_000):
        url = rng.choice(urls)
        if rng.random() < 0.5:
            ledger.meet(url)
            reference.meet(url)
        else:  # settled without being met too (a request resumed from JOBDIR)
            outcome = rng.choice(("exported", "failed/http_404", "skipped/known"))
            assert ledger.settle(url, outcome) == reference.settle(url, outcome)
        assert ledger.has_outcome(url) == (url in reference.settled)
    assert ledger.met == len(reference.open) + len(reference.settled)
    met = ledger.met
    counts = ledger.close()
    assert counts == reference.counts + Counter(cancelled=len(reference.open))
    assert sum(counts.values()) == met
    assert ledger.close() == counts  # closing twice cancels nothing more


def test_the_ledger_keeps_about_ten_bytes_a_url():
    urls = [f"https://www.rfi.fr/cn/%E4%B8%AD%E5%9B%BD/20261120-{n:06d}" for n in range(50_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ledger = OutcomeLedger()
        for url in urls:  # a sitemap lists them all, then each is settled
            ledger.meet(url)
        for url in urls:
            ledger.settle(url, "exported")
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # Two sets of URLs held ~80 bytes a URL (their strings aside); hashes ~10-30.
    assert held / len(urls) < 40, held / len(urls)
