"""The one codec between the typed contracts (frozen dataclasses) and their JSON files.

Plans, journal evidence and the typed parts of inventories are frozen dataclasses inside the tool
and JSON objects on disk. `encode` turns a dataclass tree into JSON-ready data; `decode` reads it
back *strictly*: a field the type does not have, a required field that is missing, or a value of
the wrong type raises `CodecError` naming the field by its path (`actions[3].params.key_id`), so a
hand-edited plan is refused with a sentence the operator can act on instead of being half-read.

Why strict: `apply` executes only what equals the plan the tool would compute now, and the old
lenient readers silently accepted aliases the planner never wrote (`file_project`, `retires`, …) —
two spellings of one plan that reviewers would read differently.

Conventions the types use:
- a field with a default may be absent from the data (plans and journals written by older builds
  of the same version keep loading); a field without a default must be present;
- `field(metadata=OMIT_DEFAULT)`: written only when it differs from its default (the file format
  has the key only in some cases, e.g. a binding's `consolidated`);
- `field(metadata=tagged("kind", TABLE))`: the field's type is chosen by the value of a sibling
  field (an action's `params` by its `kind`);
- `datetime` values are timezone-aware UTC inside and RFC 3339 strings in the data
  (`migrate.core.times` is the one parser);
- `Any` (or `JSONValue`) fields are JSON passed through as they are (REST bodies Google defines).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from migrate.core.times import iso, parse_time

D = TypeVar("D")

OMIT_DEFAULT: Mapping[str, Any] = {"codec_omit_default": True}


def tagged(tag_field: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """Field metadata: decode this field as `table[data[tag_field]]`."""
    return {"codec_tag": (tag_field, table)}


class CodecError(ValueError):
    """Data that does not fit its type; `path` names the field (`actions[3].params.key_id`)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'top level'}: {problem}")
        self.path = path
        self.problem = problem


# --- encode ------------------------------------------------------------------------------------

def encode(obj: Any) -> Any:
    """Dataclass tree → JSON-ready data (tuples become lists, datetimes RFC 3339 strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in _fields(type(obj)):
            value = getattr(obj, f.name)
            if f.metadata.get("codec_omit_default") and value == _default(f):
                continue
            out[f.name] = encode(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [encode(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): encode(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return encode_time(obj)
    return obj


def encode_time(moment: datetime) -> str:
    """The one way a datetime is written: RFC 3339 UTC, fractional seconds kept when present."""
    if moment.microsecond:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return iso(moment)


# --- decode ------------------------------------------------------------------------------------

def decode(cls: type[D], data: Any, path: str = "") -> D:
    """JSON data → an instance of dataclass `cls`, refusing what does not fit (see module doc)."""
    return typing.cast(D, _decode(cls, data, path))


def _decode(hint: Any, value: Any, path: str) -> Any:
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        if value not in args:
            raise CodecError(path, f"{value!r} is not one of {', '.join(repr(a) for a in args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _decode(options[0], value, path)
        errors = []
        for option in options:
            try:
                return _decode(option, value, path)
            except CodecError as exc:
                errors.append(exc.problem)
        raise CodecError(path, "; ".join(dict.fromkeys(errors)))
    if origin is tuple:
        if not isinstance(value, list):
            raise CodecError(path, f"expected a list, got {_kind(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise CodecError(path, f"expected {len(args)} items, got {len(value)}")
        return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, dict):
            raise CodecError(path, f"expected an object, got {_kind(value)}")
        key_t, val_t = args if args else (str, Any)
        return {_decode(key_t, k, path): _decode(val_t, v, f"{path}.{k}") for k, v in value.items()}
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise CodecError(path, f"expected a list, got {_kind(value)}")
        item_t = args[0] if args else Any
        return [_decode(item_t, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, path)
    if hint is datetime:
        if not isinstance(value, str):
            raise CodecError(path, f"expected an RFC 3339 time, got {_kind(value)}")
        try:
            return parse_time(value)
        except ValueError:
            raise CodecError(path, f"{value!r} is not an RFC 3339 time") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise CodecError(path, f"expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CodecError(path, f"expected an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CodecError(path, f"expected a number, got {_kind(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise CodecError(path, f"expected a string, got {_kind(value)}")
        return value
    if hint is type(None):
        if value is not None:
            raise CodecError(path, f"expected null, got {_kind(value)}")
        return None
    raise TypeError(f"codec: no rule for type {hint!r} at {path}")  # a bug of this build


def _decode_dataclass(cls: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise CodecError(path, f"expected an object, got {_kind(value)}")
    hints = _hints(cls)
    fields = _fields(cls)
    names = {f.name for f in fields}
    unknown = [k for k in value if k not in names]
    if unknown:
        raise CodecError(_join(path, str(unknown[0])), f"unknown field (a {cls.__name__} has "
                         f"{', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for f in fields:
        where = _join(path, f.name)
        if f.name not in value:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CodecError(where, "missing")
            continue
        hint = hints[f.name]
        tag = f.metadata.get("codec_tag")
        if tag is not None:
            tag_field, table = tag
            chosen = value.get(tag_field)
            if chosen not in table:
                raise CodecError(_join(path, tag_field), f"{chosen!r} is not one of "
                                 f"{', '.join(repr(k) for k in table)}")
            hint = table[chosen]
        kwargs[f.name] = _decode(hint, value[f.name], where)
    try:
        return cls(**kwargs)
    except CodecError as exc:  # a type's own check across its fields (`__post_init__`)
        raise CodecError(_join(path, exc.path), exc.problem) from None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of a dataclass, once per class (`get_type_hints` is slow and a plan of
    10,000 projects has tens of thousands of records)."""
    return typing.get_type_hints(cls)


@functools.cache
def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)
