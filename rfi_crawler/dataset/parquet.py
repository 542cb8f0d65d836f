"""Parquet output with typed columns (needs pyarrow: ``pip install 'rfi-crawler[dataset]'``).

The columns follow the record fields and their shapes; times are ``timestamp[ms, UTC]``
(Parquet has no seconds unit: pyarrow would store ``s`` as ``ms`` anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from rfi_crawler.dataset.shape import Shape, record_shape

ROW_GROUP = 5000
TIME = pa.timestamp("ms", tz="UTC")


def _arrow(shape: Shape) -> pa.DataType:
    if shape.kind in ("array", "map"):
        assert shape.items is not None
        inner = _arrow(shape.items)
        return pa.list_(inner) if shape.kind == "array" else pa.map_(pa.string(), inner)
    if shape.kind == "object":
        return pa.struct([(name, _arrow(inner)) for name, inner in shape.fields.items()])
    return {"string": pa.string(), "integer": pa.int64(), "time": TIME}[shape.kind]


def parquet_schema() -> pa.Schema:
    return pa.schema([(name, _arrow(shape)) for name, shape in record_shape().items()])


def _value(value: Any, shape: Shape) -> Any:
    if value is None:
        return None
    if shape.kind == "time":
        return datetime.fromisoformat(value)
    if shape.kind == "array":
        assert shape.items is not None
        return [_value(item, shape.items) for item in value]
    if shape.kind == "object":
        return {name: _value(value.get(name), inner) for name, inner in shape.fields.items()}
    if shape.kind == "map":
        assert shape.items is not None
        return [(key, _value(item, shape.items)) for key, item in value.items()]
    return value


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(record.get(name), shape) for name, shape in record_shape().items()}


def write_parquet(records: Iterator[dict[str, Any]], out: IO[bytes]) -> None:
    schema = parquet_schema()
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(_row(record))
            if len(batch) >= ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch.clear()
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
