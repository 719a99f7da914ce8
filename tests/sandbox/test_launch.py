"""The launcher and `wif-migrate sandbox serve`: configs the tool accepts, clean start and stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gitlab
import requests

from migrate.core.config import load_config, parse_config
from migrate.sandbox.launch import GITLAB_TOKEN_ENV, GOOGLE_TOKEN_ENV, Sandbox
from migrate.sandbox.org import parse_org

SMALL = {"seed": 1, "gitlab": {"users": [{"username": "root", "token": "t-root", "admin": True}],
                               "groups": [{"path": "one", "projects": [{"path": "p"}]}, {"path": "two"}]},
         "google": {"projects": [{"project_id": "ident-proj", "number": 1, "service_accounts": []}]}}


def test_config_dict_is_a_valid_tool_config(tmp_path: Path) -> None:
    with Sandbox(parse_org(SMALL)) as sb:
        config = parse_config(sb.config_dict(state_dir=str(tmp_path / "state")))
        assert config.gitlab.url == sb.gitlab_url and config.gitlab.token_env == GITLAB_TOKEN_ENV
        assert config.scope.groups == ("one", "two")
        assert config.google.identity_project == "ident-proj"
        assert config.google.access_token_env == GOOGLE_TOKEN_ENV
        google = sb.google_url or "http://127.0.0.1:9"
        assert set(config.google.endpoints.values()) == {google} and len(config.google.endpoints) == 6
        assert sb.env() == {GITLAB_TOKEN_ENV: "t-root", GOOGLE_TOKEN_ENV: "sandbox-google-token"}
        # Against a local emulator without a limit, pacing is only lost time; polls are short.
        assert config.rate_limit_rpm is None and config.google.operation_poll_interval < 0.2
        assert gitlab.Gitlab(sb.gitlab_url, private_token="t-root").projects.get("one/p").path == "p"
        written = sb.write_config(tmp_path / "cfg.yaml", state_dir="st")
        assert load_config(written).state_dir == str(tmp_path / "st")  # relative to the config file
        sb.gitlab.rate_limit(600)  # an emulator that enforces a limit: the client paces to it
        assert parse_config(sb.config_dict()).rate_limit_rpm == 600
        url = sb.gitlab_url
    try:
        requests.get(url + "/api/v4/version", timeout=2)
        raise AssertionError("the server should be stopped")
    except requests.ConnectionError:
        pass


def test_sandbox_serve_writes_config_and_stops_on_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "sandbox.yaml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIF_SANDBOX")}
    proc = subprocess.Popen([sys.executable, "-m", "migrate", "sandbox", "serve", "--org", "demo",
                             "--write-config", str(cfg), "--latency-ms", "1", "--now", "2026-11-22T09:00:00Z"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while not cfg.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert cfg.exists(), "no config written"
        config = load_config(cfg)
        assert config.scope.groups == ("acme", "labs") and config.google.identity_project == "acme-identity"
        resp = requests.get(config.gitlab.url + "/api/v4/projects/1011", timeout=10,
                            headers={"PRIVATE-TOKEN": "sandbox-migrator-token"})
        assert resp.json()["path_with_namespace"] == "acme/apps/storefront"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"export {GITLAB_TOKEN_ENV}=sandbox-migrator-token" in out and "GitLab sandbox: http://127.0.0.1:" in out
    assert "PRIVATE KEY" not in out + err


def test_sandbox_without_action_is_usage_error() -> None:
    from migrate.cli.verbs import main

    assert main(["sandbox"]) == 2
    assert main(["sandbox", "serve", "--org", "/nonexistent/org.yaml"]) == 2
