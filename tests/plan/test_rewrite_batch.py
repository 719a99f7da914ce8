"""The plan's rewrites as one batch over worker processes give the outcomes of one call each (issue 18).

`CIRewriter.many` spreads a large batch of distinct requests over `spawn`ed workers; the rewrite is a
pure function of its request, so the batch must answer exactly what calling the rewriter once per
request answers, in the requests' order — rewritten, manual and unchanged files alike, duplicates
answered once. A batch that loses the order (the plausible slip of a pool) is caught.
"""

from __future__ import annotations

from typing import Any

import pytest

import migrate.plan.planner as planner
from migrate.plan.planner import CIRewriter, RewriteOutcome, RewriteRequest, rewrite_many
from migrate.plan.rewrite_journal import JournaledRewriter

AUDIENCE = "https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/gitlab/providers/gitlab"


def _text(n: int) -> str:
    if n % 5 == 3:  # the key is read by a command the rewriter cannot prove: manual
        return f"deploy-{n}:\n  script:\n    - curl -d @$GCP_KEY https://example.invalid/{n}\n"
    if n % 5 == 4:  # no key use at all: unchanged
        return f"test-{n}:\n  script:\n    - make test-{n}\n"
    return (f"deploy-{n}:\n  image: google/cloud-sdk\n  script:\n"
            f"    - gcloud auth activate-service-account --key-file=$GCP_KEY\n"
            f"    - gcloud run deploy svc-{n} --region europe-west1\n")


def _requests(count: int) -> list[RewriteRequest]:
    out = [RewriteRequest(".gitlab-ci.yml", _text(n), AUDIENCE, {"GCP_KEY": f"sa-{n % 3}@p.iam.gserviceaccount.com"},
                          ("GCP_KEY",), "17.0") for n in range(count)]
    return out + out[:5]  # identical requests are rewritten once and answered alike


def test_a_parallel_batch_answers_as_one_call_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planner, "PARALLEL_MIN", 4)  # a small batch still goes to the workers
    requests = _requests(12)
    serial = [CIRewriter(workers=1)(r) for r in requests]
    assert {o.status for o in serial} == {"rewritten", "manual", "unchanged"}
    batch = CIRewriter(workers=2)
    assert batch.many(requests) == serial
    assert len(batch.memo) == 12
    # a journaled rewriter batches through it and notes every request
    journaled = JournaledRewriter(CIRewriter(workers=2))
    assert journaled.many(requests) == serial
    assert len(journaled.journal.new) == 12


def test_the_comparison_catches_a_batch_out_of_order(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _requests(12)
    serial = [CIRewriter(workers=1)(r) for r in requests]

    class Reversed:
        def __call__(self, request: RewriteRequest) -> RewriteOutcome:
            return planner.rewrite_once(request)

        def many(self, batch: Any) -> list[RewriteOutcome]:
            return [planner.rewrite_once(r) for r in reversed(batch)]

    assert rewrite_many(Reversed(), requests) != serial
    assert rewrite_many(Reversed().__call__, requests) == serial  # no `many`: one call each


def test_usable_cores_follows_the_affinity() -> None:
    import os

    assert 1 <= planner.usable_cores() <= min(8, len(os.sched_getaffinity(0)))
