"""rfi-dataset (also python -m rfi_crawler.dataset): datasets from run files, archive files."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from rfi_crawler.dataset import plural
from rfi_crawler.dataset.atom import atom_feed
from rfi_crawler.dataset.build import (
    FORMATS,
    BuildReport,
    Filters,
    Progress,
    ReadOptions,
    build,
    merged,
)
from rfi_crawler.dataset.card import card_path, dataset_card
from rfi_crawler.dataset.diffview import as_html, as_json, as_text
from rfi_crawler.dataset.edits import EditsReport, events
from rfi_crawler.dataset.output import (
    OutputError,
    atomic_output,
    check_output,
    write_text_atomically,
)
from rfi_crawler.dataset.reader import InputError, ReadReport, input_files, read_records
from rfi_crawler.dataset.stats import FontError, collect, plot, report
from rfi_crawler.export.run_file import MAX_LINE, encode_record

ARCHIVE_SKIP = {"FORMAT.md", "SOURCES.md", "README.md"}
PROGRESS_EVERY = 100_000
#: ``re-extract --jobs``: more workers than this only share the cores (and memory) out thinner.
MAX_JOBS = 4 * (os.cpu_count() or 1)
#: ``stats --plot`` formats (by suffix) that matplotlib writes without extra software.
PLOT_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")
DESCRIPTION = """\
Build datasets from the crawler's run files; import and export the five-line archive format.

Records go to -o FILE or standard output (JSON Lines); what was done goes to standard error.
Exit status: 0 done, 1 failed (the message names the file and line at fault), 2 bad arguments.
"""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="rfi-dataset: %(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except BrokenPipeError:
        # Standard output's reader stopped reading (`| head`): stop quietly, as the tools
        # in a pipeline do, and let nothing flush into the closed pipe at exit. (An -o
        # file's broken pipe is an OutputError naming it: output.py.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (InputError, OutputError, OSError, *_archive_errors()) as exc:
        print(f"rfi-dataset: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outputs were left as they were (see atomic_output)
        print("rfi-dataset: interrupted", file=sys.stderr)
        return 130


def _archive_errors() -> tuple[type[Exception], ...]:
    """``ArchiveError`` once the archive module is loaded: it pulls in the page extractor,
    so only the archive subcommands import it (``build`` and ``stats`` start faster)."""
    archive = sys.modules.get("rfi_crawler.archive")
    return (archive.ArchiveError,) if archive else ()


def _output(path: Path | None, inputs: Iterable[Path]) -> Any:
    """The output file, replaced only once complete, or standard output. Call it before
    reading: an output that is one of ``inputs`` is refused at once."""
    if path is None:
        return nullcontext(sys.stdout.buffer)
    check_output(path, inputs)
    return atomic_output(path)


def _options(args: argparse.Namespace) -> ReadOptions:
    return ReadOptions(
        skip_invalid=args.skip_invalid,
        max_line=args.max_line_bytes,
        allow_mixed_origins=getattr(args, "allow_mixed_origins", False),
        progress=Progress(args.progress),
    )


def run_build(args: argparse.Namespace) -> int:
    if args.output is None and args.format in ("sqlite", "parquet"):
        args.parser.error(f"--format {args.format} cannot go to standard output; give -o FILE")
    if args.format == "sqlite":
        return run_build_sqlite(args)
    files = input_files(args.inputs)
    output = _output(args.output, files)
    filters = Filters(
        args.since, args.until, frozenset(args.section), frozenset(args.tag), frozenset(args.type)
    )
    with output as out:
        report = build(
            files,
            out,
            args.format,
            filters,
            all_versions=args.all_versions,
            excel_bom=args.excel_bom,
            options=_options(args),
        )
    done = _built(report, args.format)
    if args.output and args.output.is_file():  # not beside /dev/null or a FIFO
        done += f"; card {_card(args, report)}"
    print(done, file=sys.stderr)
    return 0


def _built(report: BuildReport, fmt: str) -> str:
    """What a build wrote, from what it read, and what it skipped."""
    read = report.read
    skipped = [
        plural(n, what)
        for n, what in (
            (read.truncated, "truncated last line"),
            (read.too_long, "over-long line"),
            (read.skipped_invalid, "invalid line"),
            (read.damaged, "damaged file"),
        )
        if n
    ]
    return (
        f"rfi-dataset: {plural(report.written, 'record')} ({fmt}) from"
        f" {plural(read.records, 'record')} read in {plural(len(read.files), 'file')}"
        + (f"; skipped {', '.join(skipped)}" if skipped else "")
        + (f"; {plural(report.removed, 'record')} marked removed_at" if report.removed else "")
    )


def _card(args: argparse.Namespace, report: BuildReport) -> Path:
    """Write the output's dataset card; its path."""
    card = card_path(args.output)
    command = "rfi-dataset " + shlex.join(sys.argv[1:] if args.argv is None else args.argv)
    write_text_atomically(card, dataset_card(report, args.output.name, command))
    return card


