"""Fail fast with the cause named (exit 4 within seconds): connection refused, DNS, TLS, a rejected
token; a retryable answer (503) is retried, visibly, and then works."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from helpers.plan_fixtures import plan_of

from migrate.cli.verbs import main
from migrate.core.errors import EXIT_UNREACHABLE
from migrate.plan import plan_io
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


def _config(tmp_path: Path, url: str, **google: object) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"gitlab": {"url": url, "token_env": "T"}, "scope": {"groups": ["acme"]},
                                "google": {"identity_project": "p", "access_token_env": "G", **google},
                                "state_dir": str(tmp_path / "state")}))
    return str(path)


@pytest.mark.parametrize(("url", "cause"), [
    ("http://127.0.0.1:CLOSED", "connection refused by 127.0.0.1:"),
    ("https://gitlab.wif-migrate-test.invalid", "DNS failure: cannot resolve gitlab.wif-migrate-test.invalid"),
])
def test_unreachable_gitlab_stops_within_seconds(url: str, cause: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = url.replace("CLOSED", str(_free_port()))  # here, not at collection: xdist workers must agree
    monkeypatch.setenv("T", "x")
    monkeypatch.setenv("G", "y")
    plan_io.write(plan_of(), tmp_path / "plan.json")
    started = time.monotonic()
    for verb in (["scan", "--no-google"], ["check"], ["verify", "--plan", str(tmp_path / "plan.json")]):
        assert main([*verb, "-c", _config(tmp_path, url)]) == EXIT_UNREACHABLE
        err = capsys.readouterr().err
        assert cause in err and "check gitlab.url" in err, err
    assert time.monotonic() - started < 20
    assert EXIT_UNREACHABLE not in (0, 1, 2, 3)  # distinct from "keys found" and usage errors


def test_tls_failure_and_rejected_token_are_named(demo_sandbox: Sandbox, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("G", "y")
    monkeypatch.setenv("T", "not-a-token")
    assert main(["scan", "--no-google", "-c", _config(tmp_path, demo_sandbox.gitlab_url)]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert "rejected the token in $T (401 Unauthorized)" in err
    https = demo_sandbox.gitlab_url.replace("http://", "https://")
    assert main(["scan", "--no-google", "-c", _config(tmp_path, https)]) == EXIT_UNREACHABLE
    assert "TLS failure talking to " + https in capsys.readouterr().err


def test_a_503_is_retried_visibly_then_the_scan_runs(demo_sandbox: Sandbox, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in demo_sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = str(demo_sandbox.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
    demo_sandbox.gitlab.add_fault(Fault("GET", r"/api/v4/version$", status=503, count=1))
    assert main(["scan", "--no-google", "-c", config, "-o", str(tmp_path / "inv.json")]) == 1  # keys found
    err = capsys.readouterr().err
    assert "answered 503; retrying in 1 s (attempt 2 of 3)" in err


# --- both sides: 401, 403, unreachable, retried 5xx (issue 19 item 4) ------------------------------------

def _limited_org() -> object:
    """The demo org plus a GitLab token with no API scope and a Google token without
    resourcemanager.projects.get (the sandbox enforces both like the real services)."""
    import dataclasses

    from migrate.sandbox.org import load_org

    org = load_org("demo")
    gl = dict(org.gitlab)
    gl["users"] = [*gl["users"], {"username": "repo-only", "token": "t-repo-only", "scopes": ["read_repository"]}]
    google = {**org.google, "tokens": [*(org.google.get("tokens") or []),
                                       {"token": "g-no-browser", "denied_permissions": ["resourcemanager.projects.get"]}]}
    return dataclasses.replace(org, gitlab=gl, google=google)


def _sandbox_config(sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    import yaml

    for name, value in sb.env().items():
        monkeypatch.setenv(name, value)
    config = str(sb.write_config(tmp_path / "c.yaml", state_dir=str(tmp_path / "state")))
    data = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    return config, data["gitlab"]["token_env"], data["google"]["access_token_env"]


def test_401_and_403_from_either_side_stop_within_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(_limited_org()) as sb:  # type: ignore[arg-type]
        config, gitlab_env, google_env = _sandbox_config(sb, tmp_path, monkeypatch)
        inv = str(tmp_path / "inv.json")
        assert main(["scan", "-o", inv, "--progress", "never", "-c", config]) == 1  # the check can fail: all good
        real_plan = str(tmp_path / "real-plan.json")
        assert main(["plan", "--inventory", inv, "-o", real_plan, "--no-diff", "-c", config]) == 0
        capsys.readouterr()
        plan_io.write(plan_of(), tmp_path / "plan.json")
        cases = [
            (gitlab_env, "t-repo-only", ["scan", "--no-google", "-o", inv],
             f"GitLab at {sb.gitlab_url} refused the token in ${gitlab_env}", "(403 Forbidden: insufficient_scope)"),
            (gitlab_env, "t-repo-only", ["verify", "--plan", str(tmp_path / "plan.json")], "refused the token", "read_api"),
            (google_env, "not-a-google-token", ["scan", "-o", inv],
             f"Google rejected the credentials in ${google_env}", "(401 Unauthenticated)"),
            (google_env, "not-a-google-token", ["plan", "--inventory", inv, "-o", str(tmp_path / "p.json")],
             "Google rejected the credentials", "/v3/projects/acme-identity"),
            (google_env, "not-a-google-token", ["apply", real_plan, "--dry-run"],
             "Google rejected the credentials", "401"),
            (google_env, "g-no-browser", ["plan", "--inventory", inv, "-o", str(tmp_path / "p.json")],
             "Google denied reading the identity project 'acme-identity'", "resourcemanager.projects.get"),
        ]
        for env, token, argv, cause, detail in cases:
            monkeypatch.setenv(env, token)
            started = time.monotonic()
            code = main([*argv, "-c", config])
            err = capsys.readouterr().err
            assert code == EXIT_UNREACHABLE, (argv, err)
            assert cause in err and detail in err, err
            assert time.monotonic() - started < 10, argv
            monkeypatch.setenv(env, sb.env()[env])
        # scan only reads keys: an identity that cannot read the identity project is warned about, and scans
        monkeypatch.setenv(google_env, "g-no-browser")
        assert main(["scan", "-o", inv, "--progress", "never", "-c", config]) == 1
        assert "plan and apply will need it" in capsys.readouterr().err


def test_google_unreachable_or_busy(demo_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    config, _, _ = _sandbox_config(demo_sandbox, tmp_path, monkeypatch)
    data = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    closed = f"http://127.0.0.1:{_free_port()}"
    data["google"]["endpoints"] = {k: closed for k in data["google"]["endpoints"]}
    (tmp_path / "closed.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    started = time.monotonic()
    assert main(["scan", "-o", str(tmp_path / "i.json"), "--progress", "never",
                 "-c", str(tmp_path / "closed.yaml")]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert f"connection refused by {closed.split('//')[1]}" in err and "google.endpoints.cloudresourcemanager" in err
    assert time.monotonic() - started < 10
    # a 503 can succeed on retry: retried, visibly, then the scan runs
    assert demo_sandbox.google is not None
    demo_sandbox.google.add_fault(Fault("GET", r"/v3/projects/acme-identity$", status=503, count=1))
    assert main(["scan", "-o", str(tmp_path / "i.json"), "--progress", "never", "-c", config]) == 1
    err = capsys.readouterr().err
    assert "Google: " in err and "answered 503; retrying in 1 s (attempt 2 of 3)" in err, err


def test_retries_during_a_run_are_visible(demo_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A 503 in the middle of a scan is retried (the scan still succeeds) and says so on stderr,
    once per interval with the count, not once per request; a 404 is not a retry."""
    config, _, _ = _sandbox_config(demo_sandbox, tmp_path, monkeypatch)
    demo_sandbox.gitlab.add_fault(Fault("GET", r"/api/v4/groups/[^/]+/variables", status=503, count=2))
    assert main(["scan", "--no-google", "-o", str(tmp_path / "i.json"), "--progress", "never", "-c", config]) == 1
    err = capsys.readouterr().err
    shown = [line for line in err.splitlines() if "retrying (" in line and "answered 503" in line]
    assert len(shown) == 1 and "/variables answered 503" in shown[0], err
    assert "retryable answer(s) so far" in shown[0]
    assert not [line for line in err.splitlines() if "answered 404" in line]
