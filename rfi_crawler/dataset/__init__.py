"""``rfi-dataset``: merge, filter and convert crawl output; import and export archives."""


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``: for the tools' messages."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
