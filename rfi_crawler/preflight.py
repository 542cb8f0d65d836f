"""Checks made before a crawl sends its first request: settings, arguments, output folders."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.utils.misc import load_object
from w3lib.url import file_uri_to_path

from rfi_crawler.arguments import SpiderArguments
from rfi_crawler.backfill_run import BackfillExtension
from rfi_crawler.config import ConfigError, RfiConfig
from rfi_crawler.run import CrawlRun
from rfi_crawler.urls import origin_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.settings import BaseSettings


def check_crawl(
    settings: BaseSettings, spider_arguments: Mapping[str, Any], *, backfill: bool = False
) -> RfiConfig:
    """Everything a crawl can be refused for at start, as one ConfigError line each
    (``backfill``: the spider implies ``archive=1``)."""
    config = RfiConfig.from_settings(settings)
    arguments = SpiderArguments.from_kwargs(
        spider_arguments,
        config.base_url,
        backfill=backfill,
        url_limit=url_length_limit(settings),
    )
    check_run_enabled(settings, backfill=arguments.archive)
    check_folders(config)
    check_origin(config)
    prepare_feed_folders(settings)
    return config


def url_length_limit(settings: BaseSettings) -> int:
    """Scrapy's URLLENGTH_LIMIT, which a ``urls`` page must keep to (0: none); a value
    Scrapy cannot read is refused here, not in a traceback at start-up."""
    raw = settings.get("URLLENGTH_LIMIT")
    if not re.fullmatch(r"[0-9]{1,30}", str(raw).strip()):
        raise ConfigError(
            f"URLLENGTH_LIMIT={raw!r} is not accepted: expected a whole number of characters,"
            " 0 for no limit"
        )
    return int(str(raw).strip())


def _same_origin(first: str, second: str) -> bool:
    spelled = [origin_of(url) or url.rstrip("/") for url in (first, second)]
    return spelled[0] == spelled[1]


def check_run_enabled(settings: BaseSettings, *, backfill: bool = False) -> None:
    """The run extension is not disabled: the exporter and the date window work through
    it (the state store, the run file), and any other of the run's may be; nor, in a
    backfill, the backfill's, which plans what the spider requests."""
    needed = [(CrawlRun, "which records need (the state store, the run file)")]
    if backfill:
        needed.append(
            (BackfillExtension, "which a backfill needs (archive=1: its plan, its days done)")
        )
    disabled = [key for key, order in settings.getwithbase("EXTENSIONS").items() if order is None]
    for key in disabled:
        loaded = _loads(key)  # compared by identity: a key may load anything, a dict too
        if why := next((why for needs, why in needed if loaded is needs), None):
            raise ConfigError(f"EXTENSIONS is not accepted: it disables {_path(key)}, {why}")


def _path(key: Any) -> str:
    return key if isinstance(key, str) else f"{key.__module__}.{key.__qualname__}"


def _loads(key: Any) -> Any:
    try:
        return load_object(key) if isinstance(key, str) else key
    except (ImportError, NameError, ValueError):
        return None  # not ours to judge: Scrapy says so when it builds the extensions


def check_folders(config: RfiConfig) -> None:
    """The data and output folders exist (created now) and are folders."""
    for name, folder in (("RFI_DATA_DIR", config.data_dir), ("RFI_OUTPUT_DIR", config.output_dir)):
        _create(
            folder,
            f"{name}={str(folder)!r} is not accepted: cannot create it",
            "a folder you may write",
        )


def check_origin(config: RfiConfig) -> None:
    """Refuse to mix origins in one output folder: the newest manifest there names the
    origin its run crawled (``origin``, or ``settings.base_url`` before it existed)."""
    manifests = sorted(config.output_dir.glob("rfi_cn-*.manifest.json"))
    if not manifests:
        return
    try:
        manifest = json.loads(manifests[-1].read_text(encoding="utf-8"))
        earlier = manifest.get("origin") or manifest["settings"]["base_url"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # an unreadable manifest is the dataset tools' to report, not a reason to stop
    # One origin however it was typed (https://Mirror.example:443 is https://mirror.example).
    if not _same_origin(str(earlier), config.origin):
        raise ConfigError(
            f"RFI_BASE_URL={config.origin!r} is not accepted here: {config.output_dir} holds "
            f"records of {earlier}; expected that origin, or another RFI_DATA_DIR/RFI_OUTPUT_DIR"
        )


def prepare_feed_folders(settings: BaseSettings) -> None:
    """Create the folder of each local ``-o``/``-O`` file (Scrapy would fail with a bare
    ``[Errno 2]`` after the crawl started), and refuse a file that is a folder (Scrapy
    would fail at every item, with a traceback each)."""
    for uri in settings.getdict("FEEDS"):
        text = str(uri)
        parts = urlsplit(text)
        # The path Scrapy's FileFeedStorage writes: a file URI decoded, a path as it is
        # (no ~: only a shell expands it, before Scrapy sees the path).
        if parts.scheme == "file":
            target = Path(file_uri_to_path(text))
        elif len(parts.scheme) > 1:
            continue  # s3://, ftp://…: not ours to check
        else:
            target = Path(text)
        if "%(" in str(target):
            # Named at each run: its fixed folders at least must be folders, or creatable.
            fixed = Path(*target.parts[: next(n for n, p in enumerate(target.parts) if "%(" in p)])
            if str(fixed) and not fixed.is_dir():
                _create(fixed, f"-o {text}: cannot create {fixed}", FEED_EXPECTED)
            continue
        if target.is_dir():
            raise ConfigError(f"-o {text}: {target} is a folder; expected {FEED_EXPECTED}")
        folder = target.parent
        if not folder.is_dir():
            _create(folder, f"-o {text}: cannot create its folder {folder}", FEED_EXPECTED)
        _check_writable(target, text)


FEED_EXPECTED = "a file in a folder you may write"


def _check_writable(target: Path, text: str) -> None:
    """Open the file as Scrapy will (created if missing, then removed again): a dangling
    symlink, /proc, a read-only file would otherwise fail at every item, each with a
    traceback, in a run that ends 'finished'. A FIFO or a device is left to Scrapy."""
    if target.exists() and not target.is_file():  # /dev/stdout through a pipe, say
        return
    existed = target.exists()
    try:  # through a symbolic link, as Scrapy's open will: its file is made
        os.close(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOCTTY, 0o666))
    except OSError as exc:
        raise ConfigError(
            f"-o {text}: cannot write {target} ({exc.strerror}); expected {FEED_EXPECTED}"
        ) from None
    if not existed:  # the file made here, never a link in its way
        Path(os.path.realpath(target)).unlink(missing_ok=True)


def _create(folder: Path, refusal: str, expected: str) -> None:
    """``folder`` and its parents, or one ConfigError line: the refusal, why, what works."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{refusal} ({exc.strerror}); expected {expected}") from None