def run_build_sqlite(args: argparse.Namespace) -> int:
    """``build --format sqlite``: a database to browse with ``rfi-dataset serve``."""
    from rfi_crawler.dataset.sqlite import SqliteUnavailable, write_sqlite

    files = input_files(args.inputs)
    check_output(args.output, files)
    filters = Filters(
        args.since, args.until, frozenset(args.section), frozenset(args.tag), frozenset(args.type)
    )
    try:
        with merged(files, filters, all_versions=args.all_versions, options=_options(args)) as (
            records,
            report,
        ):
            write_sqlite(records, args.output, files, all_versions=args.all_versions)
    except SqliteUnavailable as exc:
        print(f"rfi-dataset: {exc}", file=sys.stderr)
        return 1
    card = _card(args, report)
    print(
        f"{_built(report, 'sqlite')}; browse with: rfi-dataset serve {args.output}; card {card}",
        file=sys.stderr,
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from rfi_crawler.archive import ArchiveError, read_archive, record_of

    paths = []
    for path in args.paths:
        paths += (
            # Hidden files are no archive files: an export killed mid-file leaves its
            # ``.<name>.*.tmp`` (archive.write_archive); given by name, a file is read.
            sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.name not in ARCHIVE_SKIP and not p.name.startswith(".")
            )
            if path.is_dir()
            else [path]
        )
    imported = skipped = 0
    with _output(args.output, paths) as out:
        for path in paths:
            try:
                record = record_of(read_archive(path))
            except ArchiveError as exc:
                if not args.skip_invalid:
                    raise
                skipped += 1
                print(f"rfi-dataset: skipped {exc}", file=sys.stderr)
                continue
            out.write(encode_record(record))
            imported += 1
    print(
        f"rfi-dataset: imported {plural(imported, 'archive file')}, skipped {skipped}",
        file=sys.stderr,
    )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from rfi_crawler.archive import RecordError, write_archive

    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(
            f"{args.output}: is a file; give -o a folder for the archive files"
        ) from None
    except OSError as exc:
        raise OutputError(f"{args.output}: cannot create this folder ({exc.strerror})") from None
    report = ReadReport(input_files(args.inputs))
    written = 0
    progress = Progress(args.progress)
    records = read_records(report.files, report, args.skip_invalid, args.max_line_bytes)
    for path, number, record in records:
        try:
            write_archive(record, args.output)
        except RecordError as exc:  # the input's fault: named by its line, or skipped
            if not args.skip_invalid:
                raise InputError(f"{path}:{number}: {exc}") from None
            report.skipped_invalid += 1
            print(f"rfi-dataset: {path}:{number}: skipped: {exc}", file=sys.stderr)
            continue
        written += 1
        progress.tick(written, f"wrote {plural(written, 'archive file')}")
    skipped = f", skipped {report.skipped_invalid} invalid" if report.skipped_invalid else ""
    print(
        f"rfi-dataset: wrote {plural(written, 'archive file')} to {args.output}{skipped}",
        file=sys.stderr,
    )
    return 0


def run_stats(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)
    if args.plot:
        check_output(args.plot, files)
    with merged(files, Filters(), options=_options(args)) as (records, _):
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


def run_serve(args: argparse.Namespace) -> int:
    """``serve``: browse a database built with ``build --format sqlite`` in Datasette."""
    from rfi_crawler.dataset.serve import ServeError, serve

    try:
        return serve(args.database, args.port)
    except ServeError as exc:
        print(f"rfi-dataset: {exc}", file=sys.stderr)
        return 1


def run_reextract(args: argparse.Namespace) -> int:
    from rfi_crawler.dataset.reextract import latest_versions, reextract

    missing = [str(p) for p in args.warcs if not p.is_file()]
    if missing:
        raise InputError(f"no such WARC file: {', '.join(missing)}")
    report = ReadReport(input_files(args.against))
    output = _output(args.output, [*args.warcs, *report.files])
    against = None
    if args.against:
        against = latest_versions(r for _, _, r in read_records(report.files, report))
    with output as out:
        result = reextract(args.warcs, out.write, jobs=args.jobs, against=against)
    print(f"rfi-dataset: {result.summary()}", file=sys.stderr)
    return 0


