"""The GitLab session reads the proxy / CA-bundle environment once per origin (issue 18).

requests walks all of `os.environ` on every request to find proxies and a CA bundle; the session
keeps requests' answer per origin and arguments. The answer must be requests' own — proxies from
the environment, `no_proxy`, `REQUESTS_CA_BUNDLE` — and it must be computed once, not per request.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from migrate.gitlab.client import LimitedSession
from migrate.gitlab.ratelimit import RequestStats


def _settings(session: requests.Session, url: str, verify: Any = True) -> Any:
    return session.merge_environment_settings(url, {}, False, verify, None)


def test_environment_settings_are_requests_own_and_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    ours, plain = LimitedSession(None, RequestStats()), requests.Session()
    for url in ("https://gitlab.example/api/v4/projects/1", "https://internal.example/api/v4/projects",
                "http://gitlab.example/x"):
        assert _settings(ours, url) == _settings(plain, url)
    assert _settings(ours, "https://gitlab.example/a")["proxies"]["https"] == "http://proxy.example:3128"
    assert "https" not in _settings(ours, "https://internal.example/a")["proxies"]
    assert _settings(ours, "https://gitlab.example/a")["verify"] == "/etc/ssl/corp.pem"
    assert _settings(ours, "https://gitlab.example/a", verify=False)["verify"] is False

    calls = []
    original = requests.Session.merge_environment_settings

    def counting(self: Any, *args: Any) -> Any:
        calls.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counting)
    fresh = LimitedSession(None, RequestStats())
    for n in range(50):
        _settings(fresh, f"https://gitlab.example/api/v4/projects/{n}")
    assert len(calls) == 1  # once per origin, not once per request
    # a caller changing the answer it got does not change the next one
    _settings(fresh, "https://gitlab.example/b")["proxies"]["https"] = "http://evil.example"
    assert _settings(fresh, "https://gitlab.example/c")["proxies"]["https"] == "http://proxy.example:3128"
