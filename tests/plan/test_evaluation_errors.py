"""A CEL expression that does not evaluate on a token is an expected per-token outcome (STS
refuses that token: a refusal with the reason); an exception from anywhere else in the
simulation is a bug and must propagate (exit 3), never become a refusal row that reads like
Google's answer. cel-python reports every evaluation failure as `celpy.CELEvalError`."""

from __future__ import annotations

from typing import Any

import pytest

from migrate.plan import token_classes
from migrate.plan.impersonation import ProviderEvaluator

CLAIMS = {"sub": "project_path:acme/api:ref_type:branch:ref:main", "namespace_id": "100", "ref": "main"}


def test_a_mapping_that_does_not_evaluate_is_a_refusal_with_the_reason() -> None:
    mapped = ProviderEvaluator({"google.subject": "assertion.missing_claim"}, "true").evaluate(CLAIMS)
    assert (mapped.accepted, mapped.reason.split(":")[0]) == (False, "mapping google.subject does not evaluate")
    mapped = ProviderEvaluator({"google.subject": "assertion.sub"}, "int(assertion.ref) > 1").evaluate(CLAIMS)
    assert (mapped.accepted, mapped.reason.split(":")[0]) == (False, "condition does not evaluate")


@pytest.mark.parametrize("condition", ["true", 'assertion.namespace_id == "100"'])
def test_a_bug_outside_cel_propagates(monkeypatch: pytest.MonkeyPatch, condition: str) -> None:
    def bug(value: Any) -> Any:
        raise RuntimeError("simulated bug")
    monkeypatch.setattr(token_classes, "plain", bug)
    with pytest.raises(RuntimeError, match="simulated bug"):
        ProviderEvaluator({"google.subject": "assertion.sub"}, condition).evaluate(CLAIMS)