def run_edits(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)
    output = _output(args.output, files)
    options = _options(args)
    report = EditsReport()
    with merged(files, Filters(), by_article=True, options=options) as (found, _):
        # Removals and restorations are event lines, which ``merged`` leaves out.
        lines = _with_event_lines(found, files, options)
        found_events = list(events(lines, report, since=args.since, until=args.until))
    if args.format == "atom":
        body = atom_feed(found_events, title=args.title, feed_id=args.feed_id)
    else:
        body = b"".join(encode_record(event) for event in found_events)
    with output as out:
        out.write(body)
    kinds = ", ".join(f"{count} {kind}" for kind, count in report.events.items())
    print(
        f"rfi-dataset: {kinds} in {plural(report.articles, 'article')} "
        f"({plural(report.versions, 'version')}); not RFI edits: "
        f"{plural(report.extractor_changes, 'extractor change')}, "
        f"{plural(report.no_change, 'version')} with no field changed",
        file=sys.stderr,
    )
    return 0


def _with_event_lines(
    records: Iterator[dict[str, Any]], files: list[Path], options: ReadOptions
) -> Iterator[dict[str, Any]]:
    yield from records
    report = ReadReport(files)
    for _, _, record in read_records(files, report, options.skip_invalid, options.max_line):
        if record.get("event") in ("removed", "restored"):
            yield record


def run_diff(args: argparse.Namespace) -> int:
    files = input_files(args.inputs)
    output = _output(args.output, files)
    with merged(files, Filters(), by_article=True, options=_options(args)) as (found, _):
        versions = [r for r in found if args.article in (r.get("url"), r.get("id"))]
    if not versions:
        raise InputError(f"no article with url or id {args.article!r} in the inputs")
    if args.format == "json":
        text = as_json(versions)
    elif args.format == "html":
        text = as_html(versions)
    else:
        colour = args.color == "always" or (
            args.color == "auto" and args.output is None and sys.stdout.isatty()
        )
        text = as_text(versions, colour=colour)
    with output as out:
        out.write(text.encode("utf-8"))
    return 0


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line naming the argument, the value and what is accepted; exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def day(text: str) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD")


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def size(text: str) -> int:
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes >= 1")
    return value


def _within(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what} from {low} to {high}")
    return value


def jobs(text: str) -> int:
    return _within(text, 1, MAX_JOBS, "a number of worker processes")


def port(text: str) -> int:
    return _within(text, 0, 65535, "a port number")


def plot_file(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower().lstrip(".") not in ("", *PLOT_FORMATS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a plot is written as .{', .'.join(PLOT_FORMATS)} (no suffix: PNG)"
        )
    return path


def _reading(parser: argparse.ArgumentParser) -> None:
    """Options of every subcommand that reads run files."""
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip (and count) invalid lines and damaged gzip files instead of failing",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=size,
        default=MAX_LINE,
        metavar="BYTES",
        help=f"longer lines are skipped (and counted) unread (default: {MAX_LINE}, 16 MiB)",
    )
    parser.add_argument(
        "--progress",
        type=count,
        default=PROGRESS_EVERY,
        metavar="N",
        help=f"a progress line on stderr every N records or 30 s (default: {PROGRESS_EVERY};"
        " 0: none)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rfi-dataset",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _build_parser(commands)
    _import_parser(commands)
    _export_parser(commands)
    _stats_parser(commands)
    _reextract_parser(commands)
    _edits_parser(commands)
    _diff_parser(commands)
    _serve_parser(commands)
    return parser


def _build_parser(commands: Any) -> None:
    building = commands.add_parser("build", help="merge run files into one dataset")
    building.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help=".jsonl / .jsonl.gz run files, or folders of them",
    )
    building.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="output file, replaced only once complete; its card is FILE.DATASET.md beside it"
        " (default: standard output, no card)",
    )
    building.add_argument(
        "--format",
        choices=(*FORMATS, "sqlite"),
        default="jsonl",
        help="output format (default: jsonl)",
    )
    building.add_argument(
        "--all-versions",
        action="store_true",
        help="keep every version of an article, not only the latest",
    )
    building.add_argument(
        "--since", type=day, metavar="YYYY-MM-DD", help="published on or after this day (UTC)"
    )
    building.add_argument(
        "--until", type=day, metavar="YYYY-MM-DD", help="published on or before this day (UTC)"
    )
    building.add_argument("--section", action="append", default=[], help="repeatable")
    building.add_argument("--tag", action="append", default=[], help="repeatable")
    building.add_argument(
        "--type",
        action="append",
        default=[],
        choices=("article", "audio", "video", "live"),
        help="repeatable",
    )
    building.add_argument(
        "--allow-mixed-origins",
        action="store_true",
        help="merge records from different sites (say, the replica and www.rfi.fr)",
    )
    building.add_argument("--excel-bom", action="store_true", help="CSV: UTF-8 with BOM")
    _reading(building)
    building.set_defaults(run=run_build, parser=building)


