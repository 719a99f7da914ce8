"""Rate limiting (429 + Retry-After) and injected faults, as python-gitlab experiences them."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import gitlab
import pytest
import requests

from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox


def test_python_gitlab_waits_out_429(demo_sandbox: Sandbox, demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    app = demo_sandbox.gitlab
    gl = demo_gl()
    app.rate_limit(3, window_s=1.0)
    start = len(app.requests_log())
    try:
        headers = {"PRIVATE-TOKEN": "sandbox-alice-token"}
        info = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", headers=headers, timeout=10)
        assert (info.headers["RateLimit-Limit"], info.headers["RateLimit-Remaining"]) == ("3", "2")
        listing = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/projects", headers=headers, timeout=10)
        assert listing.status_code == 200 and "RateLimit-Limit" not in listing.headers
        names = [gl.projects.get(pid, lazy=True).variables.list(get_all=True) for pid in (1002, 1003, 1004, 1011)]
        resp = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", timeout=10,
                            headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()})
        while resp.status_code != 429:
            resp = requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", timeout=10,
                                headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()})
    finally:
        app.rate_limit(None)
    assert [len(n) for n in names] == [1, 2, 1, 0]  # every call succeeded in the end
    statuses = [e["status"] for e in app.requests_log()[start:]]
    assert 429 in statuses[2:7]  # python-gitlab met a 429 and retried after Retry-After
    assert resp.text == "Retry later\n" and int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["RateLimit-Remaining"] == "0" and resp.headers["RateLimit-Limit"] == "3"


def test_transient_503_is_retried(demo_sandbox: Sandbox, demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    app = demo_sandbox.gitlab
    app.add_fault(Fault(method="GET", path_regex=r"/api/v4/projects/1014$", status=503, count=2))
    project = demo_gl(retry_transient_errors=True).projects.get(1014)
    assert project.path == "web-frontend"
    tail = [e for e in app.requests_log() if e["path"] == "/api/v4/projects/1014"][-3:]
    assert [e["status"] for e in tail] == [503, 503, 200]
    app.add_fault(Fault(method="GET", path_regex=r"/api/v4/projects/1014$", status=503, count=1))
    with pytest.raises(gitlab.GitlabGetError) as info:
        demo_gl().projects.get(1014)  # without retry_transient_errors the 503 reaches the caller
    assert info.value.response_code == 503


def test_connection_dropped_after_commit_was_applied(demo_sandbox: Sandbox,
                                                     demo_gl: Callable[..., gitlab.Gitlab]) -> None:
    app = demo_sandbox.gitlab
    branch = f"dropped-{uuid.uuid4().hex[:6]}"
    app.add_fault(Fault(method="POST", path_regex=r"/projects/1016/repository/commits$", mode="drop_after"))
    project = demo_gl().projects.get(1016, lazy=True)
    with pytest.raises((requests.exceptions.ConnectionError, gitlab.GitlabConnectionError)):
        project.commits.create({"branch": branch, "start_branch": "main", "commit_message": "c",
                                "actions": [{"action": "create", "file_path": "dropped.txt", "content": "x"}]})
    assert app.file("acme/apps/docs-site", "dropped.txt", branch) == "x"  # the write happened
    assert project.files.raw(file_path="dropped.txt", ref=branch) == b"x"


def test_latency_is_applied(demo_sandbox: Sandbox) -> None:
    import time

    app = demo_sandbox.gitlab
    app.latency_s = 0.2
    try:
        started = time.monotonic()
        requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", timeout=10,
                     headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()})
        assert time.monotonic() - started >= 0.2
    finally:
        app.latency_s = 0.0


def test_faults_over_http_are_checked(demo_sandbox: Sandbox) -> None:
    url = f"{demo_sandbox.gitlab_url}/_sandbox/faults"
    bad = requests.post(url, json={"method": "GET", "path_regex": "x", "mode": "explode"}, timeout=10)
    assert bad.status_code == 400 and "mode must be one of" in bad.json()["error"]
    assert requests.post(url, json={"method": "GET", "path_regex": "x", "nope": 1}, timeout=10).status_code == 400
    ok = requests.post(url, json={"method": "GET", "path_regex": r"/api/v4/version$", "mode": "hang_after",
                                  "delay_s": 0.2}, timeout=10)
    assert ok.status_code == 201
    with pytest.raises(requests.ConnectionError):  # applied, held ~0.2 s, then closed unanswered
        requests.get(f"{demo_sandbox.gitlab_url}/api/v4/version", timeout=10,
                     headers={"PRIVATE-TOKEN": demo_sandbox.gitlab_token()})
    assert [e["status"] for e in demo_sandbox.gitlab.requests_log() if e["path"] == "/api/v4/version"][-1] == 0
