"""Which article URLs to request, and through which path each is best reached (this run).

Depth is the shortest number of related hops from any start point. An article first met
through a long chain and later through a short one is moved closer; if it was already
parsed, its related links are offered again at the new depth, so they are followed as
far as the shorter path allows. Each URL is requested once per run.

The frontier grows with the crawl (every URL met), so it is kept compact. URLs are keys
as 64-bit hashes (``rfi_crawler.compact.hash64``; a collision, odds ~n²/2⁶⁵, would make
an article look met already), not as strings: a percent-encoded Chinese URL is ~300
characters. Per URL, one small int (depth and how it was reached); until the article is
parsed, its referer (a listing page's URL or the linking article's, shared). Related
links are kept only for articles deeper than 0, the only ones whose depth can still
improve, joined and deflated (a dozen percent-encoded links, ~3 KB, take ~1.1 KB; they
are read again only when the article moves closer).

Articles waiting to be requested wait here too (``defer``/``take``), not as Scrapy
requests: a ``Request`` in the scheduler costs ~1.3 KB (its cb_kwargs, headers and cached
fingerprint), and a sitemap lists tens of thousands at once. Waiting costs one reference
to the URL in a queue per depth; the spider takes a few at a time as the scheduler
drains. Kept in the frontier, they are kept in ``spider.state`` with it under JOBDIR.
"""

from __future__ import annotations

import zlib
from collections import deque
from typing import NamedTuple

from rfi_crawler.compact import hash64

RELATED = "related"
_VIA_BITS = 5  # up to 32 ways of reaching an article; depth in the bits above
_SEPARATOR = "\n"  # never inside a canonical URL


class Discovery(NamedTuple):
    url: str
    depth: int
    via: str  # how it was reached: a start point's name, or "related"
    referer: str | None  # the page that links it


class RelatedFrontier:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        # Keyed by hash64(url).
        self._reached: dict[int, int] = {}  # → depth << _VIA_BITS | via's index
        self._referers: dict[int, str] = {}  # → referer of its best path, until parsed
        self._related: dict[int, bytes] = {}  # (depth > 0, parsed) → links, deflated
        self._vias: list[str] = []  # each way of reaching, once (small ints in _reached)
        self._waiting: dict[int, deque[str]] = {}  # depth when deferred → URLs, in order
        self.improved = 0  # how many times a shorter path moved an article closer

    def __setstate__(self, state: dict) -> None:
        # A JOBDIR state pickled by an older release: URLs as keys, related links joined
        # but not deflated, no queue.
        state.setdefault("_waiting", {})
        for name in ("_reached", "_referers", "_related"):
            state[name] = {
                hash64(key) if isinstance(key, str) else key: value
                for key, value in state.get(name, {}).items()
            }
        for key, links in state["_related"].items():
            if isinstance(links, str):
                state["_related"][key] = zlib.compress(links.encode(), 1)
        self.__dict__.update(state)

    @property
    def waiting(self) -> int:
        """How many articles wait to be requested."""
        return sum(map(len, self._waiting.values()))

    def defer(self, found: Discovery) -> None:
        """``found`` (as ``offer`` gave it) is to be requested once the crawl has room."""
        # Its URL string waits here until requested (the frontier keeps only its hash).
        self._waiting.setdefault(found.depth, deque()).append(found.url)

    def take(self) -> Discovery | None:
        """The next article to request: the nearest first, in the order they were met;
        with its best path now (it may have moved closer while waiting)."""
        if not self._waiting:
            return None
        depth = min(self._waiting)
        queue = self._waiting[depth]
        url = queue.popleft()
        if not queue:
            del self._waiting[depth]
        return self.best(url) or Discovery(url, depth, "url", None)

    def best(self, url: str) -> Discovery | None:
        """The shortest path known so far to ``url``."""
        key = hash64(url)
        packed = self._reached.get(key)
        if packed is None:
            return None
        via = self._vias[packed & ((1 << _VIA_BITS) - 1)]
        return Discovery(url, packed >> _VIA_BITS, via, self._referers.get(key))

    def offer(self, url: str, depth: int, via: str, referer: str | None = None) -> list[Discovery]:
        """``url`` is reachable this way: what to request now because of it."""
        to_request: list[Discovery] = []
        pending = [Discovery(url, depth, via, referer)]
        while pending:
            current = pending.pop()
            known = self._reached.get(hash64(current.url))
            if known is not None and known >> _VIA_BITS <= current.depth:
                continue
            self._keep(current)
            if known is None:
                to_request.append(current)
                continue
            self.improved += 1
            if current.depth < self.max_depth:
                pending.extend(
                    Discovery(linked, current.depth + 1, RELATED, current.url)
                    for linked in self._links(current.url)
                )
            if current.depth == 0:
                self._related.pop(hash64(current.url), None)  # it cannot move closer again
        return to_request

    def parsed(self, url: str, related: list[str]) -> list[Discovery]:
        """``url`` was parsed with these related links: what to request now."""
        known = self.best(url)
        if known is None:
            known = Discovery(url, 0, "url", None)
            self._keep(known)
        key = hash64(url)
        # Its provenance was read when it was parsed: the referer (and the string of the
        # page it names) need not be kept.
        self._referers.pop(key, None)
        if self.max_depth == 0:
            return []
        if known.depth > 0:  # a shorter path may still come: keep the links for it
            self._related[key] = zlib.compress(_SEPARATOR.join(related).encode(), 1)
        if known.depth >= self.max_depth:
            return []
        to_request: list[Discovery] = []
        for linked in related:
            to_request += self.offer(linked, known.depth + 1, RELATED, url)
        return to_request

    def _keep(self, found: Discovery) -> None:
        key = hash64(found.url)
        self._reached[key] = found.depth << _VIA_BITS | self._via_index(found.via)
        if found.referer is None:
            self._referers.pop(key, None)
        else:
            # Not a copy: the listing's URL string, or the linking article's.
            self._referers[key] = found.referer

    def _via_index(self, via: str) -> int:
        try:
            return self._vias.index(via)
        except ValueError:
            if len(self._vias) == 1 << _VIA_BITS:
                raise ValueError(f"more than {1 << _VIA_BITS} ways of reaching: {via}") from None
            self._vias.append(str(via))
            return len(self._vias) - 1

    def _links(self, url: str) -> list[str]:
        deflated = self._related.get(hash64(url))
        joined = zlib.decompress(deflated).decode() if deflated else ""
        return joined.split(_SEPARATOR) if joined else []
