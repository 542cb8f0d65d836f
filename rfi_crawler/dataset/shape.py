"""What each record field holds, derived from the record schema: the JSON types checked
when reading, and from them the CSV columns and the Parquet types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from rfi_crawler.fields import FIELDS
from rfi_crawler.schema import record_schema

#: Integers SQLite and Parquet (int64) hold: a larger one is an invalid value, not an
#: OverflowError when the dataset is written.
INT64 = range(-(2**63), 2**63)
_JSON_TYPES = {"string": "string", "integer": "integer", "array": "array", "object": "object"}


@dataclass(frozen=True)
class Shape:
    """``kind`` is string, time (an ISO 8601 string with its offset), integer, array
    (of ``items``), object (fixed ``fields``) or map (keys that are data, such as
    language tags: ``items`` values; ``fields`` the keys the schema knows)."""

    kind: str
    items: Shape | None = None
    fields: dict[str, Shape] = field(default_factory=dict)


#: Columns the dataset tools add after the record's fields (not crawl fields): when the
#: crawl recorded the article removed (its ``removed`` event), unless it came back since.
DATASET_FIELDS = {"removed_at": Shape("time")}


@cache
def record_shape() -> dict[str, Shape]:
    """Field name → shape, for every field of ``FIELDS`` (in that order), then the
    dataset's own ``DATASET_FIELDS``."""
    schema = record_schema()
    return {
        **{name: _shape(schema["properties"][name], schema) for name in FIELDS},
        **DATASET_FIELDS,
    }


def _shape(spec: dict[str, Any], schema: dict[str, Any]) -> Shape:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[1]
        return Shape("time") if name == "utc_time" else _shape(schema["$defs"][name], schema)
    for union in ("anyOf", "oneOf"):
        if union in spec:  # a value or null: the non-null branch gives the shape
            (branch,) = [b for b in spec[union] if b.get("type") != "null"]
            return _shape(branch, schema)
    if "enum" in spec:
        return Shape("string")
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    (kind,) = [_JSON_TYPES[k] for k in kinds if k != "null"]
    if kind == "array":
        return Shape("array", items=_shape(spec["items"], schema))
    if kind == "object":
        properties = {k: _shape(v, schema) for k, v in spec.get("properties", {}).items()}
        if all(name.isidentifier() for name in properties):
            return Shape("object", fields=properties)
        # Keys that are data (language tags such as zh-Hans), not names: a map.
        values = list(properties.values())
        assert all(v == values[0] for v in values), spec
        return Shape("map", items=values[0], fields=properties)
    return Shape(kind)


Check = Callable[[Any, str], "str | None"]


def type_error(record: dict[str, Any]) -> str | None:
    """``field: expected …, got …`` for the first field whose JSON type is wrong (null is
    always accepted: the schema, not the dataset tools, says which fields are required)."""
    if not isinstance(record.get("url"), str):
        return "url: expected a string"
    for name, check in _record_checks():
        value = record.get(name)
        if value is not None and (error := check(value, name)):
            return error
    return None


@cache
def _record_checks() -> tuple[tuple[str, Check], ...]:
    return tuple((name, _checker(shape)) for name, shape in record_shape().items())


def _checker(shape: Shape) -> Check:
    """A function (value, where) → error or None for values of ``shape`` (never None)."""
    kind = shape.kind

    def wrong(value: Any, where: str) -> str:
        return f"{where}: expected {kind}, got {_json_type(value)}"

    if kind == "string":
        return lambda value, where: None if type(value) is str else wrong(value, where)
    if kind == "integer":

        def integer_check(value: Any, where: str) -> str | None:
            if type(value) is not int:
                return wrong(value, where)
            if value not in INT64:
                return f"{where}: integer out of range (SQLite and Parquet hold 64 bits)"
            return None

        return integer_check
    if kind == "time":

        def time_check(value: Any, where: str) -> str | None:
            if type(value) is not str:
                return wrong(value, where)
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return f"{where}: expected an ISO 8601 time such as 2025-11-30T10:13:00+00:00"
            return None

        return time_check
    assert shape.items is not None or kind == "object"
    if kind == "array":
        item = _checker(shape.items)  # type: ignore[arg-type]

        def array_check(value: Any, where: str) -> str | None:
            if type(value) is not list:
                return wrong(value, where)
            for index, element in enumerate(value):
                inner = f"{where}[{index}]"
                if element is None:
                    return f"{inner}: expected {shape.items.kind}, got null"  # type: ignore[union-attr]
                if error := item(element, inner):
                    return error
            return None

        return array_check
    if kind == "object":
        fields = tuple((name, _checker(inner)) for name, inner in shape.fields.items())

        def object_check(value: Any, where: str) -> str | None:
            if type(value) is not dict:
                return wrong(value, where)
            for name, check in fields:
                inner = value.get(name)
                if inner is not None and (error := check(inner, f"{where}.{name}")):
                    return error
            return None

        return object_check
    values = _checker(shape.items)  # type: ignore[arg-type]

    def map_check(value: Any, where: str) -> str | None:
        if type(value) is not dict:
            return wrong(value, where)
        for key, inner in value.items():
            if inner is not None and (error := values(inner, f"{where}.{key}")):
                return error
        return None

    return map_check


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return names.get(type(value), "null" if value is None else "object")
