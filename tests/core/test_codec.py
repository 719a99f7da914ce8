"""The one codec: strict on the way in (an unknown, missing or ill-typed field is refused and
named), and encode(decode(x)) == x for what the tool writes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers.plan_fixtures import disable_params
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.codec import OMIT_DEFAULT, CodecError, decode, decode_time, encode
from migrate.core.model import DeleteKeyParams, DisableKeyParams, OutsideReader, RetiredVariable

text = st.text(max_size=12)
ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)
variables = st.builds(RetiredVariable, st.sampled_from(["instance", "group", "project"]), text,
                      st.none() | st.integers(0, 10**6), text, text, text)
readers = st.builds(OutsideReader, text, text, st.none() | st.integers(0, 10**6), text, st.booleans())
disable = st.builds(DisableKeyParams, text, ids, text, st.lists(variables, max_size=3).map(tuple),
                    st.lists(text, max_size=3).map(tuple), st.lists(readers, max_size=3).map(tuple),
                    st.integers(0, 400), text)
delete = st.builds(DeleteKeyParams, text, ids, text, st.lists(variables, max_size=3).map(tuple),
                   st.lists(text, max_size=3).map(tuple), st.lists(readers, max_size=3).map(tuple),
                   st.integers(0, 400), text, st.integers(0, 400), text)


@settings(max_examples=60, deadline=None)
@given(st.one_of(disable, delete))
def test_encode_decode_round_trips(params: DisableKeyParams) -> None:
    data = encode(params)
    json.dumps(data)  # JSON-ready
    back = decode(type(params), json.loads(json.dumps(data)))
    assert back == params and encode(back) == data


@settings(max_examples=40, deadline=None)
@given(st.one_of(disable, delete), st.data())
def test_every_missing_or_unknown_field_is_refused_by_name(params: DisableKeyParams, data: st.DataObject) -> None:
    encoded = encode(params)
    name = data.draw(st.sampled_from(sorted(encoded)))
    cut = {k: v for k, v in encoded.items() if k != name}
    with pytest.raises(CodecError) as missing:
        decode(type(params), cut)
    assert missing.value.path == name and missing.value.problem == "missing"
    alias = data.draw(st.sampled_from(["retires", "key", "file_project", "variable", name + "_"]))
    with pytest.raises(CodecError) as unknown:
        decode(type(params), {**encoded, alias: "x"})
    assert unknown.value.path == alias and "unknown field" in unknown.value.problem


@pytest.mark.parametrize(("edit", "path", "problem"), [
    (lambda d: d["variables"][0].update(level="galaxy"), "variables[0].level", "'galaxy' is not one of"),
    (lambda d: d["variables"][0].update(owner_id="100"), "variables[0].owner_id", "expected an integer"),
    (lambda d: d.update(no_use_window_days=True), "no_use_window_days", "expected an integer"),
    (lambda d: d.update(blocked_by="file:a:b"), "blocked_by", "expected a list"),
    (lambda d: d["outside_readers"][0].update(archived="no"), "outside_readers[0].archived", "true or false"),
    (lambda d: d["outside_readers"][0].pop("variable"), "outside_readers[0].variable", "missing"),
])
def test_ill_typed_values_are_refused_with_the_path(edit: Any, path: str, problem: str) -> None:
    data = encode(disable_params("sa@p.iam.gserviceaccount.com", "ab" * 20,
                                 variables=(RetiredVariable("group", "acme", 100, "KEY", "*", "group:acme:KEY"),),
                                 outside_readers=(OutsideReader("group:acme:KEY", "acme/x"),)))
    edit(data)
    with pytest.raises(CodecError) as err:
        decode(DisableKeyParams, data)
    assert err.value.path == path and problem in err.value.problem, err.value


def test_a_lenient_reader_would_not_pass_these_tests() -> None:
    """The strictness tests above can fail: the reader of old (fields taken when present, anything
    else ignored) accepts an alias and a missing field without a word."""
    def lenient(cls: type, data: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}
        return {k: v for k, v in data.items() if k in known}

    data = encode(disable_params("sa", "ab" * 20))
    data["retires"] = data.pop("key_id")
    assert "key_id" not in lenient(DisableKeyParams, data)  # silently lost
    with pytest.raises(CodecError, match="retires: unknown field"):
        decode(DisableKeyParams, data)


@dataclasses.dataclass(frozen=True)
class _Timed:
    at: datetime
    note: str = dataclasses.field(default="", metadata=OMIT_DEFAULT)


def test_datetimes_are_aware_utc_inside_and_rfc3339_outside() -> None:
    t = decode(_Timed, {"at": "2026-03-01T10:00:00+01:00"})
    assert t.at == datetime(2026, 3, 1, 9, tzinfo=UTC) and t.at.tzinfo is UTC
    assert encode(t) == {"at": "2026-03-01T09:00:00Z"}  # note omitted: it is its default
    assert encode(dataclasses.replace(t, note="n")) == {"at": "2026-03-01T09:00:00Z", "note": "n"}
    assert decode(_Timed, {"at": "2026-03-01T09:00:00.123456789Z"}).at.microsecond == 123456
    with pytest.raises(CodecError, match="at: 'yesterday' is not an RFC 3339 time"):
        decode(_Timed, {"at": "yesterday"})


# --- canonical_pieces: json.dumps(..., sort_keys=True) piece by piece (issue 18) ----------------

json_leaf = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=6)
json_data = st.recursive(
    json_leaf,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(max_size=4), inner, max_size=4)
                   | st.dictionaries(st.integers(-20, 20), inner, max_size=3)),  # json sorts these by value
    max_leaves=25)
SEPARATORS = [(",", ":"), (", ", ": ")]


def _reference(value: Any, separators: tuple[str, str], skip: tuple[str, ...] = ()) -> str:
    if isinstance(value, dict) and skip:
        value = {k: v for k, v in value.items() if k not in skip}
    return json.dumps(value, sort_keys=True, separators=separators)


@settings(max_examples=150, deadline=None)
@given(json_data, st.sampled_from(SEPARATORS), st.integers(0, 4))
def test_canonical_pieces_are_json_dumps_sorted(value: Any, separators: tuple[str, str], depth: int) -> None:
    from migrate.core.codec import canonical_pieces

    assert "".join(canonical_pieces(value, (), separators, depth, encoded=False)) == _reference(value, separators)
    if not _has_int_keys(value):  # encode writes every key as a string
        assert "".join(canonical_pieces(value, (), separators, depth)) == _reference(encode(value), separators)


def _has_int_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return any(not isinstance(k, str) for k in value) or any(_has_int_keys(v) for v in value.values())
    return isinstance(value, (list, tuple)) and any(_has_int_keys(v) for v in value)


@settings(max_examples=60, deadline=None)
@given(st.one_of(disable, delete), st.sampled_from(SEPARATORS))
def test_canonical_pieces_of_a_dataclass_are_its_encoding(params: DisableKeyParams, separators: tuple[str, str]) -> None:
    from migrate.core.codec import canonical_pieces, canonical_sha256

    data = encode(params)
    skip = (sorted(data)[0],)
    assert "".join(canonical_pieces(params, skip, separators)) == _reference(data, separators, skip)
    import hashlib
    assert canonical_sha256(params, skip, separators) == hashlib.sha256(
        _reference(data, separators, skip).encode()).hexdigest()


def test_the_plan_digest_is_the_digest_of_the_whole_encoded_plan() -> None:
    """On the demo plan main wrote (every action kind, nested params): the streamed digest is the
    one the merge-request markers carried when the plan was encoded whole."""
    import gzip
    import hashlib
    from pathlib import Path

    from migrate.apply.merge_request_content import plan_digest
    from migrate.plan import plan_io

    plan = plan_io.loads(gzip.decompress((Path(__file__).parent / "from_main" / "plan.json.gz").read_bytes()).decode())
    body = encode(plan)
    body.pop("generated_at")
    whole = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    assert plan_digest(plan) == whole
    assert plan_digest(dataclasses.replace(plan, generated_at=decode_time("2031-01-01T00:00:00Z"))) == whole
    assert plan_digest(dataclasses.replace(plan, actions=plan.actions[:-1])) != whole


@pytest.mark.parametrize("broken", ["unsorted", "skip_everywhere", "one_separator"])
def test_a_broken_canonical_writer_is_caught(broken: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The property above fails for writers that differ from json.dumps in the ways a streaming
    rewrite can: keys in insertion order, `skip` applied below the top level, or a wrong separator."""
    import migrate.core.codec as codec

    real = codec._object_pieces

    def unsorted(members: Any, skip: Any, separators: Any, depth: Any, encoded: Any) -> Any:
        yield "{"
        for i, (name, value) in enumerate(members):
            yield ("," if i else "") + json.dumps(name) + separators[1]
            yield from codec.canonical_pieces(value, (), separators, depth - 1, encoded)
        yield "}"

    def skip_everywhere(members: Any, skip: Any, separators: Any, depth: Any, encoded: Any) -> Any:
        return real([(k, v) for k, v in members if k != "generated_at"], skip, separators, depth, encoded)

    def one_separator(members: Any, skip: Any, separators: Any, depth: Any, encoded: Any) -> Any:
        return real(members, skip, (",", separators[1]), depth, encoded)

    monkeypatch.setattr(codec, "_object_pieces", {"unsorted": unsorted, "skip_everywhere": skip_everywhere,
                                                  "one_separator": one_separator}[broken])
    value = {"b": [1, {"generated_at": "x", "a": 2}], "a": {"c": 1, "b": 2}}
    separators = (", ", ": ")
    assert "".join(codec.canonical_pieces(value, (), separators, depth=4, encoded=False)) != _reference(value, separators)
