"""Fixtures for the sandbox Google tests: isolation, the issuer and emulator servers.

Loaded by tests/sandbox/test_google_*.py as a plugin (`pytest_plugins = ["helpers.google_fixtures"]`) so the
session-scoped servers are shared; those modules mark themselves `usefixtures("isolated")` (not
autouse: a plugin's autouse fixture would reach every test of the suite).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from helpers.google_org import ID_PROJECT, Issuer, serve_google
from migrate.sandbox.google import GoogleApp
from migrate.sandbox.http import SandboxServer

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture()
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No credentials from the environment, a project id set (gcp.md fact 10), and no network
    connection to anything but loopback: a test that tries to reach a real Google host fails."""
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_QUOTA_PROJECT",
                "GOOGLE_API_USE_MTLS_ENDPOINT", "GOOGLE_API_USE_CLIENT_CERTIFICATE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", ID_PROJECT)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in _LOOPBACK:
            raise OSError(f"test isolation: refusing to resolve {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    app = Issuer()
    server = SandboxServer(app).start()
    yield app
    server.stop()


@pytest.fixture(scope="session")
def google_app(issuer: Issuer) -> Iterator[GoogleApp]:
    app, server = serve_google(issuer.base_url)
    yield app
    server.stop()


@pytest.fixture()
def fresh_google() -> Iterator[Callable[..., GoogleApp]]:
    """A private emulator (own clock) for tests that advance time or break things."""
    servers: list[SandboxServer] = []

    def make(**kwargs: Any) -> GoogleApp:
        app, server = serve_google(**kwargs)
        servers.append(server)
        return app

    yield make
    for s in servers:
        s.stop()
