"""Fail fast with the cause named (exit 4 within seconds): connection refused, DNS, TLS, a rejected
token; a retryable answer (503) is retried, visibly, and then works."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from test_plan import plan_of

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
