"""Differences between two versions of an article's text, character by character for
Chinese (which has no spaces to split words on), grouped into runs a reader can follow."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

# Fields whose text is compared character by character; list fields are compared as
# their items, one per line.
TEXT_FIELDS = ("title", "kicker", "lead", "body")
LIST_FIELDS = ("subheadings", "authors", "tags")
# Ours, not RFI's: bookkeeping that changes on every export, or values derived from the
# compared fields, never reported as a change of the article.
NOT_CONTENT = frozenset(
    {
        "version",
        "crawl",
        "content_hash",
        "char_count",
        "extractor_version",
        "changed_fields",
        "change_cause",
        "detected_at",
    }
)
# Two changes separated by fewer equal characters than this read as one change:
# "七十五" → "八十二" is one replacement, not two with a "十" kept between them.
MERGE_GAP = 3
# Paragraphs sharing less than this share of their characters were rewritten, not edited:
# shown as one replacement rather than a scatter of kept characters.
REWRITTEN = 0.3
# SequenceMatcher compares each element of one side with every equal element of the other:
# two 40,000-character paragraphs of a few distinct characters cost ~2e8 comparisons (two
# minutes). Past this many, the text is compared by coarser units (see _opcodes).
MAX_COMPARISONS = 2_000_000
# And a diff compares at most this many pairs of characters in all (two texts of ~2,000
# each): SequenceMatcher's matching is quadratic in them whatever they share, 0.25 s here
# (two 20,000-character paragraphs with every third character changed took 25 s).
MAX_CHARACTER_PAIRS = 4_000_000
# Where a paragraph too long to compare by characters is cut into clauses: after each
# run of sentence or clause punctuation (Chinese and Latin) or whitespace.
CLAUSE_END = re.compile(r"(?<=[。！？；，、：,.!?;:\s])(?![。！？；，、：,.!?;:\s])")


@dataclass(frozen=True)
class Run:
    """A stretch of text: unchanged (``equal``), or replaced ``old`` → ``new``."""

    op: str  # "equal", "insert", "delete" or "replace"
    old: str
    new: str

    def as_json(self) -> dict[str, str]:
        return {"op": self.op, "old": self.old, "new": self.new}


def field_text(record: dict[str, Any], name: str) -> str | None:
    """The comparable text of a field: text as is, a list of text one item per line."""
    value = record.get(name)
    if name in LIST_FIELDS:
        return "\n".join(str(item) for item in value or [])
    return value if isinstance(value, str) or value is None else str(value)


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Fields whose value differs between two versions, in the schema's order."""
    names = [name for name in new if name not in NOT_CONTENT]
    names += [name for name in old if name not in NOT_CONTENT and name not in new]
    return [name for name in names if old.get(name) != new.get(name)]


def runs(old: str, new: str) -> list[Run]:
    """``old`` → ``new`` as equal and changed runs.

    Paragraphs (lines) are matched first, then characters inside the changed paragraphs:
    a long body with one edited sentence costs a sentence's comparison, not the body's.
    """
    result: list[Run] = []
    budget = _Budget()  # for the whole text: many changed paragraphs share it
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for op, i1, i2, j1, j2 in _opcodes(old_lines, new_lines):
        before, after = "".join(old_lines[i1:i2]), "".join(new_lines[j1:j2])
        if op == "replace":
            result += _character_runs(before, after, budget)
        else:
            result.append(Run(op, before, after))
    return _merged(result)


def _character_runs(old: str, new: str, budget: _Budget) -> list[Run]:
    if budget.affords(old, new):
        return _compared(old, new)
    # Too costly whole: what both keep at the start and the end is kept, character by
    # character (one inserted character in a long paragraph is that character), and only
    # the middle is compared, by characters where affordable, else by clauses.
    head = _shared(old, new, lambda text, size: text[:size])
    old_rest, new_rest = old[head:], new[head:]
    tail = _shared(old_rest, new_rest, lambda text, size: text[len(text) - size :])
    old_middle, new_middle = old_rest[: len(old_rest) - tail], new_rest[: len(new_rest) - tail]
    if budget.affords(old_middle, new_middle):
        middle = _compared(old_middle, new_middle)
    else:
        middle = _clause_runs(old_middle, new_middle, budget)
    start = Run("equal", old[:head], new[:head])
    end = Run("equal", old_rest[len(old_rest) - tail :], new_rest[len(new_rest) - tail :])
    return [start, *middle, end]


