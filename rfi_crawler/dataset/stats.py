"""Counts, field coverage and body lengths of a dataset, and its two plots.

Streaming: lengths are kept as a histogram (10-character buckets), never as a list.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rfi_crawler.dataset.output import atomic_output
from rfi_crawler.fields import COVERED

BUCKET = 10
TOP_SECTIONS = 8
# Monthly bars up to 50 years of them; a longer span is drawn by year.
MAX_MONTH_BARS = 600
MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])(?![0-9])")
# Fonts with simplified Chinese glyphs, best first (Debian: fonts-noto-cjk, fonts-wqy-microhei).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)


class FontError(RuntimeError):
    """No font that can draw Chinese labels."""


@dataclass
class DatasetStats:
    records: int = 0
    by_month: Counter[str] = field(default_factory=Counter)
    by_section: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    by_author: Counter[str] = field(default_factory=Counter)
    by_month_section: Counter[tuple[str, str]] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    lengths: Counter[int] = field(default_factory=Counter)  # bucket start → records

    def add(self, record: dict[str, Any]) -> None:
        self.records += 1
        month = _month(record.get("published_at"))
        section = record.get("section") or "(none)"
        self.by_month[month] += 1
        self.by_section[section] += 1
        self.by_month_section[month, section] += 1
        self.by_type[record.get("type") or "(none)"] += 1
        self.by_author.update(record.get("authors") or ["(none)"])
        self.present.update(n for n in COVERED if record.get(n) not in (None, "", [], {}))
        length = len(record.get("body") or "")
        self.lengths[length // BUCKET * BUCKET] += 1

    def percentile(self, share: float) -> int:
        """Body length (to the bucket) below which ``share`` of the records fall."""
        target, seen = share * self.records, 0
        for start in sorted(self.lengths):
            seen += self.lengths[start]
            if seen >= target:
                return start + BUCKET - 1
        return 0


def collect(records: Iterable[dict[str, Any]]) -> DatasetStats:
    stats = DatasetStats()
    for record in records:
        stats.add(record)
    return stats


def report(stats: DatasetStats) -> str:
    def table(title: str, counts: Counter[Any], limit: int | None = None) -> str:
        rows = sorted(counts.items()) if title == "month" else counts.most_common(limit)
        return f"\n{title}:\n" + "\n".join(f"  {name}\t{count}" for name, count in rows)

    coverage = (
        "\n".join(f"  {name}\t{stats.present[name] / stats.records:.1%}" for name in COVERED)
        if stats.records
        else "  (no records)"
    )
    lengths = ", ".join(f"p{int(p * 100)} {stats.percentile(p)}" for p in (0.1, 0.5, 0.9, 0.99))
    return (
        f"records: {stats.records}"
        + table("month", stats.by_month)
        + table("section", stats.by_section)
        + table("type", stats.by_type)
        + table("author (top 30)", stats.by_author, 30)
        + f"\nfield coverage:\n{coverage}\nbody length (characters): {lengths}\n"
    )


def cjk_font(path: Path | None = None) -> Any:
    """A font that draws Chinese: the file given, else the first installed of CJK_FONTS."""
    from matplotlib import font_manager

    if path is not None:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path))
    installed = {font.name for font in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return font_manager.FontProperties(family=name)
    raise FontError(
        "no font with Chinese glyphs is installed: install one (Debian/Ubuntu: "
        "apt-get install fonts-wqy-microhei) or pass --font /path/to/font.ttf"
    )


def _month(published_at: Any) -> str:
    """``YYYY-MM`` of a record's date, or ``unknown`` (no date, or no ISO one: 20251130)."""
    text = str(published_at or "")
    return text[:7] if MONTH.match(text) else "unknown"


def _span(months: list[str]) -> int:
    """Months from the first to the last of sorted YYYY-MM, both counted."""
    (first_year, first), (last_year, last) = (
        map(int, m.split("-")) for m in (months[0], months[-1])
    )
    return (last_year - first_year) * 12 + last - first + 1


def month_range(months: list[str]) -> list[str]:
    """Every month from the first to the last (YYYY-MM), empty ones included."""
    if not months:
        return []
    year, month = map(int, months[0].split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= months[-1]:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def plot(stats: DatasetStats, path: Path, font_path: Path | None = None) -> None:
    """Articles per month stacked by section (the largest sections, the rest as 其他), and
    the distribution of body lengths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font(font_path)
    dated = sorted(m for m in stats.by_month if m != "unknown")
    # A date far from the rest (a record of year 1000) would make a bar of every month
    # between: past MAX_MONTH_BARS, a bar for each year that has articles.
    by_year = len(dated) > 1 and _span(dated) > MAX_MONTH_BARS
    periods = sorted({month[:4] for month in dated}) if by_year else month_range(dated)
    top = [s for s, _ in stats.by_section.most_common(TOP_SECTIONS)]
    counted: Counter[tuple[str, str]] = Counter()
    for (month, section), count in stats.by_month_section.items():
        if month != "unknown":
            when = month[:4] if by_year else month
            counted[when, section if section in top else "其他"] += count
    figure, (per_month, lengths) = plt.subplots(2, 1, figsize=(12, 9), layout="constrained")
    bottom = [0] * len(periods)
    for section in [*top, "其他"]:
        counts = [counted[when, section] for when in periods]
        if any(counts):
            per_month.bar(periods, counts, bottom=bottom, label=section)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    title = (
        "每年文章数（按栏目） · articles per year"
        if by_year
        else "每月文章数（按栏目） · articles per month"
    )
    per_month.set_title(f"{title} by section", fontproperties=font)
    per_month.set_ylabel("文章数 · articles", fontproperties=font)
    if per_month.get_legend_handles_labels()[1]:  # no dated bars: no legend (it would warn)
        per_month.legend(prop=font, ncols=3, fontsize="small")
    step = max(1, len(periods) // 24)
    per_month.set_xticks(range(0, len(periods), step), periods[::step], rotation=60, fontsize=8)
    # About 40 bars up to the 99th percentile, whatever the dataset's size.
    limit = max(stats.percentile(0.99), BUCKET)
    width = max(BUCKET, -(-limit // 40 // BUCKET) * BUCKET)
    bins: Counter[int] = Counter()
    for start, count in stats.lengths.items():
        bins[start // width * width] += count
    starts = sorted(b for b in bins if b <= limit)
    lengths.bar(starts, [bins[s] for s in starts], width=width * 0.9, align="edge")
    lengths.set_title(
        f"正文长度分布 · body length ({stats.records} 篇文章, 中位数 {stats.percentile(0.5)} 字)",
        fontproperties=font,
    )
    lengths.set_xlabel("正文字数 · characters in body", fontproperties=font)
    lengths.set_ylabel("文章数 · articles", fontproperties=font)
    lengths.set_xlim(0, limit * 1.05)
    with atomic_output(path) as handle:
        figure.savefig(handle, dpi=110, format=path.suffix.lstrip(".").lower() or "png")
    plt.close(figure)
