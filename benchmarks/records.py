"""Generated run-file records for the dataset benchmarks (never committed): one record's
shape and the ten run files they are spread over, shared by dataset_build and explorer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.replica.site import SECTIONS

if TYPE_CHECKING:
    import random
    from pathlib import Path
    from types import TracebackType


def day_of(n: int) -> str:
    """Article ``n``'s publication day, spread over 2020–2025."""
    return f"20{20 + n % 6:02d}-{1 + n % 12:02d}-{1 + n % 28:02d}"


def versions_of(n: int) -> tuple[int, ...]:
    """5% of articles are present again as version 2."""
    return (1, 2) if n % 20 == 0 else (1,)


def record(n: int, version: int, day: str, **fields: Any) -> dict[str, Any]:
    """A record of the published schema; ``fields``: url, title, lead, body, authors,
    tags, related, char_count (what each benchmark varies)."""
    return {
        "id": f"WBMZ{n}",
        "url": fields["url"],
        "edition": "cn",
        "language": "zh-Hans",
        "type": "article",
        "title": fields["title"],
        "kicker": None,
        "lead": fields["lead"],
        "body": fields["body"],
        "subheadings": [],
        "published_at": f"{day}T08:00:00+00:00",
        "modified_at": None,
        "authors": fields["authors"],
        "section": SECTIONS[n % len(SECTIONS)],
        "programme": None,
        "tags": fields["tags"],
        "image": None,
        "media": [],
        "related": fields["related"],
        "links": [],
        "translations": {},
        "char_count": fields["char_count"],
        "content_hash": f"{n:064x}",
        "version": version,
        "crawl": {
            "fetched_at": f"{day}T09:00:0{version}+00:00",
            "via": "homepage",
            "referer": None,
            "depth": 0,
        },
    }


class RunFiles:
    """``with RunFiles(folder, rng) as out: out.write(record)``: ten run files, each record
    in one drawn at random; ``out.written`` counts them."""

    def __init__(self, folder: Path, rng: random.Random) -> None:
        self.rng = rng
        self.written = 0
        self.handles = [
            open(folder / f"rfi_cn-{n:02d}.jsonl", "w", encoding="utf-8")  # noqa: SIM115
            for n in range(10)
        ]

    def write(self, record: dict[str, Any]) -> None:
        self.handles[self.rng.randrange(10)].write(json.dumps(record, ensure_ascii=False) + "\n")
        self.written += 1

    def __enter__(self) -> RunFiles:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType
    ) -> None:
        for handle in self.handles:
            handle.close()
