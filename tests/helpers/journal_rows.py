"""Generated journals for the typed readers' tests: rows of this build (the evidence main's
executors wrote, `helpers.old_evidence`, and verify's `VerifyResult.evidence()`), and rows of older
builds or hand edits (objects of the keys the readers ever read, with values of any JSON type),
written through a real `State` database and read back as `JournalEntry` rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from helpers import old_evidence as old
from helpers import report_fixtures as fx
from migrate.core import evidence as ev
from migrate.core.outcome import Status
from migrate.core.state import JournalEntry, State
from migrate.verify.runner import ProjectCheck, VerifyResult

SA_TARGET = "projects/-/serviceAccounts/" + fx.KEY_API.service_account
TEXTS = ["", "merged", "opened", "closed", "acme/api", "acme/templates", fx.VAR_API.ref, fx.KEY_API.key_id,
         f"#{fx.KEY_GROUP.key_id[:8]}", "acme/api:.gitlab-ci.yml", "principal://a", fx.POOL + "/attribute.x/1",
         fx.KEY_API.service_account, "2026-03-03T09:00:00Z", "2026-03-03T10:00:00.5+01:00", "2026-03-03",
         "mr-api", "mr-templates", "https://gitlab.example.com/acme/api/-/merge_requests/7",
         "assertion.namespace_id in ['100']"]
TEXT = st.sampled_from(TEXTS)
SCALAR = st.none() | st.booleans() | st.integers(-1, 3) | TEXT
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["merged_at", "attributeCondition", "members", "project", "job"]),
                                       inner, max_size=3), max_leaves=6)
#: every evidence key the readers of apply and verify rows read (and a few they do not)
LEGACY_KEYS = ["merged_at", "merge_time", "merge_request", "unverified_jobs", "acceptable", "web_url", "project",
               "mr_state", "state", "merge_request_action", "key_ids", "variables", "findings",
               "attribute_condition", "attributeCondition", "desired", "provider", "members", "principals",
               "member", "principal", "added", "already", "binding", "service_account", "attempts", "dry_run",
               "blocked", "steps", "mr_iid", "status"]
JOB = st.fixed_dictionaries({"project": st.sampled_from(["acme/api", "acme/web"]),
                             "job": st.sampled_from(["deploy", "test"])})
LEGACY = st.dictionaries(st.sampled_from(LEGACY_KEYS), VALUE | st.lists(JOB | VALUE, max_size=2), max_size=6)
STATE_WORD = st.sampled_from(["merged", "merged", "opened", "", None, 1, ["merged"]])
TIME = st.sampled_from(["2026-03-03T09:00:00Z", "2026-03-03T10:00:00.5+01:00", "2026-03-03", "", "not a time"]) | VALUE
STRINGS = st.lists(TEXT | VALUE, max_size=3) | TEXT | VALUE
CONDITION = st.sampled_from(["assertion.namespace_id in ['100']", "true"]) | VALUE


def _optional(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=keys)


#: per (stage, kind): objects of the keys its readers read, each present or not, beside `LEGACY`
LEGACY_OF: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "merge_request": _optional(web_url=TEXT | VALUE, project=TEXT | VALUE, mr_state=STATE_WORD, state=STATE_WORD,
                               key_ids=STRINGS, variables=STRINGS, findings=STRINGS, mr_iid=VALUE)
    | st.fixed_dictionaries({"state": STATE_WORD}, optional={"web_url": TEXT, "mr_state": STATE_WORD}),
    "ensure_provider": _optional(attribute_condition=CONDITION, attributeCondition=CONDITION,
                                 desired=_optional(attributeCondition=CONDITION) | VALUE,
                                 provider=_optional(attribute_condition=CONDITION) | VALUE, steps=STRINGS),
    "ensure_binding": _optional(members=STRINGS, principals=STRINGS, member=STRINGS, principal=STRINGS,
                                added=STRINGS, already=STRINGS, binding=_optional(members=STRINGS) | VALUE,
                                service_account=TEXT | VALUE, attempts=VALUE),
    "verify": _optional(merged_at=TIME, merge_time=TIME, merge_request=_optional(merged_at=TIME) | VALUE,
                        unverified_jobs=st.lists(JOB | VALUE, max_size=3) | VALUE, acceptable=VALUE,
                        merge_request_action=st.sampled_from(["mr-api", "mr-templates"]) | VALUE,
                        mr_state=STATE_WORD, state=STATE_WORD, web_url=TEXT | VALUE)
    | st.fixed_dictionaries({"state": STATE_WORD}, optional={"merge_request_action": st.just("mr-api"),
                                                             "mr_state": STATE_WORD, "merge_time": TIME}),
}

WORD = st.sampled_from(["", "a", "acme/api", "principal://a", "principal://b"])
WORDS = st.lists(WORD, max_size=3)
MR_EVENTS = st.sampled_from([[], [("commit", "c")], [("mr", (2, "https://gitlab.example.com/acme/api/-/merge_requests/2"))],
                             [("merged", (1, "u", None, "2026-03-03T09:00:00Z"))], [("waiting", ["mr-api"])]])
APPLY_TYPED: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "merge_request": st.builds(old.merge_request, TEXT, WORD, WORD, WORDS, st.booleans(), MR_EVENTS),
    "ensure_provider": st.builds(old.ensure, st.sampled_from(["undeleted", "up_to_date", "taken_over", "written",
                                                              "refused", "would_write"]),
                                 st.just("create"), WORDS, WORDS),
    "ensure_binding": st.builds(old.binding, WORDS, WORDS, st.integers(0, 4), st.booleans(), st.booleans()),
}
VERIFY_TYPED = st.builds(
    VerifyResult, st.just("v"), TEXT, st.sampled_from([Status.VERIFIED, Status.FAILED, Status.PENDING]), TEXT,
    st.none() | st.integers(1, 9), st.none() | st.sampled_from(["merged", "opened", ""]), TEXT,
    st.none() | st.just("abc"), st.none() | st.sampled_from(["", "2026-03-03T09:00:00Z", "2026-03-03T09:00:00.25Z"]),
    st.lists(st.builds(ProjectCheck, TEXT, st.sampled_from([Status.VERIFIED, Status.PENDING]), TEXT,
                       st.none() | st.integers(1, 9), unverified=st.lists(
                           st.fixed_dictionaries({"project": st.sampled_from(["acme/api", "acme/web"]),
                                                  "job": st.sampled_from(["deploy", "test"]), "reason": TEXT}),
                           max_size=2).map(tuple)), max_size=2).map(tuple))

ACTION_IDS = ["mr-api", "mr-templates", "provider-1", "binding-deployer", "binding-builder", "x-1"]
TARGETS = ["acme/api", "acme/templates", fx.PROVIDER, SA_TARGET, fx.KEY_API.service_account, "t", ""]
OUTCOMES = [Status.APPLIED, Status.APPLIED, Status.SKIPPED, Status.SKIPPED, Status.FAILED, Status.WOULD_APPLY,
            Status.REFUSED]


KINDS = (("apply", "merge_request"), ("apply", "ensure_provider"), ("apply", "ensure_binding"), ("verify", "verify"))


@st.composite
def rows(draw: st.DrawFn, kinds: tuple[tuple[str, str], ...] = KINDS) -> tuple[str, str, str, str, str, Status, dict[str, Any]]:
    """(stage, action id, kind, target, phase, outcome, evidence object) of one journal row."""
    stage, kind = draw(st.sampled_from(kinds))
    if draw(st.booleans()):  # this build's shape
        if stage == "verify":
            evidence = ev.journal_object(draw(VERIFY_TYPED).evidence())
        else:
            evidence = old.journaled(draw(APPLY_TYPED[kind]), draw(st.booleans()))
    else:  # an older build's row, or a hand edit
        evidence = draw(st.one_of(LEGACY_OF[kind], LEGACY_OF[kind], LEGACY))
    phase = draw(st.sampled_from(["outcome", "outcome", "outcome", "intent"]))
    return (stage, draw(st.sampled_from(ACTION_IDS)), kind, draw(st.sampled_from(TARGETS)), phase,
            draw(st.sampled_from(OUTCOMES)), evidence)


def written(state_dir: Path, journal: list[tuple[str, str, str, str, str, Status, dict[str, Any]]]) -> tuple[State, list[JournalEntry]]:
    """The rows written through a real state database and read back."""
    state = State(state_dir)
    for stage, action_id, kind, target, phase, outcome, evidence in journal:
        state.record(stage, action_id, kind, target, phase, None if phase == "intent" else outcome, "d", evidence)
    return state, state.entries()
