"""``rfi-dataset`` (also ``python -m rfi_crawler.dataset``): build datasets from run files,
import and export the five-line archive format.

Records go to ``-o FILE`` or standard output (JSON Lines); what was done goes to standard
error. Failures exit with status 1 and a message naming the file and line at fault.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

from rfi_crawler.archive import ArchiveError, read_archive, record_of, write_archive
from rfi_crawler.dataset.build import FORMATS, Filters, build, merged
from rfi_crawler.dataset.card import dataset_card
from rfi_crawler.dataset.reader import InputError, ReadReport, input_files, read_records
from rfi_crawler.dataset.stats import FontError, collect, plot, report

ARCHIVE_SKIP = {"FORMAT.md", "SOURCES.md", "README.md"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="rfi-dataset: %(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except (InputError, ArchiveError, OSError) as exc:
        print(f"rfi-dataset: {exc}", file=sys.stderr)
        return 1


def _output(path: Path | None) -> Any:
    return open(path, "wb") if path else nullcontext(sys.stdout.buffer)


def run_build(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)
    filters = Filters(
        args.since, args.until, frozenset(args.section), frozenset(args.tag), frozenset(args.type)
    )
    with _output(args.output) as out:
        report = build(
            files,
            out,
            args.format,
            filters,
            all_versions=args.all_versions,
            skip_invalid=args.skip_invalid,
            excel_bom=args.excel_bom,
        )
    card_dir = args.output.parent if args.output else Path.cwd()
    name = args.output.name if args.output else "standard output"
    card = card_dir / "DATASET.md"
    command = "rfi-dataset " + shlex.join(sys.argv[1:] if args.argv is None else args.argv)
    card.write_text(dataset_card(report, name, command), encoding="utf-8")
    print(
        f"rfi-dataset: {report.written} records ({args.format}) from {report.read.records} "
        f"read in {len(files)} files; card {card}",
        file=sys.stderr,
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    paths = []
    for path in args.paths:
        paths += (
            sorted(p for p in path.iterdir() if p.is_file() and p.name not in ARCHIVE_SKIP)
            if path.is_dir()
            else [path]
        )
    imported = skipped = 0
    with _output(args.output) as out:
        for path in paths:
            try:
                record = record_of(read_archive(path))
            except ArchiveError as exc:
                if not args.skip_invalid:
                    raise
                skipped += 1
                print(f"rfi-dataset: skipped {exc}", file=sys.stderr)
                continue
            out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
            imported += 1
    print(f"rfi-dataset: imported {imported} archive files, skipped {skipped}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    args.output.mkdir(parents=True, exist_ok=True)
    report = ReadReport(input_files(args.inputs))
    written = 0
    for _, _, record in read_records(report.files, report, args.skip_invalid):
        write_archive(record, args.output)
        written += 1
    print(f"rfi-dataset: wrote {written} archive files to {args.output}", file=sys.stderr)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)
    with merged(files, Filters(), skip_invalid=args.skip_invalid) as (records, _):
        stats = collect(records)
    print(report(stats), end="")
    if args.plot:
        try:
            plot(stats, args.plot, args.font)
        except FontError as exc:
            print(f"rfi-dataset: {exc}", file=sys.stderr)
            return 1
        print(f"rfi-dataset: plots written to {args.plot}", file=sys.stderr)
    return 0


def run_reextract(args: argparse.Namespace) -> int:
    from rfi_crawler.dataset.reextract import latest_versions, reextract

    missing = [str(p) for p in args.warcs if not p.is_file()]
    if missing:
        raise InputError(f"no such WARC file: {', '.join(missing)}")
    if args.jobs < 1:
        raise InputError(f"--jobs must be 1 or more, not {args.jobs}")
    against = None
    if args.against:
        report = ReadReport(input_files(args.against))
        against = latest_versions(r for _, _, r in read_records(report.files, report))
    with _output(args.output) as out:
        result = reextract(args.warcs, out.write, jobs=args.jobs, against=against)
    print(f"rfi-dataset: {result.summary()}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rfi-dataset",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    building = commands.add_parser("build", help="merge run files into one dataset")
    building.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help=".jsonl / .jsonl.gz run files, or folders of them",
    )
    building.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    building.add_argument("--format", choices=FORMATS, default="jsonl")
    building.add_argument(
        "--all-versions",
        action="store_true",
        help="keep every version of an article, not only the latest",
    )
    building.add_argument("--since", type=date.fromisoformat, help="published on or after")
    building.add_argument("--until", type=date.fromisoformat, help="published on or before")
    building.add_argument("--section", action="append", default=[])
    building.add_argument("--tag", action="append", default=[])
    building.add_argument(
        "--type", action="append", default=[], choices=("article", "audio", "video", "live")
    )
    building.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip (and report) invalid lines instead of failing",
    )
    building.add_argument("--excel-bom", action="store_true", help="CSV: UTF-8 with BOM")
    building.set_defaults(run=run_build)

    importing = commands.add_parser("import-archive", help="archive files → JSON Lines records")
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    importing.add_argument("-o", "--output", type=Path)
    importing.add_argument("--skip-invalid", action="store_true")
    importing.set_defaults(run=run_import)

    exporting = commands.add_parser("export-archive", help="records → archive files")
    exporting.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    exporting.add_argument("-o", "--output", type=Path, required=True, help="folder")
    exporting.add_argument("--skip-invalid", action="store_true")
    exporting.set_defaults(run=run_export)
    statistics = commands.add_parser("stats", help="counts, coverage, lengths; --plot")
    statistics.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    statistics.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="articles per month by section, and body lengths",
    )
    statistics.add_argument("--font", type=Path, help="a font file with Chinese glyphs")
    statistics.add_argument("--skip-invalid", action="store_true")
    statistics.set_defaults(run=run_stats)

    again = commands.add_parser(
        "re-extract", help="today's extractor on archived article responses (no network)"
    )
    again.add_argument("warcs", nargs="+", type=Path, metavar="WARC", help=".warc.gz files")
    again.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    again.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    again.add_argument(
        "--against",
        nargs="+",
        type=Path,
        default=[],
        metavar="INPUT",
        help="run files: write only records whose fields differ from their latest version",
    )
    again.set_defaults(run=run_reextract)
    return parser


if __name__ == "__main__":
    sys.exit(main())
