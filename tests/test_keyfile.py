"""Key files in variable values: every shape people store them in, identity only, value dropped."""

from __future__ import annotations

import base64
import json

import pytest

from migrate.keyfile import parse_key
from migrate.model import KeyIdentity
from migrate.sandbox.keys import IssuedKey, KeyStore


@pytest.fixture(scope="module")
def issued() -> IssuedKey:
    return KeyStore(seed=3).issue("deployer@acme-prod.iam.gserviceaccount.com", "k1")


def expected(key: IssuedKey) -> KeyIdentity:
    return KeyIdentity(key.service_account, key.key_id, "acme-prod")


def test_raw_json(issued: IssuedKey) -> None:
    parsed = parse_key(issued.key_file_json())
    assert parsed is not None
    assert parsed.identity == expected(issued)
    assert parsed.encoding == "json"


def test_compact_json_with_whitespace_and_quotes(issued: IssuedKey) -> None:
    compact = json.dumps(issued.key_file())
    for value in (f"  {compact}\n", f"'{compact}'", f"\"{compact}\"", f" ' {compact} ' \n"):
        parsed = parse_key(value)
        assert parsed is not None and parsed.identity == expected(issued), value[:5]
        assert parsed.encoding == "json"


def test_json_encoded_as_a_json_string(issued: IssuedKey) -> None:
    value = json.dumps(json.dumps(issued.key_file()))  # "{\"type\": ...}"
    parsed = parse_key(value)
    assert parsed is not None and parsed.identity == expected(issued)


def test_base64_variants(issued: IssuedKey) -> None:
    raw = issued.key_file_json().encode()
    std = base64.b64encode(raw).decode()
    wrapped = "\n".join(std[i:i + 76] for i in range(0, len(std), 76))  # `base64` CLI line wrapping
    unpadded = std.rstrip("=")
    urlsafe = base64.urlsafe_b64encode(raw).decode()
    for value in (std, wrapped + "\n", f"\"{std}\"", unpadded, urlsafe):
        parsed = parse_key(value)
        assert parsed is not None and parsed.identity == expected(issued)
        assert parsed.encoding == "base64"


def test_project_id_falls_back_to_the_email_domain(issued: IssuedKey) -> None:
    data = issued.key_file()
    del data["project_id"]
    parsed = parse_key(json.dumps(data))
    assert parsed is not None and parsed.identity.project_id == "acme-prod"


@pytest.mark.parametrize("value", [
    None, "", "hello", "{}", "{not json", "eyJ0eXBlIjog", "/builds/key.json",
    json.dumps({"type": "external_account", "audience": "//iam.googleapis.com/x"}),
    json.dumps({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"}),  # no key
    base64.b64encode(b"\xff\xfe binary").decode(),
])
def test_non_keys_are_none(value: str | None) -> None:
    assert parse_key(value) is None


def test_parsed_result_holds_no_key_material(issued: IssuedKey) -> None:
    parsed = parse_key(issued.key_file_json())
    body = "".join(issued.private_pem.splitlines()[1:-1])
    assert body[20:40] not in repr(parsed)
    assert "PRIVATE" not in repr(parsed)


def test_hostile_values_are_answered_quickly() -> None:
    """Oversized, deeply nested and binary variable values are not keys, and cost bounded time."""
    import time

    values = ["A" * (8 << 20), "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
              bytes(range(256)) * 4096, base64.b64encode(b"{" * 300_000).decode()]
    for value in values:
        started = time.monotonic()
        assert parse_key(value) is None
        assert time.monotonic() - started < 2.0
