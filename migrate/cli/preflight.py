"""Fail fast, with the cause named: one cheap request to each backend before a long verb starts.

Without it, a GitLab URL on a closed port meant minutes of python-gitlab's transient-error retries
and then an empty inventory; a wrong token meant a page of ERROR rows. Here the first request says
what is wrong within seconds, and the command stops with exit code 4 (`EXIT_UNREACHABLE`):

- connection refused, DNS failure, TLS failure (certificate, hostname): not retried (retrying a
  wrong URL or a missing CA bundle cannot help);
- a timeout, 429 or 5xx: retried (up to 3 attempts, 1 s then 2 s apart, each announced on stderr),
  because those can succeed on retry;
- 401: the token is wrong or expired, named by the variable that holds it; nothing else can work.
  403 is left to the verb (it names the scope the call needs, per call).

GitLab: `GET /api/v4/version` (needs a valid token: doc/api/version.md). Google: loading the
configured credentials and, for refreshable ones, one token refresh (google-auth's RefreshError is
Google's 400/401 on the token exchange).
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from migrate.core.config import Config
from migrate.core.errors import UnreachableError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
ATTEMPTS = 3
RETRYABLE_STATUS = (429, 500, 502, 503, 504)


def _cause(exc: BaseException) -> BaseException:
    """The innermost cause (requests → urllib3 → socket/ssl)."""
    seen = exc
    while True:
        nxt = seen.__cause__ or seen.__context__
        if nxt is None or nxt is seen:
            return seen
        seen = nxt


def describe_connection_error(exc: requests.exceptions.RequestException, endpoint: str, url_key: str) -> str:
    """A sentence naming the cause and what to check."""
    host = urlsplit(endpoint).netloc or endpoint
    inner = _cause(exc)
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(inner, ssl.SSLError):
        return (f"TLS failure talking to {endpoint} ({type(inner).__name__}): check the certificate and "
                f"{url_key}; for a private CA set REQUESTS_CA_BUNDLE (or gitlab.ssl_verify: false, not advised)")
    if isinstance(inner, socket.gaierror) or "Name or service not known" in text or "NameResolution" in text \
            or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
        return f"DNS failure: cannot resolve {host.split(':')[0]} ({endpoint}): check {url_key}"
    if isinstance(inner, ConnectionRefusedError) or "Connection refused" in text:
        return f"connection refused by {host} ({endpoint}): is the service running there? check {url_key}"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer from {endpoint} within {READ_TIMEOUT_S:.0f} s: check {url_key}, proxies and firewalls"
    return f"cannot connect to {endpoint} ({type(inner).__name__}): check {url_key}"


def _retry(what: str, attempt: int, reason: str, sleep: Callable[[float], None]) -> None:
    delay = float(attempt)
    print(f"wif-migrate: {what}: {reason}; retrying in {delay:.0f} s (attempt {attempt + 1} of {ATTEMPTS})",
          file=sys.stderr)
    sleep(delay)


def check_gitlab(config: Config, sleep: Callable[[float], None] = time.sleep) -> str:
    """Raise `UnreachableError` unless GitLab answers `/version` with our token; returns the version."""
    gl = config.gitlab
    base = gl.url.rstrip("/")
    endpoint = f"{base}/api/v4/version"
    token = gl.token()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            r = requests.get(endpoint, headers={"PRIVATE-TOKEN": token}, verify=gl.ssl_verify,
                             timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            if attempt < ATTEMPTS:
                _retry("GitLab", attempt, describe_connection_error(exc, base, "gitlab.url"), sleep)
                continue
            raise UnreachableError(describe_connection_error(exc, base, "gitlab.url")) from None
        except requests.exceptions.RequestException as exc:
            raise UnreachableError(describe_connection_error(exc, base, "gitlab.url")) from None
        if r.status_code in RETRYABLE_STATUS and attempt < ATTEMPTS:
            _retry("GitLab", attempt, f"{endpoint} answered {r.status_code}", sleep)
            continue
        if r.status_code == 401:
            raise UnreachableError(f"GitLab at {base} rejected the token in ${gl.token_env} (401 Unauthorized): "
                                   "it is wrong, expired or revoked; create a new personal/group access token")
        if r.status_code in RETRYABLE_STATUS:
            raise UnreachableError(f"GitLab at {base} answered {r.status_code} {ATTEMPTS} times: try again later")
        if 300 <= r.status_code < 400:
            raise UnreachableError(f"GitLab at {base} redirects to {r.headers.get('Location', '?')}: set gitlab.url "
                                   "to the instance's API base URL (https://host, no path)")
        if r.status_code == 403:
            return ""  # the token works but lacks a scope: each call names the one it needs
        if r.status_code == 404:
            raise UnreachableError(f"{endpoint} answered 404: is {base} a GitLab instance? check gitlab.url")
        if r.status_code >= 400:
            raise UnreachableError(f"GitLab at {base} answered {r.status_code} to /version")
        try:
            return str(r.json().get("version", ""))
        except ValueError:
            raise UnreachableError(f"{endpoint} did not answer JSON: is {base} a GitLab instance? check "
                                   "gitlab.url") from None
    return ""


def check_google(config: Config) -> None:
    """Raise when the Google credentials cannot be loaded or Google refuses them (401/400 on refresh)."""
    import google.auth.exceptions
    import google.auth.transport.requests

    from migrate.google.clients import GoogleClients

    clients = GoogleClients(config.google)
    try:
        creds = clients.credentials()
    except google.auth.exceptions.DefaultCredentialsError:
        raise UnreachableError("no Google credentials: set google.access_token_env or google.credentials_file, "
                               "or run `gcloud auth application-default login` (Application Default "
                               "Credentials)") from None
    if getattr(creds, "refresh_token", None) is None and not hasattr(creds, "signer") and \
            type(creds).__name__ == "Credentials" and getattr(creds, "token", None):
        return  # a bare access token (google.access_token_env): nothing to refresh
    if creds.valid:
        return
    try:
        creds.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError as exc:
        raise UnreachableError(f"Google refused the credentials (token refresh: {str(exc)[:200]}): they are "
                               "wrong, expired or revoked; check google.credentials_file / ADC") from None
    except google.auth.exceptions.TransportError as exc:
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
        if isinstance(inner, requests.exceptions.RequestException):
            raise UnreachableError(describe_connection_error(inner, "https://oauth2.googleapis.com",
                                                             "network access to Google")) from None
        raise UnreachableError(f"cannot reach Google's token endpoint: {type(inner).__name__}") from None
