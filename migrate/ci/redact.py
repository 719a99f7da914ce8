"""Keep secret-looking content out of every reason, finding detail and problem we print.

Reasons quote commands so a reviewer can find them, but a CI file may hold a pasted private key
(a PEM block, a whole key JSON) or a long base64 blob. Anything that looks like one is replaced
before the text leaves the CI layer; the line number is enough to find it.
"""

from __future__ import annotations

import re

MARK = "[redacted]"
_PEM = re.compile(r"-{3,}\s*BEGIN[^-\n]*-{0,5}.*?(?:-{3,}\s*END[^-\n]*-{0,5}|\Z)", re.S)
_PEM_HEAD = re.compile(r"-{2,}\s*BEGIN\b.*", re.S)
_KEY_JSON = re.compile(r"\"?(private_key(?:_id)?|client_secret|refresh_token)\"?\s*[:=]\s*(\"(?:\\.|[^\"\\])*\"?|\S+)")
_LONG_B64 = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
_ESCAPED_NL = re.compile(r"(?:\\n|\n)[A-Za-z0-9+/=]{16,}")


def redact(text: str) -> str:
    """`text` with PEM blocks, key JSON fields and long base64 runs replaced by a marker."""
    text = _PEM.sub(MARK, text)
    text = _PEM_HEAD.sub(MARK, text)
    text = _KEY_JSON.sub(lambda match: f"{match.group(1)}: {MARK}", text)
    text = _ESCAPED_NL.sub(MARK, text)
    return _LONG_B64.sub(_keep_paths, text)


def _keep_paths(match: re.Match[str]) -> str:
    value = match.group(0)
    # a long path or identifier with separators and few digits is not a secret (e.g. a provider name)
    if value.count("/") >= 3 or value.count("-") >= 3 or sum(ch.isdigit() for ch in value) < 4:
        return value
    return MARK
