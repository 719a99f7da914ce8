"""The GitLab reader and client factory over HTTP against the sandbox GitLab (real python-gitlab)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from migrate.core.config import GitLabConfig
from migrate.gitlab.client import GitLabClients
from migrate.gitlab.read import GitLabReader
from migrate.sandbox.clock import Clock
from migrate.sandbox.gitlab import GitLabApp
from migrate.sandbox.http import Fault, SandboxServer
from migrate.sandbox.keys import KeyStore
from migrate.scan.ports import ReadError

SPEC = {"groups": [{"path": "acme", "id": 100, "variables": [
    {"key": "GCP_SA_KEY", "sa_key": {"service_account": "d@acme-prod.iam.gserviceaccount.com", "key": "k1",
                                     "encoding": "base64"}},
    {"key": "HIDDEN_KEY", "value": "x", "hidden": True},
    {"key": "REGION", "value": "eu"}],
    "subgroups": [{"path": "sub", "projects": [{"path": "api", "files": {".gitlab-ci.yml": "a: 1\n"}}]}],
    "projects": [{"path": f"p{i}"} for i in range(5)]}]}


@pytest.fixture(scope="module")
def app() -> Iterator[GitLabApp]:
    app = GitLabApp(SPEC, KeyStore(2), Clock())
    server = SandboxServer(app).start()
    yield app
    server.stop()


def reader(app: GitLabApp, rpm: float | None = None) -> GitLabReader:
    return GitLabReader(GitLabClients(GitLabConfig(url=app.base_url), rpm, token="sandbox-migrator-token"))


def test_walk_lists_groups_projects_and_variables(app: GitLabApp) -> None:
    r = reader(app)
    group = r.group("acme")
    assert (group.id, group.full_path, group.parent_id) == (100, "acme", None)
    subs = list(r.descendant_groups(100))
    assert [g.full_path for g in subs] == ["acme/sub"] and subs[0].parent_id == 100
    projects = list(r.group_projects(100))
    api = next(p for p in projects if p.path == "acme/sub/api")
    assert api.namespace_id == subs[0].id and api.default_branch == "main"
    variables = {v.name: v for v in r.variables("group", "acme", 100)}
    assert variables["GCP_SA_KEY"].key is not None and variables["GCP_SA_KEY"].encoding == "base64"
    assert variables["HIDDEN_KEY"].readable is False and variables["HIDDEN_KEY"].key is None
    assert variables["REGION"].key is None
    assert r.file_text("acme/sub/api", ".gitlab-ci.yml", "main") == "a: 1\n"


def test_missing_file_and_unknown_project_are_read_errors_with_status(app: GitLabApp) -> None:
    r = reader(app)
    with pytest.raises(ReadError) as info:
        r.file_text("acme/sub/api", "nope.yml", None)
    assert info.value.status == 404
    with pytest.raises(ReadError) as info:
        r.project("acme/none")
    assert info.value.status == 404 and "404" in info.value.reason


def test_transient_5xx_are_retried(app: GitLabApp) -> None:
    r = reader(app)
    app.add_fault(Fault("GET", r"/api/v4/version", 502, count=2))
    assert r.version() == "17.5.0"
    assert r.clients.stats.snapshot()["by_status"] == {502: 2, 200: 1}


def test_a_429_pauses_every_worker_for_retry_after(app: GitLabApp) -> None:
    import time

    r = reader(app, rpm=60_000)
    app.log.clear()
    app.add_fault(Fault("GET", r"/api/v4/version", 429, count=1, retry_after=1))
    first = threading.Thread(target=r.version)
    first.start()
    time.sleep(0.2)  # the 429 has arrived: the pause is on
    second = threading.Thread(target=r.version)
    second.start()
    first.join()
    second.join()
    log = [e for e in app.requests_log() if e["path"] == "/api/v4/version"]
    assert [e["status"] for e in log] == [429, 200, 200]
    # neither the refused caller's resend nor the other worker started before Retry-After elapsed
    assert min(e["time"] for e in log[1:]) - log[0]["time"] >= 0.95
    assert r.clients.stats.http_429 == 1


def test_pacing_spreads_requests_at_the_configured_rate(app: GitLabApp) -> None:
    r = reader(app, rpm=1200)  # 20/s, paced at 98%
    app.log.clear()
    threads = [threading.Thread(target=lambda: [r.version() for _ in range(3)]) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    times = sorted(e["time"] for e in app.requests_log() if e["path"] == "/api/v4/version")
    assert len(times) == 12
    assert times[-1] - times[0] >= 11 * 60 / 1200 * 0.9
