"""Fail fast, with the cause named: one cheap request to each backend before a long verb starts.

Without it, a GitLab URL on a closed port meant minutes of python-gitlab's transient-error retries
and then an empty inventory; a wrong token meant a page of ERROR rows. Here the first request says
what is wrong within seconds, and the command stops with exit code 4 (`EXIT_UNREACHABLE`):

- connection refused, DNS failure, TLS failure (certificate, hostname): not retried (retrying a
  wrong URL or a missing CA bundle cannot help);
- a timeout, 429 or 5xx: retried (up to 3 attempts, 1 s then 2 s apart, each announced on stderr),
  because those can succeed on retry;
- 401: the token is wrong or expired, named by the variable that holds it; nothing else can work.
- 403 on the probe itself: the GitLab token has no API scope / the Google identity cannot read the
  identity project; a 403 on a later call is left to the verb (it names the scope or role it needs).

GitLab: `GET /api/v4/version` (needs a valid token: doc/api/version.md; lib/api/version.rb admits
the `api`, `read_api` and `read_user` scopes, so a 403 there means the token has no API scope at all
and nothing else can work: stopped too, naming the scopes). Google: loading the configured
credentials, for refreshable ones one token refresh (google-auth's RefreshError is Google's 400/401
on the token exchange), then one Resource Manager `projects.get` of `google.identity_project` (every
verb that calls Google needs it: plan for the project number, apply to create the pool in it) — so
a rejected bare access token (401), a missing `resourcemanager.projects.get` (403) and an
unreachable Google endpoint stop here, not as `unknown` cells or per-action failures later.
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
            raise UnreachableError(f"GitLab at {base} refused the token in ${gl.token_env} on {endpoint} (403 "
                                   f"Forbidden: {_gitlab_reason(r)}): it has no API scope; give it read_api "
                                   "(scan, check, plan, verify) or api (apply, keys delete)")
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


def _gitlab_reason(r: requests.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return "no reason given"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "no reason given")[:120]
    return "no reason given"


def check_google(config: Config, sleep: Callable[[float], None] = time.sleep, identity_project: bool = True) -> None:
    """Raise when the Google credentials cannot be loaded, Google refuses them (401/400 on refresh,
    401 on the first call) or denies reading the identity project (403), or cannot be reached.
    `identity_project=False` (scan, check: they only read keys) makes a 403/404 on the identity
    project a warning: the credentials were accepted, and the inventory does not need that project."""
    import google.auth.exceptions

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
        pass  # a bare access token (google.access_token_env): nothing to refresh; the probe tries it
    elif not creds.valid:
        _refresh(creds)
    _probe_identity_project(config, clients, sleep, identity_project)


def _refresh(creds: object) -> None:
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        creds.refresh(google.auth.transport.requests.Request())  # type: ignore[attr-defined]
    except google.auth.exceptions.RefreshError as exc:
        raise UnreachableError(f"Google refused the credentials (token refresh: {str(exc)[:200]}): they are "
                               "wrong, expired or revoked; check google.credentials_file / ADC") from None
    except google.auth.exceptions.TransportError as exc:
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
        if isinstance(inner, requests.exceptions.RequestException):
            raise UnreachableError(describe_connection_error(inner, "https://oauth2.googleapis.com",
                                                             "network access to Google")) from None
        raise UnreachableError(f"cannot reach Google's token endpoint: {type(inner).__name__}") from None


GOOGLE_RETRYABLE = ("TooManyRequests", "InternalServerError", "BadGateway", "ServiceUnavailable",
                    "GatewayTimeout", "DeadlineExceeded")


def _probe_identity_project(config: Config, clients: object, sleep: Callable[[float], None],
                            needed: bool = True) -> None:
    """One `projects.get` of the identity project: 401 / 403 / unreachable stop with the cause;
    429, 5xx and timeouts are retried visibly; anything else is left to the verb."""
    import google.auth.exceptions
    from google.api_core import exceptions as api_exceptions

    from migrate.core.errors import ConfigError

    project = config.google.identity_project
    endpoint = (config.google.endpoints.get("cloudresourcemanager") or "https://cloudresourcemanager.googleapis.com")
    url = f"{endpoint.rstrip('/')}/v3/projects/{project}"
    who = (f"${config.google.access_token_env}" if config.google.access_token_env else
           "google.credentials_file" if config.google.credentials_file else "Application Default Credentials")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            clients.projects().get_project(name=f"projects/{project}", retry=None,  # type: ignore[attr-defined]
                                           timeout=READ_TIMEOUT_S)
            return
        except (api_exceptions.Unauthenticated, google.auth.exceptions.RefreshError):
            # a bare access token Google answers 401 to: google-auth tries to refresh it and cannot
            raise UnreachableError(f"Google rejected the credentials in {who} on {url} (401 Unauthenticated): "
                                   "they are wrong, expired or revoked; mint a new token or check "
                                   "google.credentials_file / ADC") from None
        except api_exceptions.Forbidden:  # REST raises Forbidden; PermissionDenied is its subclass
            why = (f"Google denied reading the identity project {project!r} on {url} (403 PERMISSION_DENIED) to "
                   f"{who}: grant resourcemanager.projects.get on it (e.g. roles/browser), or check "
                   "google.identity_project")
            if not needed:
                log.warning("%s (plan and apply will need it)", why)
                return
            raise UnreachableError(why) from None
        except api_exceptions.NotFound:
            if not needed:
                log.warning("Resource Manager has no project %r (google.identity_project)", project)
                return
            raise ConfigError("google.identity_project", f"Resource Manager has no project {project!r} "
                              f"({url} answered 404)") from None
        except api_exceptions.GoogleAPICallError as exc:
            if type(exc).__name__ in GOOGLE_RETRYABLE and attempt < ATTEMPTS:
                _retry("Google", attempt, f"{url} answered {exc.code}", sleep)
                continue
            if type(exc).__name__ in GOOGLE_RETRYABLE:
                raise UnreachableError(f"Google at {url} answered {exc.code} {ATTEMPTS} times: try again "
                                       "later") from None
            return  # another answer: the verb's own call will say what it means
        except requests.exceptions.RequestException as exc:
            if isinstance(exc, requests.exceptions.Timeout) and attempt < ATTEMPTS:
                _retry("Google", attempt, describe_connection_error(exc, endpoint, _google_key(config)), sleep)
                continue
            raise UnreachableError(describe_connection_error(exc, endpoint, _google_key(config))) from None


def _google_key(config: Config) -> str:
    return ("google.endpoints.cloudresourcemanager" if config.google.endpoints.get("cloudresourcemanager")
            else "network access to cloudresourcemanager.googleapis.com (proxy, firewall)")
