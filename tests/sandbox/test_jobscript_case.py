"""The sandbox runner evaluates `case … in … esac` as a POSIX shell does (issue 21 item 1).

The per-environment rewrite chooses the service account with a `case` on `$CI_ENVIRONMENT_NAME`;
the sandbox must run the arm dash runs (first match, globs, quoted text literal, no match = go on)
and fail the job where it cannot read the construct. The generated test compares the sandbox with
the real dash over generated patterns and values; `test_the_comparison_catches_a_wrong_matcher`
shows it fails for a matcher that treats quoted `*` as a glob.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import migrate.sandbox.shellcase as shellcase
from migrate.ci import emit
from migrate.sandbox.jobscript import GoogleEndpoints, GoogleSignIn, Shell

SHELL = shutil.which("dash") or shutil.which("sh")


def shell(env: dict[str, str] | None = None) -> tuple[Shell, list[str]]:
    trace: list[str] = []
    sh = Shell(dict(env or {}), {}, GoogleSignIn(GoogleEndpoints.single("http://127.0.0.1:9")),
               "/builds/acme/infra", trace.append)
    return sh, trace


CHOICE = emit.environment_accounts({"production": "prd@acme-prod.iam.gserviceaccount.com",
                                    "staging": "stg@acme-staging.iam.gserviceaccount.com"})


@pytest.mark.parametrize(("environment", "account"), [("production", "prd@acme-prod.iam.gserviceaccount.com"),
                                                      ("staging", "stg@acme-staging.iam.gserviceaccount.com")])
def test_the_emitted_choice_sets_the_environment_account(environment: str, account: str) -> None:
    sh, trace = shell({"CI_ENVIRONMENT_NAME": environment})
    assert sh.run_script([CHOICE, "echo chosen > /tmp/after"]), trace
    assert sh.env["GCP_WIF_SERVICE_ACCOUNT"] == account
    assert "/tmp/after" in sh.files


@pytest.mark.parametrize("environment", ["review/app", "", "Production", "production2"])
def test_an_environment_without_a_key_ends_the_job(environment: str) -> None:
    sh, trace = shell({"CI_ENVIRONMENT_NAME": environment} if environment else {})
    assert not sh.run_script([CHOICE, "echo never > /tmp/after"])
    assert "GCP_WIF_SERVICE_ACCOUNT" not in sh.env and "/tmp/after" not in sh.files
    assert f"wif-migrate: no service account for environment {environment}" in trace


def test_a_case_over_several_lines_of_one_entry() -> None:
    sh, _ = shell({"CI_ENVIRONMENT_NAME": "review/feature-x"})
    assert sh.run_script(['case "$CI_ENVIRONMENT_NAME" in\n  production) export A=prd ;;\n'
                          '  review/*|dev)\n    export A=review\n    export B=two\n    ;;\nesac\necho "$A" > /tmp/a'])
    assert sh.env["A"] == "review" and sh.env["B"] == "two" and sh.files["/tmp/a"] == "review\n"


def test_no_match_is_success_and_a_trailing_command_runs() -> None:
    sh, _ = shell({"X": "none"})
    assert sh.run_script(['case "$X" in a) export A=1;; esac; export B=2'])
    assert "A" not in sh.env and sh.env["B"] == "2"


@pytest.mark.parametrize("script", [
    'case "$X" in a) export A=1;& b) export B=1;; esac',  # bash fall-through
    'case "$X" in a) export A=1;;& b) export B=1;; esac',
    'case "$X" in a) case "$Y" in b) export B=1;; esac;; esac',  # nested
    'case "$X" in $Y) export A=1;; esac',  # an expansion as a pattern
    'case "$X" in a) export A=1;;',  # never closed
    'true && case "$X" in a) export A=1;; esac',  # not at the start of a line
    'case "$X" in [[:alpha:]]) export A=1;; esac',  # character classes
])
def test_what_the_sandbox_cannot_read_fails_the_job(script: str) -> None:
    sh, trace = shell({"X": "a", "Y": "b"})
    assert not sh.run_script([script, "echo after > /tmp/after"]), trace
    assert "/tmp/after" not in sh.files
    assert any("not understood" in line for line in trace), trace


def test_exit_outside_a_case_arm_is_still_not_interpreted() -> None:
    """Guards (`if [ -z "$K" ]; then …; exit 1; fi`) are not evaluated by the runner, so their
    `exit` must not end the job (it would fail every job with a guard before the migration)."""
    sh, _ = shell({"K": "x"})
    assert sh.run_script(['if [ -z "$K" ]; then echo "missing"; exit 1; fi', "echo ok > /tmp/ok"])
    assert "/tmp/ok" in sh.files


# --- generated: the sandbox runs the arm dash runs ---------------------------------------------

LITERALS = ("production", "staging", "review/app", "a.b", "x-1", "*", "?")
PATTERNS = st.one_of(
    st.sampled_from(LITERALS).map(lambda v: f'"{v}"'),
    st.sampled_from(LITERALS).map(lambda v: f"'{v}'"),
    st.sampled_from(("production", "staging", "review/*", "*", "?????", "x-?", "[ps]*", "[!p]*", "a.b", "review/\\*")),
)
ARMS = st.lists(st.lists(PATTERNS, min_size=1, max_size=3), min_size=1, max_size=4)
VALUES = st.sampled_from(("production", "staging", "review/app", "review/*", "a.b", "axb", "x-1", "*", "?", "", "dev"))


def case_script(arms: list[list[str]]) -> str:
    body = " ".join(f"{'|'.join(ps)}) CHOSEN={n};;" for n, ps in enumerate(arms))
    return f'case "$V" in {body} esac'


def dash_choice(script: str, value: str) -> str:
    assert SHELL
    proc = subprocess.run([SHELL, "-c", f'CHOSEN=none\n{script}\necho "$CHOSEN"'], capture_output=True, text=True,
                          env={"V": value, "PATH": "/usr/bin:/bin"}, timeout=10, check=True)
    return proc.stdout.strip()


def sandbox_choice(script: str, value: str) -> str:
    sh, trace = shell({"V": value, "CHOSEN": "none"})
    assert sh.run_script([script]), trace
    return sh.env["CHOSEN"]


@pytest.mark.skipif(SHELL is None, reason="no POSIX shell (dash or sh) on PATH")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ARMS, VALUES)
def test_the_sandbox_runs_the_arm_dash_runs(arms: list[list[str]], value: str) -> None:
    script = case_script(arms)
    assert sandbox_choice(script, value) == dash_choice(script, value), script


@pytest.mark.skipif(SHELL is None, reason="no POSIX shell (dash or sh) on PATH")
def test_the_comparison_catches_a_wrong_matcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """A matcher that lets a quoted `*` act as a glob (the mistake that would let the catch-all
    arm's neighbours match any environment) is found by the comparison."""
    real = shellcase.pattern_regex
    monkeypatch.setattr(shellcase, "pattern_regex", lambda p, expand: real(p.replace('"', ""), expand))
    script = case_script([['"*"'], ["production"]])
    assert sandbox_choice(script, "production") != dash_choice(script, "production")
