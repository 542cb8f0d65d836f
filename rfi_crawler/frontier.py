"""Which article URLs to request, and through which path each is best reached (this run).

Depth is the shortest number of related hops from any start point. An article first met
through a long chain and later through a short one is moved closer; if it was already
parsed, its related links are offered again at the new depth, so they are followed as
far as the shorter path allows. Each URL is requested once per run.
"""

from __future__ import annotations

from typing import NamedTuple

RELATED = "related"


class Discovery(NamedTuple):
    url: str
    depth: int
    via: str  # how it was reached: a start point's name, or "related"
    referer: str | None  # the page that links it


class RelatedFrontier:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self._best: dict[str, Discovery] = {}
        self._related: dict[str, tuple[str, ...]] = {}
        self.improved = 0  # how many times a shorter path moved an article closer

    def best(self, url: str) -> Discovery | None:
        """The shortest path known so far to ``url``."""
        return self._best.get(url)

    def offer(self, url: str, depth: int, via: str, referer: str | None = None) -> list[Discovery]:
        """``url`` is reachable this way: what to request now because of it."""
        to_request: list[Discovery] = []
        pending = [Discovery(url, depth, via, referer)]
        while pending:
            current = pending.pop()
            known = self._best.get(current.url)
            if known is not None and known.depth <= current.depth:
                continue
            self._best[current.url] = current
            if known is None:
                to_request.append(current)
                continue
            self.improved += 1
            if current.depth < self.max_depth:
                pending.extend(
                    Discovery(linked, current.depth + 1, RELATED, current.url)
                    for linked in self._related.get(current.url, ())
                )
        return to_request

    def parsed(self, url: str, related: list[str]) -> list[Discovery]:
        """``url`` was parsed with these related links: what to request now."""
        known = self._best.setdefault(url, Discovery(url, 0, "url", None))
        if self.max_depth == 0:
            return []
        self._related[url] = tuple(related)
        if known.depth >= self.max_depth:
            return []
        to_request: list[Discovery] = []
        for linked in related:
            to_request += self.offer(linked, known.depth + 1, RELATED, url)
        return to_request
