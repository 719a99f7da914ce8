"""Fixtures for the Google-side tests (see gcp_sandbox.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests/ for plan_fixtures

from gcp_sandbox import ADMIN_TOKEN, GoogleSandbox, google_spec  # noqa: E402


@pytest.fixture
def google_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleSandbox]:
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WIF_TEST_GOOGLE_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-identity")
    sb = GoogleSandbox(google_spec())
    yield sb
    sb.server.stop()
