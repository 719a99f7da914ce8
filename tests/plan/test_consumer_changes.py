"""The consumer merge requests of a template copied with `!reference` (issue 21), pure: literal
before/after per shape, and a generated test over consumer shapes against an oracle written here.

The oracle does not use the planner's checks: it resolves the consumer's pipeline as GitLab does
(`migrate.ci.effective`) in the three states — before, between the merges (consumer changes only),
after (template too) — and demands: between, every job exactly as before except an added provider
token; after, every job that runs the template's sign-in has a token with the provider audience and
every token it had. A deliberately broken consumer change (a token with another audience, the
token in the wrong job, a Vault token dropped) is shown to be flagged by the oracle, and a broken
token placement inside the planner is shown to be refused by the planner's own checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from helpers.ci import AUD, PROVIDER, SA

from migrate.ci import RewriteOptions, effective, rewrite
from migrate.plan import consumer_changes, consumer_check
from migrate.plan.consumer_changes import plan_changes
from migrate.plan.consumer_check import ConsumerPipeline, FileId, PipelineFile

TEMPLATE_ID: FileId = ("acme/templates", "gcp.yml", "main")
ROOT: FileId = ("acme/app", ".gitlab-ci.yml", "main")
LOCAL: FileId = ("acme/app", "ci/deploy.yml", "main")
LIB: FileId = ("acme/lib", "lib.yml", "main")
TEMPLATE = """.gcp-auth:
  image: google/cloud-sdk:467.0.0-slim
  before_script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
