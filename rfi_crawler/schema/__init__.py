"""The published JSON Schema of a record, read from the package (works inside an egg)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

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


def validation_errors(record: dict[str, Any]) -> list[str]:
    """Readable messages (``field: problem``), empty when the record is valid."""
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
