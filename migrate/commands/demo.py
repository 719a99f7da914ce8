"""`wif-migrate demo`: not built yet."""

from __future__ import annotations

from typing import Any

from migrate.commands._common import register_stub


def register(sub: Any, help_text: str) -> None:
    register_stub(sub, "demo", help_text)
