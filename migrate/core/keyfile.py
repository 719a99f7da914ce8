"""Recognise a Google service-account JSON key in a CI/CD variable value, keep only its identity.

People store key files in GitLab variables in several shapes: the raw JSON (File-type variables,
or env_var pasted as is), base64 of it (so that the variable can be masked), wrapped in quotes or
whitespace, sometimes the JSON itself JSON-encoded as a string. `parse_key` tries those shapes and
returns who the key belongs to (`client_email`, `private_key_id`, `project_id`), how it was
encoded, and the SHA-256 of the public half of its private key (public information: it is what
`migrate.google.key_facts` compares with the certificate Google serves for that key id, so a file naming a
real key id with someone else's private key is told apart offline, without signing in) — nothing
else. Identity values are checked against their documented shapes here, at the boundary: a file
whose `client_email`, `private_key_id` or `project_id` is malformed (a newline, a shell
metacharacter, a made-up id) yields a `ParsedKey` with `problem` set and an empty identity, so the
variable becomes an ERROR row of its own and the hostile text goes nowhere. The value is never stored, logged, or put into an exception: every parse
failure is silently `None` (exceptions raised by json/base64 can quote the input).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from migrate.core.model import KeyEncoding, KeyIdentity

_B64_RE = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_QUOTES = ("\"", "'")
_MAX_VALUE = 1 << 20  # a key file is ~2.3 kB; larger values are not keys
# Documented shapes (https://cloud.google.com/iam/docs/service-accounts#user-managed, and
# https://cloud.google.com/resource-manager/docs/creating-managing-projects#before_you_begin):
# a service-account e-mail is `name@domain`; a key id 40 hex digits; a project id 6-30 of
# [a-z0-9-] starting with a letter, optionally domain-scoped (`example.com:my-project`).
EMAIL_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
                      r"(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{40}$")
PROJECT_ID_RE = re.compile(r"^(?:[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


@dataclass(frozen=True)
class ParsedKey:
    """What a variable value tells about a key: identity and encoding, never the material."""

    identity: KeyIdentity
    encoding: KeyEncoding
    problem: str | None = None  # the identity is malformed (then `identity` is empty)


def parse_key(value: str | bytes | None) -> ParsedKey | None:
    """The key identity in `value`, or None when it is not a service-account key file."""
    if value is None:
        return None
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else value
        if len(text) > _MAX_VALUE:
            return None
        return _parse(text)
    except Exception:  # noqa: BLE001 - never let a parser error (which may quote the value) escape
        return None


def _parse(text: str) -> ParsedKey | None:
    text = _unwrap(text)
    if text.startswith("{") or text.startswith("\"{"):
        return _parsed(_identity(_load_json(text)), "json")
    if _B64_RE.match(text):
        decoded = _b64decode(text)
        if decoded is not None:
            inner = _unwrap(decoded)
            if inner.startswith("{"):
                return _parsed(_identity(_load_json(inner)), "base64")
    return None


def _parsed(identity: KeyIdentity | str | None, encoding: KeyEncoding) -> ParsedKey | None:
    if identity is None:
        return None
    if isinstance(identity, str):
        return ParsedKey(KeyIdentity(service_account="", key_id=""), encoding, problem=identity)
    return ParsedKey(identity, encoding)


def _unwrap(text: str) -> str:
    """Strip whitespace and matching surrounding quotes (repeatedly: `' "{...}" '`)."""
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        inner = text[1:-1].strip()
        # `"{\"type\": ...}"` is a JSON string literal; let json decode it rather than strip.
        if text[0] == "\"" and "\\\"" in inner:
            break
        text = inner
    return text


def _load_json(text: str) -> Any:
    data = json.loads(text)
    if isinstance(data, str):  # JSON-encoded JSON ("{\"type\": ...}")
        data = json.loads(data.strip())
    return data


def _b64decode(text: str) -> str | None:
    compact = "".join(text.split())
    padded = compact + "=" * (-len(compact) % 4)
    for decoder in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decoder(padded)
        except (binascii.Error, ValueError):
            continue
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _identity(data: Any) -> KeyIdentity | str | None:
    """The identity; a string saying what is malformed (never quoting it); None: not a key file."""
    if not isinstance(data, dict) or data.get("type") != "service_account":
        return None
    email = data.get("client_email")
    if not isinstance(email, str) or "@" not in email or not data.get("private_key"):
        return None
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL_RE.fullmatch(email):
        return "the key file's client_email is not a well-formed service-account e-mail"
    key_id = data.get("private_key_id")
    key_id = key_id.strip().lower() if isinstance(key_id, str) else ""
    if key_id and not KEY_ID_RE.fullmatch(key_id):
        return "the key file's private_key_id is not a Google key id (40 hexadecimal digits)"
    project = data.get("project_id")
    if not isinstance(project, str) or not project.strip():
        project = _project_of(email)
    project = project.strip()
    if project and not PROJECT_ID_RE.fullmatch(project):
        return "the key file's project_id is not a well-formed Google Cloud project id"
    return KeyIdentity(service_account=email, key_id=key_id, project_id=project,
                       public_key_sha256=public_key_sha256(data.get("private_key")))


# An organisation reuses a few keys in thousands of variables, and loading an RSA private key costs
# tens of milliseconds: the fingerprint of each key is computed once per process. The cache holds
# only an HMAC of the PEM under a random per-process salt (nothing that reveals or confirms the key
# outside this process) and the public fingerprint, never key material. The readers run in worker
# threads (scan, apply's live checks): without one lock per key, the first N threads to meet a key
# all miss the cache at once and each loads it (16 threads × 20 keys: ~5 s CPU at 2,000 projects,
# issue 18); with it, one loads and the others wait for its answer.
_FINGERPRINT_SALT = os.urandom(32)
_FINGERPRINTS: dict[bytes, str] = {}
_FINGERPRINTS_MAX = 4096
_FINGERPRINT_LOCKS: dict[bytes, threading.Lock] = {}
_FINGERPRINT_GUARD = threading.Lock()


def public_key_sha256(private_pem: Any) -> str:
    """SHA-256 (hex) of the DER SubjectPublicKeyInfo of `private_pem`'s public half; '' when the
    private key does not load. The private key object is dropped before returning."""
    if not isinstance(private_pem, str):
        return ""
    tag = hmac.new(_FINGERPRINT_SALT, private_pem.encode(), hashlib.sha256).digest()
    known = _FINGERPRINTS.get(tag)
    if known is not None:
        return known
    with _FINGERPRINT_GUARD:
        lock = _FINGERPRINT_LOCKS.setdefault(tag, threading.Lock())
    with lock:  # one thread per key loads it; the others find its answer
        known = _FINGERPRINTS.get(tag)
        if known is None:
            known = _load_fingerprint(private_pem)
            with _FINGERPRINT_GUARD:
                if len(_FINGERPRINTS) >= _FINGERPRINTS_MAX:
                    _FINGERPRINTS.clear()
                    _FINGERPRINT_LOCKS.clear()
                _FINGERPRINTS[tag] = known
    return known


def _load_fingerprint(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    try:
        # Only the public half is wanted, and it is read from the PEM as it stands (n and e) either
        # way: OpenSSL's RSA consistency check (~33 ms per key, more than everything else a variable
        # read costs) decides nothing here (issue 18). A PEM that does not parse still gives ''.
        private = serialization.load_pem_private_key(private_pem.encode(), password=None,
                                                     unsafe_skip_rsa_key_validation=True)
        der = private.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        del private  # drop the key object as early as possible
    except Exception:  # noqa: BLE001 - garbage key material: unreadable, and never quoted
        return ""
    return hashlib.sha256(der).hexdigest()


def certificate_public_key_sha256(public_key_data: str) -> str:
    """SHA-256 (hex) of the public key in IAM's `publicKeyData` for TYPE_X509_PEM_FILE (base64 of
    a PEM certificate); '' when it is not a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        pem = base64.b64decode(public_key_data)
        cert = x509.load_pem_x509_certificate(pem)
        der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # noqa: BLE001 - not a certificate: no match can be shown
        return ""
    return hashlib.sha256(der).hexdigest()


def _project_of(email: str) -> str:
    """`name@PROJECT.iam.gserviceaccount.com` → PROJECT ('' for other domains)."""
    domain = email.split("@", 1)[-1]
    suffix = ".iam.gserviceaccount.com"
    return domain[: -len(suffix)] if domain.endswith(suffix) else ""