def _import_parser(commands: Any) -> None:
    importing = commands.add_parser("import-archive", help="archive files -> JSON Lines records")
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    importing.add_argument("-o", "--output", type=Path, metavar="FILE")
    importing.add_argument("--skip-invalid", action="store_true")
    importing.set_defaults(run=run_import)


def _export_parser(commands: Any) -> None:
    exporting = commands.add_parser("export-archive", help="records -> archive files")
    exporting.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    exporting.add_argument("-o", "--output", type=Path, required=True, metavar="FOLDER")
    _reading(exporting)
    exporting.set_defaults(run=run_export)


def _stats_parser(commands: Any) -> None:
    statistics = commands.add_parser("stats", help="counts, coverage, lengths; --plot")
    statistics.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    statistics.add_argument(
        "--plot",
        type=plot_file,
        metavar="FILE.png",
        help="articles per month by section, and body lengths"
        f" (.{', .'.join(PLOT_FORMATS)}, by the suffix)",
    )
    statistics.add_argument("--font", type=Path, help="a font file with Chinese glyphs")
    statistics.add_argument(
        "--allow-mixed-origins", action="store_true", help="count records from different sites"
    )
    _reading(statistics)
    statistics.set_defaults(run=run_stats)


def _reextract_parser(commands: Any) -> None:
    again = commands.add_parser(
        "re-extract", help="today's extractor on archived article responses (no network)"
    )
    again.add_argument("warcs", nargs="+", type=Path, metavar="WARC", help=".warc.gz files")
    again.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    again.add_argument(
        "--jobs", type=jobs, default=1, help=f"worker processes, 1 to {MAX_JOBS} (default 1)"
    )
    again.add_argument(
        "--against",
        nargs="+",
        type=Path,
        default=[],
        metavar="INPUT",
        help="run files: write only records whose fields differ from their latest version",
    )
    again.set_defaults(run=run_reextract)


def _edits_parser(commands: Any) -> None:
    editing = commands.add_parser(
        "edits", help="what RFI changed after publication: one event a line"
    )
    editing.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    editing.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    editing.add_argument("--format", choices=("jsonl", "atom"), default="jsonl")
    editing.add_argument("--since", type=day, help="detected on or after (YYYY-MM-DD, UTC)")
    editing.add_argument("--until", type=day, help="detected on or before (YYYY-MM-DD, UTC)")
    editing.add_argument("--title", default="RFI 中文: edits and removals", help="Atom feed title")
    editing.add_argument(
        "--feed-id",
        default="urn:uuid:1c0b6f0e-2d43-5a57-9f0e-7e2f3c9d6a10",
        help="Atom feed id (an IRI)",
    )
    _reading(editing)
    editing.add_argument(
        "--allow-mixed-origins", action="store_true", help="read records from different sites"
    )
    editing.set_defaults(run=run_edits)


def _diff_parser(commands: Any) -> None:
    differ = commands.add_parser("diff", help="an article's versions and what changed between them")
    differ.add_argument("article", metavar="URL-or-ID")
    differ.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    differ.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    differ.add_argument("--format", choices=("text", "html", "json"), default="text")
    differ.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="text: colour changes"
    )
    _reading(differ)
    differ.add_argument(
        "--allow-mixed-origins", action="store_true", help="read records from different sites"
    )
    differ.set_defaults(run=run_diff)


def _serve_parser(commands: Any) -> None:
    serving = commands.add_parser(
        "serve", help="browse a --format sqlite database in Datasette on 127.0.0.1"
    )
    serving.add_argument("database", type=Path, metavar="DATABASE")
    serving.add_argument(
        "--port", type=port, default=8001, help="port on 127.0.0.1; 0 picks a free one"
    )
    serving.set_defaults(run=run_serve)


if __name__ == "__main__":
    sys.exit(main())
