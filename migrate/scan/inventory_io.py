"""Versioned inventory JSON: the file `scan` writes and `plan`, `report`, `check` read.

The format follows `migrate.core.model.Inventory` (documented in docs/inventory.md). `version` is an
integer bumped on incompatible change; a reader refuses a newer version it does not understand
instead of guessing, and reads older ones it still can. Serialisation is deterministic (sorted
keys, fixed indent) so two scans of an unchanged organisation give identical files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from migrate.core.errors import UsageError
from migrate.core.files import check_version, parse_json, read_text, write_atomic
from migrate.core.model import INVENTORY_VERSION, Inventory, from_dict, to_dict

KIND = "wif-migrate/inventory"


def dumps(inventory: Inventory) -> str:
    """The inventory as JSON text (deterministic)."""
    data = {"kind": KIND, **to_dict(inventory)}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def loads(text: str, source: str = "inventory") -> Inventory:
    """Parse inventory JSON, refusing what is not an inventory or is from a newer tool."""
    return from_data(parse_json(text, source), source)


def from_data(data: Any, source: str = "inventory") -> Inventory:
    if not isinstance(data, dict) or data.get("kind", KIND) != KIND or "projects" not in data:
        raise UsageError(f"{source}: not a wif-migrate inventory (run `wif-migrate scan` to make one)")
    check_version(data, source, "inventory", INVENTORY_VERSION, "scan")
    body = {k: v for k, v in data.items() if k != "kind"}
    try:
        return from_dict(Inventory, body)
    except (TypeError, KeyError, ValueError, AttributeError) as exc:
        raise UsageError(f"{source}: malformed inventory ({type(exc).__name__}: {exc})") from None


def write(inventory: Inventory, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a inventory."""
    return write_atomic(path, dumps(inventory), "inventory")


def read(path: str | Path) -> Inventory:
    return loads(read_text(path, "inventory"), str(path))
