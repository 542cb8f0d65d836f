"""The collector's setting for a crawl (rfi_crawler/gc_tuning.py): set at engine start, put
back at engine stop, and a collector the user set left alone."""

from __future__ import annotations

import gc

import pytest
from scrapy import signals

from rfi_crawler.gc_tuning import GEN0_THRESHOLD, GcTuning
from tests.crawling import built_crawler


@pytest.fixture
def collector():
    """The process's collector as it was, whatever the test does to it."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    (gc.enable if enabled else gc.disable)()


def run_engine(crawler) -> tuple[tuple[int, ...], int]:
    """Start and stop the engine's signals; the threshold and the frozen objects between."""
    crawler.signals.send_catch_log(signals.engine_started)
    during = gc.get_threshold(), gc.get_freeze_count()
    crawler.signals.send_catch_log(signals.engine_stopped)
    return during


def test_a_crawl_collects_less_often_and_puts_the_collector_back(collector):
    gc.set_threshold(700, 10, 10)
    crawler = built_crawler()
    assert crawler.get_extension(GcTuning)  # one of the run's own extensions
    threshold, frozen = run_engine(crawler)
    assert threshold == (GEN0_THRESHOLD, 10, 10)
    assert frozen > 10_000  # the modules, classes and functions loaded at start
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("setting", ["disabled", "higher"])
def test_a_collector_the_user_set_is_left_alone(collector, setting):
    if setting == "disabled":
        gc.disable()
    else:
        gc.set_threshold(GEN0_THRESHOLD * 2, 5, 5)
    before = gc.get_threshold()
    threshold, frozen = run_engine(built_crawler())
    assert (threshold, frozen) == (before, 0)
    assert gc.get_threshold() == before
