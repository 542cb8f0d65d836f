"""The related-link frontier: one request per URL, shortest depth wins."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from rfi_crawler.frontier import Discovery, RelatedFrontier, _pack, _unpack

REAL_ARTICLE = Path(__file__).parents[2] / "shared/rfi_pages/article_20251130_zhengzhi.html"


def urls_of(found: list[Discovery]) -> list[str]:
    return [d.url for d in found]


def test_each_url_is_requested_once():
    frontier = RelatedFrontier(2)
    assert urls_of(frontier.offer("a", 0, "homepage")) == ["a"]
    assert frontier.offer("a", 0, "rss") == []
    assert frontier.offer("a", 1, "related", "x") == []
    assert frontier.best("a") == Discovery("a", 0, "homepage", None)


def test_related_links_are_followed_up_to_the_depth():
    frontier = RelatedFrontier(2)
    frontier.offer("a", 0, "homepage")
    assert frontier.parsed("a", ["b"]) == [Discovery("b", 1, "related", "a")]
    assert frontier.parsed("b", ["c"]) == [Discovery("c", 2, "related", "b")]
    assert frontier.parsed("c", ["d"]) == []  # depth 2 is as far as it goes
    assert frontier.best("d") is None


def test_depth_zero_follows_nothing():
    frontier = RelatedFrontier(0)
    frontier.offer("a", 0, "homepage")
    assert frontier.parsed("a", ["b", "c"]) == []


def test_a_shorter_path_found_after_parsing_reopens_the_related_links():
    frontier = RelatedFrontier(2)
    frontier.offer("a", 0, "homepage")
    frontier.parsed("a", ["b"])
    frontier.parsed("b", ["x"])
    assert frontier.parsed("x", ["y"]) == []  # x at depth 2: y is too far
    # x turns up in the sitemap: depth 0, so y (1) must now be requested.
    assert frontier.offer("x", 0, "sitemap") == [Discovery("y", 1, "related", "x")]
    assert frontier.best("x") == Discovery("x", 0, "sitemap", None)
    assert frontier.improved == 1
    assert frontier.parsed("y", ["z"]) == [Discovery("z", 2, "related", "y")]


def test_improvement_cascades_through_parsed_articles():
    frontier = RelatedFrontier(3)
    frontier.offer("a", 0, "homepage")
    frontier.parsed("a", ["b"])
    frontier.parsed("b", ["c"])
    frontier.parsed("c", ["d"])  # d at 3
    assert frontier.parsed("d", ["e"]) == []
    # b becomes a start point: c → 1, d → 2, and e (3) is now in reach.
    assert frontier.offer("b", 0, "section") == [Discovery("e", 3, "related", "d")]
    assert [frontier.best(u).depth for u in "abcde"] == [0, 0, 1, 2, 3]


def test_an_improved_article_not_yet_parsed_uses_its_new_depth_when_parsed():
    frontier = RelatedFrontier(1)
    frontier.offer("a", 0, "homepage")
    frontier.parsed("a", ["b"])  # b pending at depth 1
    assert frontier.offer("b", 0, "rss") == []  # already requested
    assert frontier.parsed("b", ["c"]) == [Discovery("c", 1, "related", "b")]


def test_cycles_terminate():
    frontier = RelatedFrontier(5)
    frontier.offer("a", 0, "homepage")
    frontier.parsed("a", ["b"])
    assert frontier.parsed("b", ["a"]) == []
    assert frontier.offer("b", 0, "rss") == []


# -- related links, packed ------------------------------------------------------------------


def test_packed_links_are_the_links_at_a_quarter_of_their_size():
    html = REAL_ARTICLE.read_text(encoding="utf-8")
    paths = re.findall(r'href="(?:https://www\.rfi\.fr)?(/cn/[^"]+/\d{8}-[^"/]+)"', html)
    links = ["https://www.rfi.fr" + path for path in sorted(set(paths))]
    assert len(links) >= 10 and all("%E" in link for link in links)
    assert _unpack(_pack(links)) == links
    # Percent-encoded Chinese, deflated as it is, took ~36 % of the text.
    assert len(_pack(links)) < 0.25 * len("\n".join(links))


@given(
    st.lists(
        st.one_of(
            st.text(st.characters(blacklist_characters="\n"), min_size=1),
            # escapes in both cases, cut sequences, a literal percent
            st.lists(st.sampled_from(["%E4", "%b8", "%AD", "%25", "%", "a", "/", "%FF"]))
            .map("".join)
            .filter(bool),
        )
    )
)
def test_any_links_come_back_as_they_went_in(links):
    assert _unpack(_pack(links)) == links
