"""Small helpers the route modules share: path patterns and GitLab's parameter conventions."""

from __future__ import annotations

from typing import Any

from migrate.sandbox.gitlab.app import ApiError

API = "/api/v4"
PROJECT = API + r"/projects/(?P<pid>[^/]+)"
GROUP = API + r"/groups/(?P<gid>[^/]+)"


def truthy(value: Any) -> bool:
    """Grape's Boolean coercion: true/1/yes/t (any case) and JSON true."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "t", "on")


def optional_bool(data: dict[str, Any], name: str) -> bool | None:
    return truthy(data[name]) if name in data and data[name] is not None else None


def require(data: dict[str, Any], *names: str) -> None:
    """Grape's missing-parameter answer: 400 `{"error": "a is missing, b is missing"}`."""
    missing = [n for n in names if data.get(n) in (None, "")]
    if missing:
        raise ApiError(400, ", ".join(f"{n} is missing" for n in missing), field="error")


def labels(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [s.strip() for s in str(value).split(",") if s.strip()]