"""
VAULT_DEFAULT = "default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example\n"
TOKEN = f"  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n"


def template_rewrite() -> str:
    result = rewrite(TEMPLATE, RewriteOptions(provider=PROVIDER, service_account=SA, path="gcp.yml",
                                              key_variables=frozenset({"GCP_SA_KEY"})))
    assert result.status == "rewritten" and result.text is not None, result.reasons
    return result.text


NEW_TEMPLATE = template_rewrite()


def pipeline(texts: Mapping[FileId, str]) -> ConsumerPipeline:
    root_includes = [TEMPLATE_ID] + [f for f in (LOCAL, LIB) if f in texts]
    files = [PipelineFile(ROOT, tuple(root_includes)), PipelineFile(TEMPLATE_ID)]
    files += [PipelineFile(LOCAL)] if LOCAL in texts else []
    files += [PipelineFile(LIB, (TEMPLATE_ID,))] if LIB in texts else []
    return ConsumerPipeline("acme/app", tuple(files))


def expect(consumer: str) -> Any:
    return consumer_check.expectation(["GCP_SA_KEY"], AUD, "id_tokens", {})


def plan(texts: Mapping[FileId, str], off_limits: Mapping[tuple[str, str], str] | None = None
         ) -> tuple[list[consumer_changes.ConsumerChange], list[str]]:
    all_texts = {TEMPLATE_ID: TEMPLATE, **texts}
    return plan_changes([pipeline(texts)], all_texts, {}, TEMPLATE_ID, TEMPLATE, NEW_TEMPLATE, PROVIDER, expect,
                        (17, 5), off_limits or {})


INCLUDE = "include:\n  - project: acme/templates\n    file: gcp.yml\n"


# --- literal before/after ------------------------------------------------------------------------

def test_a_job_that_copies_the_sign_in_directly_gets_the_token_in_itself() -> None:
    before = INCLUDE + "deploy:\n  before_script:\n    - !reference [.gcp-auth, before_script]\n  script: [make]\n"
    [change], reasons = plan({ROOT: before})
    assert reasons == []
    [file] = change.files
    assert file.id == ROOT and file.jobs == ("deploy",)
    assert file.new_text == INCLUDE + "deploy:\n" + TOKEN + \
        "  before_script:\n    - !reference [.gcp-auth, before_script]\n  script: [make]\n"


def test_a_job_that_extends_the_copying_job_gets_the_token() -> None:
    before = (INCLUDE + ".copy:\n  before_script:\n    - !reference [.gcp-auth, before_script]\n"
              "ship:\n  extends: .copy\n  script: [make]\n")
    [change], reasons = plan({ROOT: before})
    assert reasons == [] and change.jobs == ("ship",)
    assert change.files[0].new_text == before.replace("ship:\n", "ship:\n" + TOKEN, 1)


def test_a_copy_in_a_local_include_gets_the_token_in_that_file() -> None:
    root = INCLUDE + "  - local: ci/deploy.yml\nlint:\n  script: [make lint]\n"
    local = "release:\n  script:\n    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n"
    [change], reasons = plan({ROOT: root, LOCAL: local})
    assert reasons == []
    [file] = change.files
    assert file.id == LOCAL and file.new_text == local.replace("release:\n", "release:\n" + TOKEN, 1)
    assert file.included == (TEMPLATE_ID,)


def test_a_default_vault_token_is_kept_by_adding_ours_to_default() -> None:
    before = INCLUDE + VAULT_DEFAULT + "deploy:\n  script:\n    - !reference [.gcp-auth, before_script]\n"
    [change], reasons = plan({ROOT: before})
    assert reasons == []
    assert change.files[0].new_text == before.replace(
        "  id_tokens:\n", f"  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUD}\n", 1)


def test_a_copying_job_defined_in_another_projects_file_is_manual() -> None:
    """acme/lib's `ship` copies the sign-in and runs as is in acme/app: its file is not the consumer's."""
    root = "include:\n  - project: acme/lib\n    file: lib.yml\nlint:\n  script: [make lint]\n"
    lib = INCLUDE + "ship:\n  script:\n    - !reference [.gcp-auth, before_script]\n"
    changes, reasons = plan({ROOT: root, LIB: lib})
    assert changes == []
    assert reasons == ["consumer acme/app, job ship: copies the template's authentication but is defined in "
                       "acme/lib:lib.yml, not in a file of the consumer project itself"]


def test_a_consumer_file_another_change_edits_is_manual() -> None:
    before = INCLUDE + "deploy:\n  script:\n    - !reference [.gcp-auth, before_script]\n"
    changes, reasons = plan({ROOT: before}, {("acme/app", ".gitlab-ci.yml"): "has key use of its own"})
    assert changes == [] and reasons == [
        "consumer acme/app, file .gitlab-ci.yml: has key use of its own; it cannot also get the ID token in a "
        "merge request of its own"]


def test_an_unreadable_consumer_file_is_manual_never_partial() -> None:
    root = INCLUDE + "  - local: ci/deploy.yml\ndeploy:\n  script:\n    - !reference [.gcp-auth, before_script]\n"
    changes, reasons = plan_changes([pipeline({ROOT: root, LOCAL: ""})], {TEMPLATE_ID: TEMPLATE, ROOT: root},
                                    {LOCAL: "403 Forbidden"}, TEMPLATE_ID, TEMPLATE, NEW_TEMPLATE, PROVIDER, expect,
                                    (17, 5), {})
    assert changes == [] and reasons == [
        "consumer acme/app: file ci/deploy.yml could not be read (403 Forbidden); cannot check that its jobs "
        "still get the ID token"]


# --- generated shapes against the oracle ---------------------------------------------------------

def resolve(texts: Mapping[FileId, str]) -> effective.Resolved:
    texts = {TEMPLATE_ID: TEMPLATE, **texts}
    order, _ = consumer_check.merge_order(pipeline(texts))
    maps = [effective.load(texts[f]) for f in order]
    return effective.resolve(maps[:-1], maps[-1])


def tokens(job: Mapping[str, Any]) -> dict[str, Any]:
    value = job.get("id_tokens")
    return dict(value) if isinstance(value, Mapping) else {}


def runs_sign_in(job: Mapping[str, Any]) -> bool:
    lines = [str(line) for k in ("before_script", "script") for line in job.get(k) or ()]
    return any("auth" in line and ("activate-service-account" in line or "login" in line) for line in lines)


def oracle(before: Mapping[FileId, str], consumer_new: Mapping[FileId, str]) -> list[str]:
    """Independent judgement of a consumer change (see the module docstring)."""
    failures: list[str] = []
    old = resolve(before)
    between = resolve({**before, **consumer_new})
    after = resolve({**before, **consumer_new, TEMPLATE_ID: NEW_TEMPLATE})
    if set(old.jobs) != set(between.jobs) or set(old.jobs) != set(after.jobs):
        failures.append("the set of jobs changed")
    for name, job in old.jobs.items():
        mid = dict(between.jobs.get(name) or {})
        added = {k: v for k, v in tokens(mid).items() if k not in tokens(job)}
        if {k: v for k, v in mid.items() if k != "id_tokens"} != {k: v for k, v in job.items() if k != "id_tokens"}:
            failures.append(f"{name}: changed between the merges")
        if any(tokens(mid).get(k) != v for k, v in tokens(job).items()):
            failures.append(f"{name}: lost a token between the merges")
        if any(k != "GCP_ID_TOKEN" or v != {"aud": AUD} for k, v in added.items()):
            failures.append(f"{name}: a foreign token between the merges")
        final = dict(after.jobs.get(name) or {})
        if runs_sign_in(job):
            if not any(v == {"aud": AUD} for v in tokens(final).values()):
                failures.append(f"{name}: no provider token after the template's merge")
            if any(tokens(final).get(k) != v for k, v in tokens(job).items()):
                failures.append(f"{name}: lost a token after the template's merge")
    return failures


def shapes() -> list[tuple[str, dict[FileId, str]]]:
    """Consumer shapes: where the copy lands × which keyword × a default Vault token × own tokens."""
    out: list[tuple[str, dict[FileId, str]]] = []
    for where, keyword, vault, own in itertools.product(("job", "hidden", "local", "hidden-local"),
                                                         ("before_script", "script"), (False, True), (False, True)):
        copy = f"  {keyword}:\n    - !reference [.gcp-auth, before_script]\n" + \
            ("    - gcloud storage ls\n" if keyword == "script" else "  script: [gcloud storage ls]\n")
        own_tokens = "  id_tokens:\n    OTHER_TOKEN:\n      aud: https://other.example\n" if own else ""
        root = INCLUDE + (VAULT_DEFAULT if vault else "")
        texts: dict[FileId, str] = {}
        if where == "job":
            texts[ROOT] = root + "deploy:\n" + own_tokens + copy
        elif where == "hidden":
            texts[ROOT] = root + ".copy:\n" + copy + "deploy:\n  extends: .copy\n" + own_tokens
        elif where == "local":
            texts[ROOT] = root.replace(INCLUDE, INCLUDE + "  - local: ci/deploy.yml\n") + "lint:\n  script: [make]\n"
            texts[LOCAL] = "deploy:\n" + own_tokens + copy
        else:
            texts[ROOT] = root.replace(INCLUDE, INCLUDE + "  - local: ci/deploy.yml\n") + \
                "deploy:\n  extends: .copy\n" + own_tokens + "  variables: {REGION: eu}\n"
            texts[LOCAL] = ".copy:\n" + copy
        out.append((f"{where}-{keyword}-{'vault' if vault else 'novault'}-{'own' if own else 'noown'}", texts))
    return out


SHAPES = shapes()


@pytest.mark.parametrize("texts", [t for _, t in SHAPES], ids=[n for n, _ in SHAPES])
def test_every_consumer_shape_is_migrated_correctly_or_manual_with_a_reason(texts: dict[FileId, str]) -> None:
    changes, reasons = plan(texts)
    if reasons:
        assert changes == [] and all(r.startswith("consumer acme/app") or "ID token" in r for r in reasons), reasons
        return
    assert len(changes) == 1, "one merge request per consumer project"
    new = {f.id: f.new_text for f in changes[0].files}
    assert oracle(texts, new) == [], new
    # and the consumer's jobs really needed it: without the consumer change the template breaks them
    assert oracle(texts, {}) != []


def test_most_generated_shapes_are_migrated() -> None:
    migrated = sum(1 for _, texts in SHAPES if not plan(texts)[1])
    assert migrated >= len(SHAPES) * 3 // 4, migrated


BROKEN = {
    "token with another audience": lambda text: text.replace(AUD, "https://evil.example"),
    "token in no job": lambda text: text.replace(TOKEN, ""),
    "vault token dropped": lambda text: text.replace("    VAULT_ID_TOKEN:\n      aud: https://vault.example\n", ""),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_oracle_flags_a_broken_consumer_change(name: str) -> None:
    """Show the generated test can fail: each deliberately broken variant of a good change is flagged."""
    texts = dict(next(t for n, t in SHAPES if n == "job-before_script-vault-noown"))
    [change], reasons = plan(texts)
    assert reasons == []
    good = {f.id: f.new_text for f in change.files}
    assert oracle(texts, good) == []
    broken = {fid: BROKEN[name](text) for fid, text in good.items()}
    assert broken != good
    assert oracle(texts, broken) != [], name


def test_the_planners_own_checks_refuse_a_broken_token_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token placement that puts the token nowhere (the text unchanged, claimed rewritten) is
    refused by the planner's full consumer check: never a consumer change that breaks a job."""
    from migrate.ci.rewrite import RewriteResult

    def broken(text: str, jobs: Any, options: Any, token_var: str = "GCP_ID_TOKEN") -> RewriteResult:
        return RewriteResult("rewritten", text, ("broken",), "")

    monkeypatch.setattr(consumer_changes, "add_tokens", broken)
    texts = dict(next(t for n, t in SHAPES if n == "job-before_script-novault-noown"))
    changes, reasons = plan(texts)
    assert changes == [] and any("no ID token with the provider audience reaches the job" in r for r in reasons), \
        reasons
