"""Page-level metadata every RFI page kind carries: head metas, JSON-LD, the datalayer.

Queries are compiled once (lxml ``XPath`` objects) and run on the lxml root of a parsel
``Selector``: extraction runs on every page of a crawl, and compiling a query per call
costs as much as running it. The extractors' queries spell ``//x[…]`` as
``/descendant::x[…]`` (and ``.//x[…]`` as ``descendant::x[…]``): the same nodes when no
predicate counts positions, but libxml2 walks ``//`` with a predicate through a node-set
of every node of the page, 2–3× slower on a real one (tests/test_parse_entry.py).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from lxml import etree

logger = logging.getLogger(__name__)
_decoder = json.JSONDecoder()

HEAD_METAS = etree.XPath("/html/head/meta[@content]")


def head_metas(root: Any) -> dict[str, list[str]]:
    """``property``/``name`` → contents, in page order (one pass over the head)."""
    metas: dict[str, list[str]] = defaultdict(list)
    for meta in HEAD_METAS(root):
        key = meta.get("property") or meta.get("name")
        if key:
            metas[key.lower()].append(meta.get("content"))
    return metas


def json_documents(text: str) -> list[Any]:
    """Every JSON value in ``text``; a script holding several documents yields each.

    RFI has served ld+json whose text was not one JSON document; what parses is kept and
    the rest is logged rather than raised.
    """
    documents, index = [], 0
    while True:
        while index < len(text) and text[index] in " \t\r\n;,":
            index += 1
        if index >= len(text):
            return documents
        try:
            value, index = _decoder.raw_decode(text, index)
        except (json.JSONDecodeError, RecursionError) as exc:
            logger.debug("unparsable JSON at char %d: %s", index, exc)
            return documents
        documents.append(value)


class Landmarks:
    """The elements extractors look for anywhere on a page, found in one walk of its tree.

    Each whole-page query walks all ~800 elements of a page, and an article page took
    eight (scripts, articles, buttons, asides, tag links twice, publication times, the
    article again). A walk is memory-bound: ~0.02 ms on a tree in the caches, ~0.2 ms on
    one that is not, as in a crawl (docs/performance.md). Every list is in document order
    and holds what the query named in its comment gives (tests/test_parse_entry.py
    compares them on every page we have and on random trees).
    """

    def __init__(self, root: Any) -> None:
        """``root``: a parsed page's root, its document's first top-level element."""
        found: dict[str, list[Any]] = {tag: [] for tag in _LANDMARK_TAGS}
        for top in top_elements(root):
            # Scripts and buttons were read under the root alone (``root.iter``), the rest
            # by ``//`` queries: they differ on a page with more than one top-level element.
            for element in top.iter(*(_LANDMARK_TAGS if top is root else _PAGE_WIDE_TAGS)):
                found[element.tag].append(element)
        self.scripts = found["script"]  # root/descendant-or-self::script
        self.buttons = found["button"]  # root/descendant-or-self::button
        self.asides = found["aside"]  # //aside
        articles = found["article"]
        # //article[@data-article-content]
        self.content_articles = [a for a in articles if a.get("data-article-content") is not None]
        # //article[contains(@class, "t-content__article")]
        self.class_articles = [a for a in articles if "t-content__article" in a.get("class", "")]
        # //time[ancestor::*[contains(@class, "m-pub-dates__date")]]
        self.pub_dates = [
            time
            for time in found["time"]
            if any("m-pub-dates__date" in up.get("class", "") for up in time.iterancestors())
        ]
        # //div[contains(@class, "t-content__tags")]//a
        # 2025: `a.a-hot-tag`; 2021–2023: `ul.m-tags-list li.m-tags-list__tag a` (RFI_SITE.md).
        self.tag_links = descendants_of(
            [div for div in found["div"] if "t-content__tags" in div.get("class", "")], "a"
        )


_PAGE_WIDE_TAGS = ("aside", "article", "time", "div")
_LANDMARK_TAGS = ("script", "button", *_PAGE_WIDE_TAGS)


def top_elements(root: Any) -> list[Any]:
    """Every top-level element of ``root``'s document, in document order: what ``//x``
    searches. A page has more than one where a stray ``</html>`` comes before more markup:
    libxml2 then starts another ``<html>`` beside the first, the parse's root, and the
    rest of the page (its article, say) lies in that one."""
    first = root.getroottree().getroot()
    return [first, *first.itersiblings(etree.Element)]


def descendants_of(containers: list[Any], tag: Any = etree.Element) -> list[Any]:
    """The ``tag`` descendants of ``containers`` (given in document order), in document
    order, each once: ``containers/descendant::tag``."""
    found: list[Any] = []
    outer: list[Any] = []
    for container in containers:
        # A container inside one already walked adds nothing (its descendants were met there).
        if not any(up in outer for up in container.iterancestors()):
            outer.append(container)
            found.extend(container.iterdescendants(tag))
    return found


def data_scripts(scripts: list[Any]) -> tuple[list[str], str | None]:
    """Texts of the ld+json scripts and of ``#datalayer``, in one pass over the scripts."""
    ld_texts, layer_text = [], None
    for script in scripts:
        if script.get("type") == "application/ld+json":
            ld_texts.append(script.text or "")
        elif script.get("id") == "datalayer" and layer_text is None:
            layer_text = script.text or ""
    return ld_texts, layer_text


