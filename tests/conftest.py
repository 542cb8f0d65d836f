"""Keeps the in-process crawls (marker ``inprocess``) in a pytest run of their own."""

from __future__ import annotations

import pytest

# An in-process crawl installs and runs Twisted's reactor, which cannot be uninstalled:
# from then on Scrapy's test helpers (get_crawler, deferred_from_coro, ...) take their
# reactor paths, and a test written for a process without a reactor changes behaviour
# (a coroutine is left to a loop nobody runs). So `make test` runs two pytests:
# -m "not inprocess", then -m inprocess; a session that selects both kinds is refused.
MIXED = (
    "in-process crawls (marker inprocess) run in a pytest of their own: "
    "`make test`, or `pytest -m 'not inprocess'` and `pytest -m inprocess`"
)


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they deselect
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    inprocess = sum(1 for item in items if item.get_closest_marker("inprocess"))
    if inprocess and inprocess < len(items):
        raise pytest.UsageError(f"{MIXED} ({inprocess} of {len(items)} tests selected here)")
    if inprocess:
        from tests import crawling  # imported here: a session without crawls need not load Scrapy

        crawling.reactor_allowed = True
