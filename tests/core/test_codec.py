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

from migrate.core.codec import OMIT_DEFAULT, CodecError, decode, encode
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
