"""GitLab's refusals (401, 403) as messages that say what the token lacks.

GitLab answers a token whose *scope* is too narrow with 403 and an OAuth body,
`{"error": "insufficient_scope", "scope": "api read_api"}`, where `scope` lists every scope the
route accepts in some case — for a write refused to a `read_api` token it still lists `read_api`.
So the scope to ask for comes from the request, not from that field: a write needs `api`, a read
needs `read_api` (or `api`). A plain 403 is a *role* problem; callers add the role the call needs.
Messages are cut short and never carry a response body verbatim (bodies can echo request data).

Commands that write to GitLab also ask up front which scopes the token has (`require_scope`), so a
`read_api` token is refused before apply touches Google rather than after, half-way.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import gitlab.exceptions
import requests

from migrate.core.adapter_errors import wrap_public_methods
from migrate.core.errors import GitLabError

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")


def _body(exc: gitlab.exceptions.GitlabError) -> dict[str, Any]:
    raw = getattr(exc, "response_body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message(exc: gitlab.exceptions.GitlabError) -> str:
    message = exc.error_message
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = str(message or "").strip()
    if "PRIVATE KEY" in text:
        return "(message withheld)"
    return text[:200] + "…" if len(text) > 200 else text


def is_insufficient_scope(exc: gitlab.exceptions.GitlabError) -> bool:
    return exc.response_code == 403 and (_body(exc).get("error") == "insufficient_scope"
                                         or _message(exc) == "insufficient_scope")


def needed_scope(method: str) -> str:
    return "read_api" if method.upper() in READ_METHODS else "api"


def explain(exc: gitlab.exceptions.GitlabError, method: str = "GET") -> str:
    """`"<status> <what GitLab said>"`, naming the missing scope or a bad token when that is the cause."""
    status = exc.response_code
    if is_insufficient_scope(exc):
        scope = needed_scope(method)
        also = " (or api)" if scope == "read_api" else ""
        return (f"403 insufficient_scope: the token lacks the {scope} scope{also} this call needs; "
                "use a token that has it")
    if status == 401:
        return "401 Unauthorized: the token is missing, wrong, expired or revoked"
    text = _message(exc) or type(exc).__name__
    if status is None or text.startswith(str(status)):
        return text
    return f"{status} {text}"


def token_scopes(clients: Any) -> tuple[str, ...] | None:
    """The scopes of the configured token (`GET /personal_access_tokens/self`, GitLab 15.5+, any
    scope may call it), or None when GitLab cannot say (older GitLab, an OAuth or job token)."""
    try:
        data = clients.gl().http_get("/personal_access_tokens/self")
    except gitlab.exceptions.GitlabError as exc:
        log.debug("token scopes unknown: %s", explain(exc))
        return None
    except requests.RequestException as exc:
        log.debug("token scopes unknown: %s", type(exc).__name__)
        return None
    scopes = data.get("scopes") if isinstance(data, dict) else None
    if not isinstance(scopes, list):
        return None
    return tuple(str(s) for s in scopes)


def require_scope(clients: Any, scope: str, why: str) -> None:
    """Refuse before the first write when the token plainly lacks `scope` (it can then only fail
    half-way, after Google has changed). Unknown scopes pass: each call still names what it lacks."""
    scopes = token_scopes(clients)
    if scopes is None or scope in scopes or (scope == "read_api" and "api" in scopes):
        return
    raise GitLabError(f"the GitLab token has the scopes {', '.join(scopes) or '(none)'}; {why} needs the "
                      f"{scope} scope. Nothing was changed; use a token with {scope}.")


C = TypeVar("C", bound=type)


def converts_transport_errors(cls: C) -> C:
    """Class decorator for an adapter: a broken connection inside any public method becomes a
    `GitLabError` naming the call (an expected per-item failure for the stage), never a bare
    `requests` exception that the CLI would have to call a bug."""
    return wrap_public_methods(cls, _transport_error)


def _transport_error(name: str, exc: BaseException) -> BaseException | None:
    if isinstance(exc, requests.RequestException):
        return GitLabError(f"{name}: GitLab not reachable ({type(exc).__name__})")
    return None