def _shared(old: str, new: str, part: Callable[[str, int], str]) -> int:
    """The longest size of ``part`` (a start, an end) both texts have: found by halving,
    each step one comparison of slices (in C), so a long paragraph costs no Python loop."""
    low, high = 0, min(len(old), len(new))
    while low < high:
        size = (low + high + 1) // 2
        if part(old, size) == part(new, size):
            low = size
        else:
            high = size - 1
    return low


def _compared(old: str, new: str) -> list[Run]:
    """Character by character; one replacement when the two share too little."""
    if not old or not new:  # nothing to match: an insertion or a deletion
        return [Run("insert" if new else "delete", old, new)] if old or new else []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    if matcher.ratio() < REWRITTEN:
        return [Run("replace", old, new)]
    return [Run(op, old[i1:i2], new[j1:j2]) for op, i1, i2, j1, j2 in matcher.get_opcodes()]


def _clause_runs(old: str, new: str, budget: _Budget) -> list[Run]:
    """A paragraph too long to compare by characters: by clauses (kept ends first), then
    characters inside the changed clauses where that is affordable, else their whole text
    as one replacement. The runs still spell out both texts exactly."""
    old_clauses, new_clauses = CLAUSE_END.split(old), CLAUSE_END.split(new)
    result = []
    for op, i1, i2, j1, j2 in _opcodes(old_clauses, new_clauses):
        before, after = "".join(old_clauses[i1:i2]), "".join(new_clauses[j1:j2])
        if op == "replace" and budget.affords(before, after):
            result += _compared(before, after)
        else:
            result.append(Run(op, before, after))
    return result


def _opcodes(old: list[str], new: list[str]) -> list[tuple[str, int, int, int, int]]:
    """SequenceMatcher's opcodes when affordable; else what both keep at the start and the
    end, and the middle as one replacement (when even that middle is too costly)."""
    if _comparisons(old, new) <= MAX_COMPARISONS:
        return SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    head = 0
    while head < min(len(old), len(new)) and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    old_end, new_end = len(old) - tail, len(new) - tail
    op = "replace" if old_end > head < new_end else ("delete" if old_end > head else "insert")
    middle = [(op, head, old_end, head, new_end)]
    if _comparisons(old[head:old_end], new[head:new_end]) <= MAX_COMPARISONS:
        found = SequenceMatcher(None, old[head:old_end], new[head:new_end], autojunk=False)
        middle = [
            (op, head + i1, head + i2, head + j1, head + j2)
            for op, i1, i2, j1, j2 in found.get_opcodes()
        ]
    return [
        ("equal", 0, head, 0, head),
        *middle,
        ("equal", old_end, len(old), new_end, len(new)),
    ]


class _Budget:
    """The pairs of characters one diff may still compare (MAX_CHARACTER_PAIRS in all)."""

    def __init__(self) -> None:
        self.pairs = MAX_CHARACTER_PAIRS

    def affords(self, old: str, new: str) -> bool:
        """Whether ``old`` and ``new`` may be compared by characters (then spent)."""
        cost = len(old) * len(new)
        if cost > self.pairs or _comparisons(old, new) > MAX_COMPARISONS:
            return False
        self.pairs -= cost
        return True


def _comparisons(old: str | list[str], new: str | list[str]) -> int:
    """How many element pairs SequenceMatcher's first pass compares: for each element of
    ``old``, the equal elements of ``new`` (counted in linear time)."""
    counted = Counter(new)
    return sum(counted[item] for item in old)


def _merged(found: list[Run]) -> list[Run]:
    """Neighbouring changes joined into one; a short equal run between two changes too."""
    joined: list[Run] = []
    for run in found:
        if not run.old and not run.new:
            continue
        if joined and (joined[-1].op == "equal") == (run.op == "equal"):
            joined[-1] = _joined(joined[-1], run)
        else:
            joined.append(run)
    result: list[Run] = []
    for index, run in enumerate(joined):
        between_changes = 0 < index < len(joined) - 1
        short_gap = run.op == "equal" and between_changes and len(run.old) < MERGE_GAP
        if short_gap or (result and result[-1].op != "equal" and run.op != "equal"):
            result[-1] = _joined(result[-1], run)
        else:
            result.append(run)
    return result


def _joined(first: Run, second: Run) -> Run:
    old, new = first.old + second.old, first.new + second.new
    if first.op == second.op == "equal":
        return Run("equal", old, new)
    op = "replace" if old and new else ("insert" if new else "delete")
    return Run(op, old, new)


def counts(found: list[Run]) -> dict[str, int]:
    """Characters added and removed: what a reader would see highlighted."""
    added = sum(len(run.new) for run in found if run.op != "equal")
    removed = sum(len(run.old) for run in found if run.op != "equal")
    return {"added": added, "removed": removed}