def json_ld_objects(ld_texts: list[str]) -> list[dict[str, Any]]:
    """All JSON-LD objects of a page, flattening arrays and ``@graph``."""
    objects: list[dict[str, Any]] = []
    pending: list[Any] = []
    for text in ld_texts:
        pending.extend(json_documents(text))
    while pending:
        value = pending.pop(0)
        if isinstance(value, list):
            pending[:0] = value
        elif isinstance(value, dict):
            graph = value.get("@graph")
            if isinstance(graph, list):
                pending[:0] = graph
            else:
                objects.append(value)
    return objects


def json_ld_of_type(objects: list[dict[str, Any]], *types: str) -> dict[str, Any]:
    """The first object whose ``@type`` (a string or a list) is one of ``types``."""
    for obj in objects:
        declared = obj.get("@type")
        declared = declared if isinstance(declared, list) else [declared]
        if any(t in types for t in declared):
            return obj
    return {}


def datalayer(text: str | None) -> dict[str, Any]:
    """The ``#datalayer`` JSON (content id, type, authors, tags…), or {} if absent or broken."""
    documents = json_documents(text) if text else []
    return documents[0] if documents and isinstance(documents[0], dict) else {}


def text_of(element: Any) -> str:
    """Text and tails in document order, scripts and styles left out."""
    return "".join(_texts(element))


def _texts(element: Any) -> list[str]:
    texts: list[str] = []
    if element.text and element.tag not in ("script", "style"):
        texts.append(element.text)
    for child in element:
        if isinstance(child.tag, str) and child.tag not in ("script", "style"):
            texts.extend(_texts(child))
        if child.tail:
            texts.append(child.tail)
    return texts


# Template generations, told apart by markup (one real current page seen; the older forms
# are from RFI_SITE.md and archive files, so these rules are guesses, checked in this order):
#   current    article[data-article-content], .m-pub-dates__date times, tag links (if any)
#              carry a.a-hot-tag (2025 page)
#   2022-2023  tag links under .t-content__tags without a-hot-tag (ul.m-tags-list li a)
#   2020-2021  an article found only by class t-content__article (no data-article-content)
def template_generation(selector: Any, marks: Landmarks | None = None) -> str:
    """``current``, ``2022-2023``, ``2020-2021`` or ``unknown``: the runtime judges layout
    drift only on current-template article pages (old pages lack fields by design)."""
    marks = marks or Landmarks(selector.root)
    tag_links = marks.tag_links
    old_tags = bool(tag_links) and not any(
        "a-hot-tag" in link.get("class", "") for link in tag_links
    )
    if marks.content_articles:
        if old_tags:
            return "2022-2023"
        return "current" if marks.pub_dates else "unknown"
    if marks.class_articles:
        return "2022-2023" if old_tags else "2020-2021"
    return "unknown"
