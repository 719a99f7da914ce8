"""Build the real Google clients from configuration, lazily and per thread.

google-api-python-client sits on httplib2, which is not thread-safe, so each worker thread gets its
own discovery service objects (built from the discovery documents bundled with the library: no
network fetch). Endpoint overrides (`google.endpoints.*` in the config) point the clients at
another host — that is how the sandbox is reached; production code has no sandbox branch.

Credentials, in order: an access token in the environment variable `google.access_token_env`;
a key file for the *operator* at `google.credentials_file`; Application Default Credentials.
"""

from __future__ import annotations

import http.client
import logging
import os
import threading
from typing import Any, TypeVar

import google.auth
import google.auth.exceptions
import google.oauth2.credentials
import httplib2
from google.api_core.client_options import ClientOptions
from google.auth.credentials import Credentials

from migrate.core.adapter_errors import wrap_public_methods
from migrate.core.config import GoogleConfig
from migrate.core.errors import ConfigError, GoogleError, GoogleNoAnswer

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

# A write that raised one of these may or may not have been applied (the connection broke after
# httplib2's own single retry): callers re-read before deciding anything.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, http.client.HTTPException, httplib2.HttpLib2Error)


class GoogleClients:
    """Factory for the Google API clients the tool uses; nothing is built until first use."""

    def __init__(self, config: GoogleConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    def credentials(self) -> Credentials:
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load_credentials()
            return self._credentials

    def _load_credentials(self) -> Credentials:
        cfg = self.config
        if cfg.access_token_env:
            token = os.environ.get(cfg.access_token_env, "")
            if not token:
                raise ConfigError("google.access_token_env",
                                  f"environment variable {cfg.access_token_env} is not set")
            return google.oauth2.credentials.Credentials(token)
        if cfg.credentials_file:
            from google.oauth2 import service_account

            try:
                creds: Credentials = service_account.Credentials.from_service_account_file(
                    cfg.credentials_file, scopes=SCOPES)
            except (OSError, ValueError) as exc:
                # Never echo the file's content; the path and the error class are enough.
                raise ConfigError("google.credentials_file",
                                  f"cannot use {cfg.credentials_file}: {type(exc).__name__}") from None
            return creds
        creds, _project = google.auth.default(scopes=SCOPES)
        return creds

    def endpoint(self, api: str) -> str | None:
        return self.config.endpoints.get(api)

    def discovery(self, api: str, version: str) -> Any:
        """A googleapiclient service for this thread (httplib2 is not thread-safe)."""
        cache: dict[tuple[str, str], Any] = getattr(self._local, "services", None) or {}
        self._local.services = cache
        key = (api, version)
        if key not in cache:
            from googleapiclient import discovery

            endpoint = self.endpoint(api)
            options = {"api_endpoint": endpoint} if endpoint else None
            log.debug("building %s %s client (endpoint %s)", api, version, endpoint or "default")
            cache[key] = discovery.build(api, version, credentials=self.credentials(),
                                         client_options=options, static_discovery=True,
                                         cache_discovery=False)
        return cache[key]

    def iam(self) -> Any:
        return self.discovery("iam", "v1")

    def iamcredentials(self) -> Any:
        return self.discovery("iamcredentials", "v1")

    def policyanalyzer(self) -> Any:
        return self.discovery("policyanalyzer", "v1")

    def projects(self) -> Any:
        """Resource Manager v3 ProjectsClient over REST (GAPIC needs an explicit http:// scheme)."""
        client = getattr(self._local, "projects", None)
        if client is None:
            from google.cloud import resourcemanager_v3

            endpoint = self.endpoint("cloudresourcemanager")
            options = ClientOptions(api_endpoint=endpoint) if endpoint else None
            client = resourcemanager_v3.ProjectsClient(credentials=self.credentials(), transport="rest",
                                                       client_options=options)
            self._local.projects = client
        return client


C = TypeVar("C", bound=type)


def converts_transport_errors(cls: C) -> C:
    """Class decorator for an adapter: inside any public method, a broken connection becomes
    `GoogleNoAnswer` (a write may or may not have been applied: callers re-read) and a credentials
    failure a `GoogleError` naming the call — typed, expected failures for the stage, never a bare
    library exception that the CLI would have to call a bug."""
    return wrap_public_methods(cls, _transport_error)


def _transport_error(name: str, exc: BaseException) -> BaseException | None:
    if isinstance(exc, TRANSPORT_ERRORS):
        return GoogleNoAnswer(f"{name}: no answer ({type(exc).__name__})", transport=type(exc).__name__)
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return GoogleError(f"{name}: Google refused the credentials ({type(exc).__name__}); check the google.* "
                           "credential settings")
    return None
