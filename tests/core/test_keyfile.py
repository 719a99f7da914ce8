"""Key files in variable values: every shape people store them in, identity only, value dropped."""

from __future__ import annotations

import base64
import json

import pytest

from migrate.core.keyfile import certificate_public_key_sha256, parse_key, public_key_sha256
from migrate.core.model import KeyIdentity
from migrate.sandbox.keys import IssuedKey, KeyStore


@pytest.fixture(scope="module")
def issued() -> IssuedKey:
    return KeyStore(seed=3).issue("deployer@acme-prod.iam.gserviceaccount.com", "k1")


def expected(key: IssuedKey) -> KeyIdentity:
    return KeyIdentity(key.service_account, key.key_id, "acme-prod",
                       public_key_sha256=certificate_public_key_sha256(
                           base64.b64encode(key.certificate_pem.encode()).decode()))


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


def test_the_private_key_fingerprint_matches_its_own_certificate_only(issued: IssuedKey) -> None:
    """The file's private key is compared with Google's certificate offline: the same key pair
    matches, another key pair (a forged file naming the same key id) does not."""
    other = KeyStore(seed=4).issue("deployer@acme-prod.iam.gserviceaccount.com", "k1")
    cert = base64.b64encode(issued.certificate_pem.encode()).decode()
    assert public_key_sha256(issued.private_pem) == certificate_public_key_sha256(cert) != ""
    assert public_key_sha256(other.private_pem) != certificate_public_key_sha256(cert)
    forged = {**issued.key_file(), "private_key": other.private_pem}
    parsed = parse_key(json.dumps(forged))
    assert parsed is not None and parsed.identity.key_id == issued.key_id
    assert parsed.identity.public_key_sha256 != certificate_public_key_sha256(cert)
    garbage = parse_key(json.dumps({**issued.key_file(), "private_key": "-----BEGIN " + "PRIVATE KEY-----\nAAAA"}))
    assert garbage is not None and garbage.identity.public_key_sha256 == ""
    assert certificate_public_key_sha256(base64.b64encode(issued.public_pem.encode()).decode()) == ""


@pytest.mark.parametrize(("field", "value"), [
    ("client_email", "deployer@acme-prod.iam.gserviceaccount.com\nproject:acme/evil  OK"),
    ("client_email", "a b@acme-prod.iam.gserviceaccount.com"),
    ("client_email", "x@acme-prod.iam.gserviceaccount.com\u001b[2J"),
    ("client_email", "$(id)@acme-prod.iam.gserviceaccount.com"),
    ("private_key_id", "not-a-key-id"),
    ("private_key_id", "ab" * 10 + "\n" + "ab" * 10),
    ("private_key_id", "ab" * 21),
    ("project_id", "acme prod; rm -rf /"),
    ("project_id", "Acme-Prod"),
])
def test_malformed_identity_is_a_problem_with_an_empty_identity(issued: IssuedKey, field: str, value: str) -> None:
    parsed = parse_key(json.dumps({**issued.key_file(), field: value}))
    assert parsed is not None and parsed.problem is not None
    assert field in parsed.problem and value.strip() not in parsed.problem
    assert parsed.identity.service_account == "" and parsed.identity.key_id == ""


@pytest.mark.parametrize("email", ["deployer@acme-prod.iam.gserviceaccount.com",
                                   "123456789-compute@developer.gserviceaccount.com",
                                   "acme-prod@appspot.gserviceaccount.com", "ci.bot+x@example.co.uk"])
def test_documented_email_shapes_are_accepted(issued: IssuedKey, email: str) -> None:
    parsed = parse_key(json.dumps({**issued.key_file(), "client_email": email, "project_id": "acme-prod"}))
    assert parsed is not None and parsed.problem is None and parsed.identity.service_account == email


def test_each_key_is_loaded_once_and_the_cache_holds_no_key_material(issued: IssuedKey,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of variables reuse a few keys (issue 18): one RSA load per key per process."""
    from cryptography.hazmat.primitives import serialization

    import migrate.core.keyfile as keyfile

    pem = issued.private_pem
    loads: list[int] = []
    real = serialization.load_pem_private_key

    def counting(*args: object, **kwargs: object) -> object:
        loads.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(serialization, "load_pem_private_key", counting)
    monkeypatch.setattr(keyfile, "_FINGERPRINTS", {})
    first = public_key_sha256(pem)
    assert first and public_key_sha256(pem) == first and public_key_sha256(pem + "\n") != "x"
    assert len(loads) == 2  # the PEM and the PEM with a newline: two distinct inputs, each once
    body = pem.split("-----")[2].strip().splitlines()[1]
    for k, v in keyfile._FINGERPRINTS.items():
        assert body.encode() not in k and body not in v and len(k) == 32


def test_threads_meeting_a_new_key_at_once_load_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan and apply's live checks read variables in 16 threads: the first threads to meet a
    key all missed the cache together and each loaded it (16 × 20 keys, ~5 s CPU at 2,000 projects,
    issue 18). One load per key now, and every thread gets the same answer. The check is shown to
    catch the herd: with the per-key lock taken away, the same run loads the key more than once."""
    import threading
    import time

    from cryptography.hazmat.primitives import serialization

    import migrate.core.keyfile as keyfile

    pems = [KeyStore(seed=11).issue(f"sa{i}@acme-prod.iam.gserviceaccount.com", f"k{i}").private_pem
            for i in range(3)]
    real = serialization.load_pem_private_key
    loads: list[int] = []

    def slow(*args: object, **kwargs: object) -> object:
        loads.append(1)
        time.sleep(0.05)  # a slow load widens the window the herd runs into
        return real(*args, **kwargs)  # type: ignore[arg-type]

    def herd() -> list[str]:
        loads.clear()
        monkeypatch.setattr(keyfile, "_FINGERPRINTS", {})
        answers: list[str] = []
        start = threading.Barrier(12)

        def one(pem: str) -> None:
            start.wait()
            answers.append(public_key_sha256(pem))

        threads = [threading.Thread(target=one, args=(pems[i % 3],)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return answers

    monkeypatch.setattr(serialization, "load_pem_private_key", slow)
    answers = herd()
    assert len(loads) == 3 and len(set(answers)) == 3 and "" not in answers

    class NoLock:  # the broken variant: every thread "holds" the key's lock at once
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(keyfile, "_FINGERPRINT_LOCKS", type("Locks", (dict,), {
        "setdefault": lambda self, key, default: NoLock()})())
    herd()
    assert len(loads) > 3
