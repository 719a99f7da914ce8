"""The codec as it was before it was compiled (issue 18): an interpreter of the type hints at
every value. Kept as the reference `tests/core/test_codec_compiled.py` compares the compiled
codec (`migrate.core.codec`) with — same values, same errors with the same paths and words."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from migrate.core.codec import CodecError, _default, _fields, _hints, _join, _kind, encode_time
from migrate.core.codec import decode_time as parse_time

D = TypeVar("D")


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
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def decode(cls: type[D], data: Any, path: str = "") -> D:
    """JSON data → an instance of dataclass `cls`, refusing what does not fit (see module doc)."""
    return typing.cast(D, _decode(cls, data, path))


def _decode(hint: Any, value: Any, path: str) -> Any:
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal and args and all(isinstance(a, enum.Enum) for a in args):  # some members
        words = [a.value for a in args]
        if not isinstance(value, str) or value not in words:
            raise CodecError(path, f"{value!r} is not one of {', '.join(repr(w) for w in words)}")
        return args[words.index(value)]
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
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        words = tuple(m.value for m in hint)
        if isinstance(value, bool) or value not in words:
            raise CodecError(path, f"{value!r} is not one of {', '.join(repr(w) for w in words)}")
        return hint(value)
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
