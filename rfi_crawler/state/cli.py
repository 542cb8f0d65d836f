"""``rfi-state``: copy a state store between backends (SQLite ⇄ PostgreSQL), verified."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import TextIO

from rfi_crawler.state import (
    COLUMNS,
    StateStore,
    StateStoreError,
    open_store,
    redact_uri,
    sqlite_path,
)
from rfi_crawler.store_errors import STORE_ERRORS


def table_digest(store: StateStore, table: str) -> tuple[int, str]:
    """(rows, sha256 of the sorted rows): equal on both sides iff the tables are."""
    lines = sorted(json.dumps(row, ensure_ascii=False) for row in store.rows(table))
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode() + b"\n")
    return len(lines), digest.hexdigest()


def copy(source_uri: str, target_uri: str, out: TextIO) -> bool:
    """Copy every table of a quiet store into an empty one; True if the copy matches."""
    path = sqlite_path(source_uri)
    if path is not None and not path.is_file():  # opening it would make an empty store
        raise StateStoreError(f"no state store at {path} (SOURCE must exist)")
    source = open_store(source_uri)
    try:
        unfinished = source.unfinished_runs()
        if unfinished:
            raise StateStoreError(
                f"{redact_uri(source_uri)} has {len(unfinished)} unfinished run(s)"
                f" ({', '.join(run.run_id for run in unfinished[:3])}): let them finish (a crawl"
                " on that store recovers dead ones), then copy"
            )
        target = open_store(target_uri)
        try:
            filled = [table for table in COLUMNS if target.count_rows(table)]
            if filled:
                raise StateStoreError(
                    f"{redact_uri(target_uri)} is not empty ({', '.join(filled)}): copy into a"
                    " new store"
                )
            target.load({table: source.rows(table) for table in COLUMNS})
            matches = True
            for table in COLUMNS:
                (rows, digest), (copied, copied_digest) = (
                    table_digest(source, table),
                    table_digest(target, table),
                )
                same = (rows, digest) == (copied, copied_digest)
                matches &= same
                print(
                    f"{table}: {rows} rows → {copied} rows"
                    f"{'' if same else ' MISMATCH'} (sha256 {copied_digest[:12]})",
                    file=out,
                )
            return matches
        finally:
            target.close()
    finally:
        source.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rfi-state", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    copying = commands.add_parser(
        "copy",
        help="copy a store into a new, empty one (SQLite ⇄ PostgreSQL) and verify the copy",
        description="Copy every article, pending claim and run of SOURCE into the empty store"
        " TARGET (created if need be) in one transaction; print each table's rows on both"
        " sides and exit 1 if they differ. SOURCE must have no unfinished run.",
    )
    copying.add_argument("source", metavar="SOURCE", help="a store URI (as RFI_STATE_URI)")
    copying.add_argument("target", metavar="TARGET", help="a store URI (as RFI_STATE_URI)")
    options = parser.parse_args(argv)
    try:
        if copy(options.source, options.target, sys.stdout):
            return 0
        print("rfi-state: error: the copy differs from its source", file=sys.stderr)
        return 1
    except STORE_ERRORS as exc:  # sqlite3.Error too: a damaged file
        print(f"rfi-state: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the copy is one transaction: the target is left empty
        print("rfi-state: interrupted; the target is left as it was", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
