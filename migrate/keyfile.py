"""Recognise a Google service-account JSON key in a CI/CD variable value, keep only its identity.

People store key files in GitLab variables in several shapes: the raw JSON (File-type variables,
or env_var pasted as is), base64 of it (so that the variable can be masked), wrapped in quotes or
whitespace, sometimes the JSON itself JSON-encoded as a string. `parse_key` tries those shapes and
returns who the key belongs to (`client_email`, `private_key_id`, `project_id`) and how it was
encoded — nothing else. The value is never stored, logged, or put into an exception: every parse
failure is silently `None` (exceptions raised by json/base64 can quote the input).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from migrate.model import KeyEncoding, KeyIdentity

_B64_RE = re.compile(r"^[A-Za-z0-9+/=_\-\s]+$")
_QUOTES = ("\"", "'")
_MAX_VALUE = 1 << 20  # a key file is ~2.3 kB; larger values are not keys


@dataclass(frozen=True)
class ParsedKey:
    """What a variable value tells about a key: identity and encoding, never the material."""

    identity: KeyIdentity
    encoding: KeyEncoding


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
        identity = _identity(_load_json(text))
        return ParsedKey(identity, "json") if identity else None
    if _B64_RE.match(text):
        decoded = _b64decode(text)
        if decoded is not None:
            inner = _unwrap(decoded)
            if inner.startswith("{"):
                identity = _identity(_load_json(inner))
                return ParsedKey(identity, "base64") if identity else None
    return None


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


def _identity(data: Any) -> KeyIdentity | None:
    if not isinstance(data, dict) or data.get("type") != "service_account":
        return None
    email = data.get("client_email")
    if not isinstance(email, str) or "@" not in email or not data.get("private_key"):
        return None
    email = email.strip().lower()
    key_id = data.get("private_key_id")
    project = data.get("project_id")
    if not isinstance(project, str) or not project.strip():
        project = _project_of(email)
    return KeyIdentity(
        service_account=email,
        key_id=key_id.strip().lower() if isinstance(key_id, str) else "",
        project_id=project.strip(),
    )


def _project_of(email: str) -> str:
    """`name@PROJECT.iam.gserviceaccount.com` → PROJECT ('' for other domains)."""
    domain = email.split("@", 1)[-1]
    suffix = ".iam.gserviceaccount.com"
    return domain[: -len(suffix)] if domain.endswith(suffix) else ""
