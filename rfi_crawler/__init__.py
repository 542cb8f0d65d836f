"""rfi-crawler: RFI Chinese articles as clean, deduplicated JSON Lines datasets."""

__version__ = "0.1.0"
