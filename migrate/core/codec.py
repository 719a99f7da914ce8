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
- `datetime` values are timezone-aware UTC inside and RFC 3339 strings in the data. This module is
  the one place a time string is parsed (`decode_time`: the files, GitLab's and Google's answers,
  the command line) or written (`encode_time`, `format_time`); tests/core/test_one_time_parser.py
  fails on a `fromisoformat`/`strptime` anywhere else in the tool;
- a `StrEnum` field (`core.outcome.Status`), or a `Literal` of some of its members
  (`core.outcome.ProjectStatus`), is its word in the data, read like a `Literal` of the words (the
  same refusal) into the member;
- `Any` (or `JSONValue`) fields are JSON passed through as they are (REST bodies Google defines).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import takewhile
from typing import Any, TypeVar

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
#
# Both directions are compiled once per type (a small function per class, field and hint, cached)
# instead of interpreting the type hints at every value: an inventory of 10,000 projects holds
# ~100,000 values, and asking `typing.get_origin`/`dataclasses.is_dataclass` about each cost ~1 s
# per load and ~0.4 s per encode (issue 18). The answers, and every error's path and words, are
# those of the interpreter they replace (`tests/helpers/codec_reference.py` keeps it;
# `tests/core/test_codec_compiled.py` compares the two on generated and damaged data).

def encode(obj: Any) -> Any:
    """Dataclass tree → JSON-ready data (tuples become lists, datetimes RFC 3339 strings)."""
    kind = type(obj)
    if kind is str or kind is int or kind is bool or kind is float or obj is None:
        return obj
    return _encoder(typing.cast(Any, kind))(obj)


def _identity(obj: Any) -> Any:
    return obj


def _encode_sequence(obj: Any) -> list[Any]:
    return [encode(v) for v in obj]


def _encode_mapping(obj: Any) -> dict[str, Any]:
    return {str(k): encode(v) for k, v in obj.items()}


