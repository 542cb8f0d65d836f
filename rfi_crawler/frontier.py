"""Which article URLs to request, and through which path each is best reached (this run).

Depth is the shortest number of related hops from any start point. An article first met
through a long chain and later through a short one is moved closer; if it was already
parsed, its related links are offered again at the new depth, so they are followed as
far as the shorter path allows. Each URL is requested once per run.

The frontier grows with the crawl (every URL met), so it is kept compact. URLs are keys
as 64-bit hashes (``rfi_crawler.compact.hash64``; a collision, odds ~n²/2⁶⁵, would make
an article look met already), not as strings: a percent-encoded Chinese URL is ~300
characters. Per URL, 12 bytes in a ``HashMap`` (its hash, and its depth and how it was
reached), no Python object; until the article is parsed, its referer (a listing page's
URL or the linking article's, shared). Related links are kept only for articles deeper
than 0, the only ones whose depth can still improve, in one ``BlobMap``: joined, each
escaped non-ASCII character as its UTF-8 bytes, deflated (the 13 site links of the real
article, 3.4 KB, take 0.8 KB; they are read again only when the article moves closer).

Articles waiting to be requested wait here too (``defer``/``take``), not as Scrapy
requests: a ``Request`` in the scheduler costs ~1.3 KB (its cb_kwargs, headers and cached
fingerprint), and a sitemap lists tens of thousands at once. They wait in a queue per
depth, packed in blocks like related links (``UrlQueue``: ~30 instead of ~350 bytes a
URL); the spider takes a few at a time as the scheduler drains. A crawl reads its
listings first, so nearly every article it will fetch waits here at once: the queue
sets how a crawl's peak memory grows with its size. Kept in the frontier, they are kept
in ``spider.state`` with it under JOBDIR.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from rfi_crawler.compact import BlobMap, HashMap, hash64

if TYPE_CHECKING:
    from collections.abc import Iterable

RELATED = "related"
_VIA_BITS = 5  # up to 32 ways of reaching an article; depth in the bits above
_SEPARATOR = "\n"  # never inside a canonical URL
# A canonical URL is ASCII, each non-ASCII character percent-encoded from its UTF-8 bytes
# (9 characters for a Chinese one): kept as the bytes (3). Upper-case escapes only, so
# that unpacking gives the same text back.
_ESCAPED = re.compile(rb"(?:%[89A-F][0-9A-F])+")
_HIGH_BYTES = re.compile(rb"[\x80-\xff]+")
_PACKED, _AS_GIVEN = b"p", b"g"  # how the links of a blob were kept


class Discovery(NamedTuple):
    url: str
    depth: int
    via: str  # how it was reached: a start point's name, or "related"
    referer: str | None  # the page that links it


class UrlQueue:
    """URLs first in, first out, packed in blocks of ``BLOCK``: a listing's or a sitemap's
    URLs, met together, share most of their characters. Only the newest block (being
    filled) and the oldest (being taken from) are kept as strings."""

    BLOCK = 256

    def __init__(self, urls: Iterable[str] = ()) -> None:
        self._head: deque[str] = deque()  # the oldest URLs, taken from the left
        self._blocks: deque[bytes | tuple[str, ...]] = deque()  # then these, in order
        self._tail: list[str] = []  # then the newest, filling a block
        self._length = 0
        for url in urls:
            self.append(url)

    def __len__(self) -> int:
        return self._length

    def append(self, url: str) -> None:
        self._tail.append(url)
        self._length += 1
        if len(self._tail) >= self.BLOCK:
            if any(_SEPARATOR in url for url in self._tail):  # none should: kept as they are
                self._blocks.append(tuple(self._tail))
            else:
                self._blocks.append(_pack(self._tail))
            self._tail = []

    def popleft(self) -> str:
        if not self._head:
            if self._blocks:
                block = self._blocks.popleft()
                self._head = deque(_unpack(block) if isinstance(block, bytes) else block)
            else:
                self._head, self._tail = deque(self._tail), []
        url = self._head.popleft()  # IndexError when empty, as a deque's
        self._length -= 1
        return url


class RelatedFrontier:
    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        # Keyed by hash64(url).
        self._reached = HashMap()  # → depth << _VIA_BITS | via's index
        self._referers: dict[int, str] = {}  # → referer of its best path, until parsed
        self._referers_most = 0  # the most referers held since ``_referers`` was built
        self._related = BlobMap()  # (depth > 0, parsed) → links, packed
        self._vias: list[str] = []  # each way of reaching, once (small ints in _reached)
        self._waiting: dict[int, UrlQueue] = {}  # depth when deferred → URLs, in order
        self.improved = 0  # how many times a shorter path moved an article closer

    def __setstate__(self, state: dict) -> None:
        # A JOBDIR state pickled by an older release: URLs as keys, related links joined
        # (then deflated), no queue or a queue of strings; depths and links in dicts.
        state["_waiting"] = {
            depth: queue if isinstance(queue, UrlQueue) else UrlQueue(queue)
            for depth, queue in state.get("_waiting", {}).items()
        }
        state.setdefault("_referers_most", len(state.get("_referers", ())))
        state["_referers"] = {
            _hashed(key): referer for key, referer in state.get("_referers", {}).items()
        }
        if isinstance(state.get("_reached"), dict):
            reached = HashMap()
            for key, packed in state["_reached"].items():
                reached[_hashed(key)] = packed
            state["_reached"] = reached
        if isinstance(state.get("_related"), dict):
            related = BlobMap()
            for key, links in state["_related"].items():
                joined = links if isinstance(links, str) else zlib.decompress(links).decode()
                related[_hashed(key)] = _pack(joined.split(_SEPARATOR) if joined else [])
            state["_related"] = related
        self.__dict__.update(state)

    @property
    def waiting(self) -> int:
        """How many articles wait to be requested."""
        return sum(map(len, self._waiting.values()))

    def defer(self, found: Discovery) -> None:
        """``found`` (as ``offer`` gave it) is to be requested once the crawl has room."""
        # Its URL string waits here until requested (the frontier keeps only its hash).
        self._waiting.setdefault(found.depth, UrlQueue()).append(found.url)

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
                self._related.discard(hash64(current.url))  # it cannot move closer again
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
        self._forget_referer(key)
        if self.max_depth == 0:
            return []
        if known.depth > 0:  # a shorter path may still come: keep the links for it
            self._related[key] = _pack(related)
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
            self._forget_referer(key)
        else:
            # Not a copy: the listing's URL string, or the linking article's.
            self._referers[key] = found.referer
            self._referers_most = max(self._referers_most, len(self._referers))

    def _forget_referer(self, key: int) -> None:
        referers = self._referers
        if referers.pop(key, None) is not None and len(referers) < self._referers_most // 8:
            # A dict never gives back its table, and a sitemap's articles all wait with a
            # referer at once: rebuilt, it is sized to what it still holds.
            self._referers = dict(referers)
            self._referers_most = len(referers)

    def _via_index(self, via: str) -> int:
        try:
            return self._vias.index(via)
        except ValueError:
            if len(self._vias) == 1 << _VIA_BITS:
                raise ValueError(f"more than {1 << _VIA_BITS} ways of reaching: {via}") from None
            self._vias.append(str(via))
            return len(self._vias) - 1

    def _links(self, url: str) -> list[str]:
        packed = self._related.get(hash64(url))
        return [] if packed is None else _unpack(packed)


def _hashed(key: str | int) -> int:
    """A key of a state pickled by an older release: a URL then, its hash now."""
    return hash64(key) if isinstance(key, str) else key


def _pack(links: list[str]) -> bytes:
    joined = _SEPARATOR.join(links)
    if not joined.isascii():  # no canonical URL: kept as given
        return _AS_GIVEN + zlib.compress(joined.encode("utf-8", "surrogatepass"), 1)
    raw = _ESCAPED.sub(lambda m: bytes.fromhex(m[0].replace(b"%", b"").decode()), joined.encode())
    return _PACKED + zlib.compress(raw, 1)


def _unpack(packed: bytes) -> list[str]:
    raw = zlib.decompress(packed[1:])
    if packed[:1] == _PACKED:
        raw = _HIGH_BYTES.sub(lambda m: b"%" + m[0].hex("%").upper().encode(), raw)
    joined = raw.decode("utf-8", "surrogatepass")
    return joined.split(_SEPARATOR) if joined else []
