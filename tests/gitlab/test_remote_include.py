"""`include: remote:` fetched as GitLab does, within bounds (issue 15 item 1).

GitLab GETs the URL (`lib/gitlab/ci/config/external/file/remote.rb`: http/https only). The tool does
the same from where it runs, with a timeout and the CI file size limit, and sends no credentials:
a local HTTP server records what it received. End to end, a keyed job that extends a template from
a remote include is proven with it (`plan` → merge request); an unreadable URL is a reason."""

from __future__ import annotations

import http.server
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.local_http import serving
from helpers.sandbox_plan import scan_and_plan

from migrate.gitlab.remote import RemoteError, fetch_remote
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

BASE = ".deploy-base:\n  image: google/cloud-sdk:467.0.0-slim\n  variables: {REGION: eu}\n"
SEEN: list[dict[str, str]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        SEEN.append(dict(self.headers))
        bodies = {"/base.yml": BASE.encode(), "/big.yml": b"x: " + b"a" * (2 * 1024 * 1024) + b"\n"}
        body = bodies.get(self.path)
        if self.path == "/moved.yml":
            self.send_response(302)
            self.send_header("Location", "/base.yml")
            self.end_headers()
            return
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not found")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving(_Handler) as address:
        yield f"http://{address}"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_a_remote_file_is_read_without_credentials(server: str, tmp_path: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login u password secret-netrc\n", encoding="utf-8")
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    SEEN.clear()
    assert fetch_remote(server + "/base.yml", allowed_hosts=["127.0.0.1"]) == BASE
    assert SEEN and not any(k.lower() in ("authorization", "private-token", "cookie") for k in SEEN[-1]), SEEN
    assert fetch_remote(server + "/moved.yml", allowed_hosts=["127.0.0.1"]) == BASE  # redirects within http(s) are followed


@pytest.mark.parametrize(("url", "why"), [
    ("/missing.yml", "HTTP 404"),
    ("/big.yml", "larger than"),
])
def test_what_cannot_be_read_is_a_reason(server: str, url: str, why: str) -> None:
    with pytest.raises(RemoteError) as err:
        fetch_remote(server + url, allowed_hosts=["127.0.0.1"])
    assert why in str(err.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.yml", "gopher://x"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(RemoteError, match="only http and https"):
        fetch_remote(url)


def test_an_unreachable_host_is_a_reason() -> None:
    with pytest.raises(RemoteError, match="could not be fetched"):
        fetch_remote("http://127.0.0.1:9/x.yml", timeout=2, allowed_hosts=["127.0.0.1"])


SA = "deployer@acme-prod.iam.gserviceaccount.com"


def ci(url: str) -> str:
    return (f"include:\n  - remote: {url}\n"
            "deploy:\n  extends: .deploy-base\n  script:\n"
            "    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n"
            "    - gcloud storage ls\n")


def test_plan_proves_a_job_extending_a_remote_template(server: str, tmp_path: Any) -> None:
    """Before: the remote file was not fetched, so the job extended an unknown template (manual).
    After: read, the rewrite is proven with it; a URL that answers 404 stays manual with the reason."""
    spec = {
        "seed": 17,
        "gitlab": {"version": "17.5.0", "users": [{"username": "migrator", "token": "t-migrator", "admin": True}],
                   "groups": [{"path": "acme", "id": 100, "projects": [
                       {"path": "remote", "id": 1201, "files": {".gitlab-ci.yml": ci(server + "/base.yml")}},
                       {"path": "gone", "id": 1202, "files": {".gitlab-ci.yml": ci(server + "/missing.yml")}}],
                       "variables": [{"key": "GCP_SA_KEY", "variable_type": "file",
                                      "sa_key": {"service_account": SA, "key": "k1"}}]}]},
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-identity", "number": 499999999999,
             "workload_identity_pools": [{"id": "gitlab", "state": "ACTIVE", "providers": []}]},
            {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
                {"email": SA, "keys": [{"label": "k1", "created": "2024-03-01T10:00:00Z"}]}]}]},
    }
    saved = dict(os.environ)
    try:
        with Sandbox(parse_org(spec, "remote org")) as sb:
            os.environ.update(sb.env())
            plan, inventory = scan_and_plan(sb, tmp_path, remote_include_hosts=(server.split("//", 1)[1],))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ids = {a.id for a in plan.actions}
    action = next((a for a in plan.actions if a.id == "merge_request:acme/remote:.gitlab-ci.yml"), None)
    reasons = " | ".join(m.reason for m in plan.manual)
    assert action is not None, reasons
    assert action.params.rewrite_options.included == (("@remote", server + "/base.yml", ""),)
    assert "merge_request:acme/gone:.gitlab-ci.yml" not in ids
    assert "HTTP 404" in json.dumps(inventory)
