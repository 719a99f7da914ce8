"""Small file helpers shared by the inventory and plan files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migrate.core.errors import UsageError


def write_atomic(path: str | Path, text: str | Iterable[str], what: str) -> Path:
    """Write via a temp file + rename, so a crash never leaves half a file behind. `text` may be
    an iterable of pieces (written as they come: a large plan is never one string in memory)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{what}-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                fh.writelines(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_text(path: str | Path, what: str) -> str:
    """The file's text, or a usage error that names it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {p}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {what} {p}: not UTF-8 text (byte {exc.start}); is it a {what} "
                         "file?") from None
    if "\x00" in text:
        raise UsageError(f"cannot read {what} {p}: binary data (NUL byte at {text.index(chr(0))})")
    return text


def parse_json(text: str, source: str) -> object:
    """JSON text → data, or a usage error that names the file and the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise UsageError(f"{source}: not a usable JSON file (nested too deeply)") from None


def check_version(data: dict[str, Any], source: str, what: str, current: int, remake: str) -> None:
    """Refuse a state document (plan, inventory) without a valid `version`, or from a newer tool
    than this one: its fields could mean something this build does not know."""
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise UsageError(f"{source}: {what} has no valid version")
    if version > current:
        raise UsageError(f"{source}: {what} version {version} is newer than this wif-migrate understands "
                         f"({current}); upgrade wif-migrate or re-run {remake}")
