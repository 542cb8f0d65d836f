"""Gaps found by the review of issues 10 and 11: each test fails on the defect it names."""

from __future__ import annotations

import pytest

from rfi_crawler import urls


# Issue 10 item 12, for links found in pages: the `urls` argument resolved its dot segments,
# but a related link `/cn/%2e%2e/%2e%2e/20251130-x` on a hostile page became the record URL
# `https://www.rfi.fr/cn/../../20251130-x` and was requested as `/20251130-x`.
@pytest.mark.parametrize(
    "href",
    [
        "/cn/%2e%2e/%2e%2e/20251130-x",
        "/cn/%2E%2E/中国/20251130-x",
        "/cn/../../20251130-x",
        "/cn/a/../20251130-x",
        "/cn/中国/./20251130-x",
        "https://www.rfi.fr/cn/%2e/中国/20251130-x",
    ],
)
def test_a_link_with_dot_segments_is_no_content_url(href):
    assert urls.canonical_content_url(href, "https://www.rfi.fr/cn/", None) is None
    assert urls.archive_item_url(href, "https://www.rfi.fr/cn/", None) is None
