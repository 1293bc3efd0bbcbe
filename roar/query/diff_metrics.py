"""Metrics side by side: small JSON, CSV and YAML outputs compared value by value.

DVC's ``metrics diff`` without a declaration: any output under 1 MiB whose name ends in
``.json``, ``.csv``, ``.tsv``, ``.yaml`` or ``.yml`` and that parses into numbers is read as
metrics. Nested keys are flattened with dots (``eval.accuracy``, list items by index); a CSV
with one data row is keyed by column, with several rows by ``<first column>.<column>`` (or
``<row>.<column>`` when the first column does not name its rows). YAML needs PyYAML; without it
YAML files are skipped. Pure parsing: the caller finds the bytes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from roar.records import field, record

if TYPE_CHECKING:  # csv, json and typing load only when a metric file is read
    from typing import Any

MAX_BYTES = 1 << 20
EXTENSIONS = (".json", ".csv", ".tsv", ".yaml", ".yml")


@record(frozen=True)
class MetricChange:
    key: str
    a: Any  # None: absent on that side
    b: Any
    delta: float | None  # b - a when both are numbers


@record
class MetricsDiff:
    path_a: str
    path_b: str
    changes: list[MetricChange] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)  # "a" / "b": those bytes are not on disk


def looks_like_metrics(path: str, size: int) -> bool:
    return size <= MAX_BYTES and path.lower().endswith(EXTENSIONS)


def parse(path: str, data: bytes) -> dict[str, Any] | None:
    """Flat key → scalar, or None when the bytes are not metrics this module reads."""
    import csv
    import json

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lower = path.lower()
    try:
        if lower.endswith(".json"):
            return _flatten(json.loads(text))
        if lower.endswith((".csv", ".tsv")):
            return _csv(text, "\t" if lower.endswith(".tsv") else ",")
        if lower.endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError:
                return None
            return _flatten(yaml.safe_load(text))
    except (ValueError, csv.Error, Exception):  # a malformed file is not metrics, not an error
        return None
    return None


def compare(
    path_a: str, data_a: bytes | None, path_b: str, data_b: bytes | None
) -> MetricsDiff | None:
    """The changed values of two versions, or None when neither side reads as metrics."""
    diff = MetricsDiff(path_a, path_b)
    flat_a = parse(path_a, data_a) if data_a is not None else None
    flat_b = parse(path_b, data_b) if data_b is not None else None
    if data_a is None:
        diff.unavailable.append("a")
    if data_b is None:
        diff.unavailable.append("b")
    if flat_a is None and flat_b is None:
        return diff if diff.unavailable and _metric_name(path_a, path_b) else None
    if not any(_is_number(v) for v in [*(flat_a or {}).values(), *(flat_b or {}).values()]):
        return None
    if flat_a is None or flat_b is None:
        return diff  # one side only: nothing to set beside it
    for key in [*flat_a, *(k for k in flat_b if k not in flat_a)]:
        va, vb = flat_a.get(key), flat_b.get(key)
        if va == vb:
            continue
        delta = vb - va if _is_number(va) and _is_number(vb) else None  # type: ignore[operator]
        diff.changes.append(
            MetricChange(key, va, vb, round(delta, 12) if delta is not None else None)
        )
    return diff


def _metric_name(*paths: str) -> bool:
    return any(os.path.basename(p).lower().endswith(EXTENSIONS) for p in paths)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            flat.update(_flatten(v, f"{prefix}.{i}" if prefix else str(i)))
    elif value is None or isinstance(value, (str, int, float, bool)):
        flat[prefix or "value"] = value
    else:
        flat[prefix or "value"] = str(value)
    return flat


def _csv(text: str, delimiter: str) -> dict[str, Any] | None:
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if r]
    if len(rows) < 2:
        return None
    header, body = rows[0], rows[1:]
    flat: dict[str, Any] = {}
    names = [r[0] for r in body]
    by_name = len(set(names)) == len(names) and not any(_number(n) is not None for n in names)
    for i, row in enumerate(body):
        for col, cell in zip(header, row, strict=False):
            if len(body) == 1:
                key = col
            elif by_name:
                if col == header[0]:
                    continue
                key = f"{row[0]}.{col}"
            else:
                key = f"{i}.{col}"
            number = _number(cell)
            flat[key] = number if number is not None else cell
    return flat


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None