@functools.cache
def _encoder(kind: type) -> Any:
    """How a value of this exact type is encoded (the type decides: dataclass, sequence, mapping,
    datetime, else the value itself)."""
    if dataclasses.is_dataclass(kind):
        plan = tuple((f.name, bool(f.metadata.get("codec_omit_default")), _default(f)) for f in _fields(kind))

        def encode_dataclass(obj: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name, omit, default in plan:
                value = getattr(obj, name)
                if omit and value == default:
                    continue
                out[name] = encode(value)
            return out
        return encode_dataclass
    if issubclass(kind, (list, tuple)):
        return _encode_sequence
    if issubclass(kind, Mapping):
        return _encode_mapping
    if issubclass(kind, datetime):
        return encode_time
    if issubclass(kind, enum.Enum):
        return _enum_value
    return _identity


def _enum_value(obj: enum.Enum) -> Any:
    """A `StrEnum` member (`core.outcome.Status`) is its word: the JSON is the plain string."""
    return obj.value


#: the time of a record built without one (tests, apply re-deriving a plan's inputs): never "now",
#: so two such records are equal, and plain to see in a file (`1970-01-01T00:00:00Z`)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_time(moment: datetime) -> str:
    """The one way a datetime is written: RFC 3339 UTC, fractional seconds kept when present."""
    if moment.microsecond:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return format_time(moment)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC to the second (`2026-03-01T09:00:00Z`): how times read in messages and evidence."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_time(value: str) -> datetime:
    """The one time parser: RFC 3339 / ISO 8601 (`Z` or an offset, optional fraction — Google may
    send 9 digits, Python reads 6 —, a bare date is midnight) → aware UTC datetime; a time without
    an offset is taken as UTC. `ValueError` when it is not a time."""
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(takewhile(str.isdigit, tail))  # the fraction only, not the offset's digits
        rest = tail[len(digits):]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def decode_time_or_none(value: str | None) -> datetime | None:
    """`decode_time`, or None for an absent or unreadable value (a tolerant reader's choice)."""
    if not value:
        return None
    try:
        return decode_time(value)
    except ValueError:
        return None


def canonical_pieces(obj: Any, skip: tuple[str, ...] = (), separators: tuple[str, str] = (",", ":"),
                     depth: int = 2, encoded: bool = True) -> Iterator[str]:
    """`json.dumps(encode(obj), sort_keys=True, separators=separators)` without `skip` (top-level
    keys), piece by piece: the same text, but the top `depth` levels of objects and lists are
    written member by member, so neither the whole encoded tree nor the whole text exists at once.
    A plan of 10,000 projects is ~40 MB of JSON; encoding it whole to hash it took ~85 MB at the
    dry run's peak (issue 18). Pieces, not one string: feed them to a hash (`canonical_sha256`).
    `encoded=False`: the text of `json.dumps(obj, …)` for data that is JSON already (no `encode`).
    An object with a key that is not a string is written whole (json sorts such keys by value)."""
    if depth > 0 and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        members: list[tuple[str, Any]] = []
        for f in _fields(type(obj)):
            value = getattr(obj, f.name)
            if f.metadata.get("codec_omit_default") and value == _default(f):
                continue
            members.append((f.name, value))
        yield from _object_pieces(members, skip, separators, depth, encoded)
    elif depth > 0 and isinstance(obj, Mapping) and all(isinstance(k, str) for k in obj):
        yield from _object_pieces(list(obj.items()), skip, separators, depth, encoded)
    elif depth > 0 and isinstance(obj, (list, tuple)):
        yield "["
        for i, item in enumerate(obj):
            if i:
                yield separators[0]
            yield from canonical_pieces(item, (), separators, depth - 1, encoded)
        yield "]"
    else:
        yield json.dumps(encode(obj) if encoded else obj, sort_keys=True, separators=separators)


def _object_pieces(members: list[tuple[str, Any]], skip: tuple[str, ...], separators: tuple[str, str],
                   depth: int, encoded: bool) -> Iterator[str]:
    yield "{"
    first = True
    for name, value in sorted(members, key=lambda kv: kv[0]):  # json's sort_keys: by the key string
        if name in skip:
            continue
        yield ("" if first else separators[0]) + json.dumps(name) + separators[1]
        first = False
        yield from canonical_pieces(value, (), separators, depth - 1, encoded)
    yield "}"


def canonical_sha256(obj: Any, skip: tuple[str, ...] = (), separators: tuple[str, str] = (",", ":"),
                     encoded: bool = True) -> str:
    """sha256 (hex) of the UTF-8 of `json.dumps(encode(obj) without skip, sort_keys=True,
    separators=separators)`, computed from `canonical_pieces` (see there why)."""
    h = hashlib.sha256()
    for piece in canonical_pieces(obj, skip, separators, encoded=encoded):
        h.update(piece.encode())
    return h.hexdigest()


# --- decode ------------------------------------------------------------------------------------

class _Failed(Exception):
    """On its way out to `decode`: the path is built only then, from the steps each enclosing
    decoder adds (most values never fail, so none pays for a path)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.steps: list[tuple[str, str]] = []  # innermost first: ("field"|"index"|"key", text)


class _Refused(_Failed):
    """A value that does not fit its type (→ `CodecError`)."""


class _NoRule(_Failed):
    """A type the codec has no rule for, met by a value (→ `TypeError`: a bug of this build)."""


def _refused(problem: str) -> _Refused:
    return _Refused(problem)


def _path(base: str, steps: list[tuple[str, str]]) -> str:
    path = base
    for kind, text in reversed(steps):
        if kind == "field":
            path = _join(path, text)
        elif kind == "index":
            path = f"{path}[{text}]"
        else:  # a mapping's value: `path.key`, also at the top level (as the interpreter wrote it)
            path = f"{path}.{text}"
    return path


def decode(cls: type[D], data: Any, path: str = "") -> D:
    """JSON data → an instance of dataclass `cls`, refusing what does not fit (see module doc)."""
    try:
        return typing.cast(D, _decoder(cls)(data))
    except _Refused as exc:
        raise CodecError(_path(path, exc.steps), exc.problem) from None
    except _NoRule as exc:
        raise TypeError(f"codec: no rule for type {exc.problem} at {_path(path, exc.steps)}") from None


_COMPILED: dict[Any, Any] = {}
_COMPILING: set[Any] = set()


def _decoder(hint: Any) -> Any:
    """The compiled decoder of `hint`, once per hint; a dataclass met again while its own fields
    are being compiled (a type that refers to itself) gets one that looks it up on first use."""
    try:
        found = _COMPILED.get(hint)
    except TypeError:  # an unhashable hint: compiled each time (none of the tool's types)
        return _compile(hint)
    if found is not None:
        return found
    if hint in _COMPILING:
        return _lazy(hint)
    _COMPILING.add(hint)
    try:
        found = _COMPILED[hint] = _compile(hint)
    finally:
        _COMPILING.discard(hint)
    return found


def _compile(hint: Any) -> Any:  # noqa: C901 (one rule per kind of hint, as the interpreter had)
    """The decoder of `hint`: a function value → decoded value that raises `_Refused`."""
    if hint is Any or hint is object:
        return _identity
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        if args and all(isinstance(a, enum.Enum) for a in args):
            return _members(args)
        problem_tail = ", ".join(repr(a) for a in args)

        def literal(value: Any) -> Any:
            if value not in args:
                raise _refused(f"{value!r} is not one of {problem_tail}")
            return value
        return literal
    if origin in (typing.Union, types.UnionType):
        nullable = type(None) in args
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            only = _decoder(options[0])
            if not nullable:
                return only

            def optional(value: Any) -> Any:
                return None if value is None else only(value)
            return optional
        choices = [_decoder(o) for o in options]

        def union(value: Any) -> Any:
            if value is None and nullable:
                return None
            errors = []
            for choice in choices:
                try:
                    return choice(value)
                except _Refused as exc:
                    errors.append(exc.problem)
            raise _refused("; ".join(dict.fromkeys(errors)))
        return union
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])

            def homogeneous(value: Any) -> Any:
                if not isinstance(value, list):
                    raise _refused(f"expected a list, got {_kind(value)}")
                return tuple(_each(item, value))
            return homogeneous
        items = [_decoder(a) for a in args]

        def fixed(value: Any) -> Any:
            if not isinstance(value, list):
                raise _refused(f"expected a list, got {_kind(value)}")
            if len(value) != len(items):
                raise _refused(f"expected {len(items)} items, got {len(value)}")
            out = []
            for i, (one, v) in enumerate(zip(items, value, strict=True)):
                try:
                    out.append(one(v))
                except _Failed as exc:
                    exc.steps.append(("index", str(i)))
                    raise
            return tuple(out)
        return fixed
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        key_t, val_t = args if args else (str, Any)
        key, val = _decoder(key_t), _decoder(val_t)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _refused(f"expected an object, got {_kind(value)}")
            out = {}
            for k, v in value.items():
                decoded_key = key(k)  # a refused key is named by the mapping's own path
                try:
                    out[decoded_key] = val(v)
                except _Failed as exc:
                    exc.steps.append(("key", str(k)))
                    raise
            return out
        return mapping
    if origin is list or hint is list:
        item = _decoder(args[0] if args else Any)

        def listed(value: Any) -> Any:
            if not isinstance(value, list):
                raise _refused(f"expected a list, got {_kind(value)}")
            return _each(item, value)
        return listed
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):  # its words, as a Literal of them
        words = tuple(m.value for m in hint)
        enum_tail = ", ".join(repr(w) for w in words)

        def member(value: Any) -> Any:
            if isinstance(value, bool) or value not in words:
                raise _refused(f"{value!r} is not one of {enum_tail}")
            return hint(value)
        return member
    if hint is datetime:
        def moment(value: Any) -> Any:
            if not isinstance(value, str):
                raise _refused(f"expected an RFC 3339 time, got {_kind(value)}")
            try:
                return decode_time(value)
            except ValueError:
                raise _refused(f"{value!r} is not an RFC 3339 time") from None
        return moment
    if hint is bool:
        def boolean(value: Any) -> Any:
            if not isinstance(value, bool):
                raise _refused(f"expected true or false, got {_kind(value)}")
            return value
        return boolean
    if hint is int:
        def integer(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _refused(f"expected an integer, got {_kind(value)}")
            return value
        return integer
    if hint is float:
        def number(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _refused(f"expected a number, got {_kind(value)}")
            return value
        return number
    if hint is str:
        def string(value: Any) -> Any:
            if type(value) is not str and not isinstance(value, str):
                raise _refused(f"expected a string, got {_kind(value)}")
            return value
        return string
    if hint is type(None):
        def null(value: Any) -> Any:
            if value is not None:
                raise _refused(f"expected null, got {_kind(value)}")
            return None
        return null

    def unknown(value: Any) -> Any:  # a bug of this build, said when a value meets it (as before)
        raise _NoRule(repr(hint))
    return unknown


def _members(members: tuple[enum.Enum, ...]) -> Any:
    """A `Literal` of `StrEnum` members (`core.outcome.ProjectStatus`): their words in the data, read
    into the member, refused in the same words as a `Literal` of the words."""
    table = {m.value: m for m in members}
    problem_tail = ", ".join(repr(w) for w in table)

    def member(value: Any) -> Any:
        if not isinstance(value, str) or value not in table:
            raise _refused(f"{value!r} is not one of {problem_tail}")
        return table[value]
    return member


def _lazy(hint: Any) -> Any:
    """The decoder of `hint`, looked up on its first value (see `_decoder`)."""
    compiled: list[Any] = []

    def first(value: Any) -> Any:
        if not compiled:
            compiled.append(_decoder(hint))
        return compiled[0](value)
    return first


def _each(item: Any, values: list[Any]) -> list[Any]:
    out = []
    for i, v in enumerate(values):
        try:
            out.append(item(v))
        except _Failed as exc:
            exc.steps.append(("index", str(i)))
            raise
    return out


def _dataclass_decoder(cls: type) -> Any:
    hints = _hints(cls)
    names = {f.name for f in _fields(cls)}
    known = ", ".join(sorted(names))
    # per field: name, required, decoder (None when tagged), tag (field, table of decoders)
    plan: list[tuple[str, bool, Any, Any]] = []
    for f in _fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        tag = f.metadata.get("codec_tag")
        if tag is not None:
            tag_field, table = tag
            plan.append((f.name, required, None, (tag_field, table, {k: _decoder(v) for k, v in table.items()})))
        else:
            plan.append((f.name, required, _decoder(hints[f.name]), None))

    def dataclass_value(value: Any) -> Any:
        if not isinstance(value, dict):
            raise _refused(f"expected an object, got {_kind(value)}")
        for k in value:
            if k not in names:
                exc = _refused(f"unknown field (a {cls.__name__} has {known})")
                exc.steps.append(("field", str(k)))
                raise exc
        kwargs: dict[str, Any] = {}
        for name, required, one, tag in plan:
            if name not in value:
                if required:
                    exc = _refused("missing")
                    exc.steps.append(("field", name))
                    raise exc
                continue
            if tag is not None:
                tag_field, table, decoders = tag
                chosen = value.get(tag_field)
                if chosen not in table:
                    exc = _refused(f"{chosen!r} is not one of {', '.join(repr(k) for k in table)}")
                    exc.steps.append(("field", tag_field))
                    raise exc
                one = decoders[chosen]
            try:
                kwargs[name] = one(value[name])
            except _Failed as exc:
                exc.steps.append(("field", name))
                raise
        try:
            return cls(**kwargs)
        except CodecError as exc:  # a type's own check across its fields (`__post_init__`)
            failed = _refused(exc.problem)
            failed.steps.append(("field", exc.path))
            raise failed from None
    return dataclass_value


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
