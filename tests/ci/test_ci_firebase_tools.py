"""firebase-tools pinned below 10.1.0 cannot take a federated credential configuration (issue 21,
the catalogue's ADC entry): 9.23.0 refused one in GOOGLE_APPLICATION_CREDENTIALS
(firebase/firebase-tools issue 3926); 10.1.0 was confirmed to accept it (w9jds/firebase-action
issue 123). A keyed job that installs or runs such a release goes to manual review; an unpinned or
newer one is rewritten. `test_the_version_rule_can_fail` shows a broken threshold lets the old
release through.
"""

from __future__ import annotations

import pytest
from helpers.ci import dedent, run

import migrate.ci.tooling as tooling


def firebase_job(install: str) -> str:
    return dedent(f"""
        deploy:
          image: node:20
          script:
            - echo "$FIREBASE_SA_KEY" > /tmp/firebase-key.json
            - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/firebase-key.json
            - {install}
            - firebase deploy --only hosting --project acme-web
        """)


@pytest.mark.parametrize("install", [
    "npm install -g firebase-tools@9.23.0",
    "npm i -g firebase-tools@9",
    "npm i -g firebase-tools@^9.0.0",
    "npm i -g firebase-tools@9.x",
    "npm i -g firebase-tools@~10.0.3",
    "yarn global add firebase-tools@8.20.0",
    "npx firebase-tools@9.23.0 --version",
])
def test_a_firebase_tools_release_before_10_1_is_manual(install: str) -> None:
    result = run(firebase_job(install))
    assert result.status == "manual", result.text
    assert any("firebase-tools" in r and "older than 10.1.0" in r and "3926" in r for r in result.reasons), \
        result.reasons


@pytest.mark.parametrize("install", [
    "npm install -g firebase-tools",
    "npm install -g firebase-tools@10.1.0",
    "npm i -g firebase-tools@^10.0.0",
    "npm i -g firebase-tools@13.29.1",
    "npm i -g @acme/firebase-tools@9.0.0",  # another package of that name
])
def test_an_unpinned_or_new_enough_firebase_tools_is_rewritten(install: str) -> None:
    result = run(firebase_job(install))
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and "FIREBASE_SA_KEY" not in result.text


def test_the_version_rule_can_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken threshold (every release accepted) rewrites the job that 9.23.0 would break."""
    monkeypatch.setattr(tooling, "FIRST_FIREBASE_TOOLS", (0, 0))
    assert run(firebase_job("npm install -g firebase-tools@9.23.0")).status == "rewritten"
