"""Small file helpers shared by the inventory and plan files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from migrate.errors import UsageError


def write_atomic(path: str | Path, text: str, what: str) -> Path:
    """Write via a temp file + rename, so a crash never leaves half a file behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{what}-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_text(path: str | Path, what: str) -> str:
    """The file's text, or a usage error that names it."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {p}: {exc.strerror}") from None


def parse_json(text: str, source: str) -> object:
    """JSON text → data, or a usage error that names the file and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
