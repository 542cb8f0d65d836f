"""Sets and maps that grow with the crawl, kept compact: ``HashSet``, ``HashMap``, the
request dupefilter and the within-run article dedup."""

from __future__ import annotations

import hashlib
import pickle
import random
import tracemalloc
from collections import Counter

import pytest
from scrapy import Request
from scrapy.utils.misc import build_from_crawler

from rfi_crawler.compact import BlobMap, HashMap, HashSet, hash64
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


def test_hash_set_pickled_by_an_older_release_loads():
    # Its recent members were a set of ints then.
    old = HashSet.__new__(HashSet)
    old.__dict__.update(_merged=HashSet()._merged, _recent={hash64("b"), hash64("a")})
    resumed = pickle.loads(pickle.dumps(old))
    assert "a" in resumed and "b" in resumed and "c" not in resumed
    resumed.add("c")
    assert len(resumed) == 3 and list(resumed._recent) == sorted(resumed._recent)


def test_hash_map_answers_as_a_dict_across_merges():
    rng = random.Random(7)
    keys = [rng.getrandbits(64) for _ in range(40_000)]
    found, reference = HashMap(), {}
    for n, key in enumerate(keys):
        assert found.get(key) == reference.get(key)
        value = rng.getrandbits(32)
        found[key], reference[key] = value, value
        if n % 101 == 0:  # a key met earlier (merged or recent) gets a new value
            earlier = keys[rng.randrange(n + 1)]
            found[earlier] = reference[earlier] = n
            assert len(found) == len(reference)
    assert len(found) == len(reference)
    assert all(found.get(key) == value for key, value in reference.items())
    assert found.get(max(keys) + 1) is None and found.get(0) is None
    assert len(found._keys) > 30_000  # merged several times
    assert list(found._keys) == sorted(found._keys)
    assert pickle.loads(pickle.dumps(found)).get(keys[123]) == reference[keys[123]]


@pytest.mark.parametrize("value", [-1, 1 << 32, None, 1.5])
def test_a_value_out_of_range_leaves_the_map_as_it_was(value):
    found = HashMap()
    found[10], found[30] = 1, 3
    with pytest.raises((OverflowError, TypeError)):
        found[20] = value
    assert (len(found), found.get(10), found.get(20), found.get(30)) == (2, 1, None, 3)
    found[40] = 4
    assert found.get(30) == 3 and found.get(40) == 4


@pytest.mark.parametrize("kind", [HashSet, HashMap])
def test_inserting_moves_at_most_4096_recent_members(kind):
    # The recent members were up to an eighth of all: each insert moved ~n/16 of them
    # (16 µs an insert at 4,000,000). A merge now copies the large array in C and loops in
    # Python over the recent ones only.
    compact, most = kind(), 0
    for n in range(80_000):
        key = hash64(str(n))
        if kind is HashSet:
            compact.add_key(key)
            most = max(most, len(compact._recent))
        else:
            compact[key] = n
            most = max(most, len(compact._recent_keys))
    assert most <= 4096
    assert len(compact) == 80_000


@pytest.mark.parametrize("kind", [HashSet, HashMap])
@pytest.mark.parametrize("count", [4_000, 60_000])  # all recent; mostly merged
def test_members_are_no_python_objects(kind, count):
    keys = [hash64(str(n)) for n in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        compact = kind()
        for key in keys:
            if kind is HashSet:
                compact.add_key(key)
            else:
                compact[key] = 1
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 8 bytes a key, 4 a value, arrays grown ahead by up to an eighth; an int object per
    # key alone would be 32 (as the recent members in a set were: up to an eighth of all,
    # the first 4,096 at least).
    assert held / len(keys) < (10 if kind is HashSet else 15), held / len(keys)


def test_blob_map_answers_as_a_dict_and_holds_no_object_per_blob():
    rng = random.Random(11)
    blobs = {rng.getrandbits(64): rng.randbytes(rng.randrange(0, 600)) for _ in range(10_000)}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        found = BlobMap()
        for key, blob in blobs.items():
            found[key] = blob
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # The blobs' bytes, 4 for each length, 12 for the key and where; a bytes object
    # alone adds 33, and a dict slot and an int key ~70.
    assert held < 1.15 * (sum(map(len, blobs.values())) + 16 * len(blobs)), held
    assert all(found.get(key) == blob for key, blob in blobs.items())
    assert found.get(1) is None
    replaced, discarded = list(blobs)[:2]
    found[replaced] = b"new"
    found.discard(discarded)
    found.discard(2)  # never there: nothing happens
    assert found.get(replaced) == b"new" and found.get(discarded) is None
    resumed = pickle.loads(pickle.dumps(found))
    assert resumed.get(replaced) == b"new" and resumed.get(list(blobs)[5]) == blobs[list(blobs)[5]]


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


class PrefixedFingerprinter:
    """A fingerprinter of the kind REQUEST_FINGERPRINTER_CLASS allows: no hash, its first
    bytes the same for every request."""

    def fingerprint(self, request: Request) -> bytes:
        return b"rfi-crawler:" + request.url.encode()


def test_dupefilter_keys_any_fingerprinters_bytes_not_their_first_eight():
    fingerprinter = "tests.test_compact.PrefixedFingerprinter"
    refuse = dupefilter({"REQUEST_FINGERPRINTER_CLASS": fingerprinter})
    assert not refuse.request_seen(Request("https://www.rfi.fr/cn/a/20261120-x"))
    assert not refuse.request_seen(Request("https://www.rfi.fr/cn/b/20261120-y"))
    assert refuse.request_seen(Request("https://www.rfi.fr/cn/b/20261120-y"))


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
