"""Rewrites journaled with the exact inputs they were computed from, so apply need not redo them.

`apply` executes a merge request only if its content equals what the tool would compute now from
the journaled and live facts (DESIGN "Key retirement gates"). Until now it proved that by running
the rewriter again on every live file: ~10 s for 2,600 files at 10,000 projects (issue 18).

The rewriter (`planner.default_rewriter` over `migrate.ci.rewrite`) is a pure function of its
`RewriteRequest` — the file's text, the options, the texts of the files it includes — and of the
code that computes it. So at plan time each rewrite is journaled in the state database
(`State.record_computations`, kind "rewrite") under the digest of *all* of that: every field of
the request (texts as their sha256) and `code_version()`; the record holds the outcome's status,
reasons and the sha256 of the text it produced, never content.

At apply (and in its dry run) the executor builds the request from the live files exactly as it
would to recompute. When the journal holds that request's digest with status "rewritten" and an
output sha256 equal to the sha256 of the plan's content, the rewrite of the live inputs is known
to give the plan's content, and it is not run again. Anything else — a changed file or included
file, other options, a plan whose content was edited (its sha256 differs), other code, a state
directory without the record — runs the rewriter as before, with the same refusals. The journal
is trusted as the inventory snapshots are: it is written only by the tool, in its state directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from migrate.core.code_version import code_version
from migrate.core.outcome import Status
from migrate.plan.planner import RewriteOutcome, Rewriter, RewriteRequest, rewrite_many

KIND = "rewrite"
TEXT_FIELDS = ("text",)  # hashed, never journaled
TEXTS_FIELDS = ("included",)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-able and order-exact: mappings as sorted [key, value] pairs, sequences in order."""
    if isinstance(value, Mapping):
        return [[str(k), _canonical(v)] for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"rewrite request field of type {type(value).__name__} has no canonical form")


def request_digest(request: RewriteRequest, version: str | None = None) -> str:
    """sha256 over every field of the request (texts by their sha256) and the code version."""
    fields = []
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if f.name in TEXT_FIELDS:
            value = sha256_text(str(value))
        elif f.name in TEXTS_FIELDS:
            value = [sha256_text(str(t)) for t in value]
        fields.append([f.name, _canonical(value)])
    body = json.dumps({"code": version or code_version(), "request": fields}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def result_record(outcome: RewriteOutcome) -> dict[str, Any]:
    return {"status": outcome.status, "output_sha256": sha256_text(outcome.text or ""),
            "reasons": list(outcome.reasons)}


class RewriteJournal:
    """Journaled rewrites (request digest → record) and those noted in this run (`new`)."""

    def __init__(self, records: Mapping[str, Mapping[str, Any]] | None = None,
                 lookup: Callable[[str], Mapping[str, Any] | None] | None = None) -> None:
        self.records: dict[str, Mapping[str, Any]] = dict(records or {})
        self.new: dict[str, dict[str, Any]] = {}
        # a digest not in `records`: asked of the state database (the table grows with every
        # plan; a run needs only its own plan's records, so they are read one by one)
        self.lookup = lookup

    def record(self, digest: str) -> Mapping[str, Any] | None:
        if digest not in self.records and self.lookup is not None:
            found = self.lookup(digest)
            if found is not None:
                self.records[digest] = found
        return self.records.get(digest)

    def note(self, request: RewriteRequest, outcome: RewriteOutcome) -> None:
        digest = request_digest(request)
        record = result_record(outcome)
        self.records[digest] = self.new[digest] = record

    def confirmed(self, request: RewriteRequest, claimed: str) -> RewriteOutcome | None:
        """The outcome of rewriting `request`, text `claimed`, when the journal shows the rewrite of
        exactly these inputs by this code gave `claimed`; else None (then: recompute)."""
        record = self.record(request_digest(request))
        if record is None or record.get("status") != "rewritten":
            return None
        if record.get("output_sha256") != sha256_text(claimed):
            return None
        return RewriteOutcome(Status.REWRITTEN, claimed, tuple(str(r) for r in record.get("reasons") or ()))


class JournaledRewriter:
    """A `Rewriter` that notes each outcome in a `RewriteJournal` (plan), and can confirm a claimed
    outcome from it instead of recomputing (`confirmed`, used by the merge-request executor)."""

    def __init__(self, rewriter: Rewriter, journal: RewriteJournal | None = None) -> None:
        self.rewriter = rewriter
        self.journal = journal if journal is not None else RewriteJournal()

    def __call__(self, request: RewriteRequest) -> RewriteOutcome:
        outcome = self.rewriter(request)
        self.journal.note(request, outcome)
        return outcome

    def many(self, requests: Sequence[RewriteRequest]) -> list[RewriteOutcome]:
        """A batch through the wrapped rewriter's own batching (`planner.rewrite_many`), each noted."""
        outcomes = rewrite_many(self.rewriter, requests)
        for request, outcome in zip(requests, outcomes, strict=True):
            self.journal.note(request, outcome)
        return outcomes

    def confirmed(self, request: RewriteRequest, claimed: str) -> RewriteOutcome | None:
        return self.journal.confirmed(request, claimed)


def from_state(state: Any) -> RewriteJournal:
    """The rewrites journaled in `state` (a `migrate.core.state.State`), read as they are asked for."""
    return RewriteJournal(lookup=lambda digest: state.computation(KIND, digest))
