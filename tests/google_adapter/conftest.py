"""Fixtures for the Google-side tests (see gcp_sandbox.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.google_sandbox import ADMIN_TOKEN, GoogleSandbox, google_spec


@pytest.fixture
def google_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleSandbox]:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-identity")
    sb = GoogleSandbox(google_spec())
    yield sb
    sb.server.stop()
