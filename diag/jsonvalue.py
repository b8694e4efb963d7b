"""The type of a JSON value, for the ``to_dict()`` shapes that reports and the edges print,
the one conversion of evidence (any value) into it, and a hashable key for comparing values
by that conversion without making it.

``Sequence`` and ``Mapping`` (not list and dict) keep the alias covariant, so a ``list[str]``
or a ``dict[str, int]`` is a Json value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeAlias

Json: TypeAlias = "str | int | float | bool | Sequence[Json] | Mapping[str, Json] | None"
JsonObject: TypeAlias = "dict[str, Json]"

__all__ = ["Json", "JsonObject", "json_key", "json_object", "jsonable"]


def jsonable(value: object) -> Json:
    """``value`` as plain JSON: mappings with string keys, sequences and sets as lists, bytes
    decoded (UTF-8, replacing), datetimes in ISO 8601, anything else as its ``str``."""
    if isinstance(value, Mapping):
        return json_object(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def json_object(mapping: Mapping[str, object]) -> JsonObject:
    """``mapping`` (evidence, a check's data) as a JSON object, its values made ``jsonable``."""
    return {str(k): jsonable(v) for k, v in mapping.items()}


def json_key(value: object) -> Hashable:
    """A hashable key for ``jsonable(value)``: two values get equal keys exactly when their
    ``jsonable`` forms have equal ``repr`` (so ``True``, ``1`` and ``1.0`` stay apart). Only
    tuples are built: no lists, dicts or text, which made comparing evidence cost more than
    the checks behind it."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if isinstance(value, Mapping):
        return (dict, tuple((str(k), json_key(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return (list, tuple(json_key(v) for v in value))
    converted = jsonable(value)  # a scalar: floats, bytes, datetimes, anything else as text
    if isinstance(converted, float):
        return (type(converted), repr(converted))  # nan equals itself, -0.0 is not 0.0
    return (type(converted), converted)
