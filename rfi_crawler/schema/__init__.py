"""The published JSON Schema of a record, read from the package (works inside an egg).

Every record is checked by ``jsonschema-rs`` (compiled once; ~0.07 ms a record against
~2.5 ms for ``jsonschema``); only a record it refuses goes through ``jsonschema`` for
readable messages. Both implement draft 2020-12; tests/test_schema_fast.py holds them to
the same verdict on real, replica and mutated records.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

#: Bump whenever a field is added, removed or changes meaning; manifests name it.
SCHEMA_VERSION = "1.2.0"
SCHEMA_RESOURCE = "record.schema.json"


@cache
def record_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    schema = record_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def _fast_validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(record_schema())


def validation_errors(record: dict[str, Any]) -> list[str]:
    """Readable messages (``field: problem``), empty when the record is valid."""
    try:
        if _fast_validator().is_valid(record):
            return []
    except (ValueError, TypeError):  # a value JSON cannot hold: the full validator says which
        pass
    return full_validation_errors(record)


def full_validation_errors(record: dict[str, Any]) -> list[str]:
    """``validation_errors`` by ``jsonschema`` alone (slow; the reference in tests)."""
    errors = sorted(_validator().iter_errors(record), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<record>'}: {e.message}" for e in errors
    ]


@cache
def _event_validator() -> Draft202012Validator:
    schema = record_schema()
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/event"})


def event_errors(event: dict[str, Any]) -> list[str]:
    """``validation_errors`` for an event line of a run file (``$defs/event``)."""
    errors = sorted(_event_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<event>'}: {e.message}" for e in errors
    ]
