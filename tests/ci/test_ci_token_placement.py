"""Where the ID token goes follows from the effective jobs (issue 15 item 1).

GitLab resolves `extends` (deep merge; a child's non-hash value, such as an `id_tokens:
!reference [...]`, replaces the parent's hash) *before* `!reference` (`build_config` in GitLab's
`lib/gitlab/ci/config.rb`), and a job's own `id_tokens` replaces `default:id_tokens`
(`config/entry/default.rb`, `job.rb`). So the place that gives a job the token is wherever the
job's effective `id_tokens` hash is built from: a `!reference` target, an included file's
`default:`, a parent's hash — not necessarily the job or the template that authenticates.

Every case here was sent to manual review (or lost a token) by the placement that looked at the
file's structure. The oracle (`oracle`) is written apart from the rewriter: it resolves the result
with the one resolver and asks what each job really gets."""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest
from helpers.ci import AUD, dedent, run

from migrate.ci import effective, tokens
from migrate.ci.rewrite import RewriteResult

AUTH = """\
    - echo "$GCP_KEY" > key.json
    - gcloud auth activate-service-account --key-file key.json
"""
VAULT = {"aud": "https://vault.example.com"}


def token_sets(text: str, included: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    resolved = effective.resolve_text(text, included)
    return {name: dict(job.get("id_tokens") or {}) for name, job in resolved.jobs.items()}


def oracle(before: str, result: RewriteResult, keyed: set[str], included: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a rewritten result: a keyed job without the provider token, or any
    job that lost or changed a token it had (empty: nothing)."""
    assert result.text is not None
    old, new = token_sets(before, included), token_sets(result.text, included)
    problems = []
    for name, had in old.items():
        got = new.get(name, {})
        problems += [f"{name} lost {token}" for token, value in had.items() if got.get(token) != value]
        if name in keyed and not any(isinstance(v, dict) and v.get("aud") == AUD for v in got.values()):
            problems.append(f"{name} gets no provider token")
    return problems


CASES: dict[str, tuple[str, tuple[str, ...], set[str]]] = {
    # the keyed template takes its tokens with !reference: a hash added to the template is not
    # what the job ends up with; the token belongs in `.vault`, where the reference points
    "reference in the keyed template": ("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        .gcp-auth:
          id_tokens: !reference [.vault, id_tokens]
          before_script:
        %s
        deploy:
          extends: .gcp-auth
          script:
            - gcloud storage ls
        """, (), {"deploy"}),
    # the job's own !reference replaces whatever the template would carry (extends first)
    "reference in the job over a keyed template": ("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        .gcp-auth:
          before_script:
        %s
        deploy:
          extends: .gcp-auth
          id_tokens: !reference [.vault, id_tokens]
          script:
            - gcloud storage ls
        """, (), {"deploy"}),
    # authentication in default:, one job with referenced tokens of its own
    "default authentication, referenced tokens": ("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        default:
          before_script:
        %s
        deploy:
          id_tokens: !reference [.vault, id_tokens]
          script:
            - gcloud storage ls
        build:
          script:
            - gcloud storage ls
        """, (), {"deploy", "build"}),
    # default:id_tokens is itself a !reference: the token goes where it points
    "default authentication, default tokens referenced": ("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        default:
          id_tokens: !reference [.vault, id_tokens]
          before_script:
        %s
        deploy:
          script:
            - gcloud storage ls
        """, (), {"deploy"}),
    # references nest: the hash is two hops away
    "nested references": ("""
        .vault:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        .tokens:
          id_tokens: !reference [.vault, id_tokens]
        deploy:
          id_tokens: !reference [.tokens, id_tokens]
          script:
        %s    - gcloud storage ls
        """, (), {"deploy"}),
    # default:id_tokens from an included file: a job-level id_tokens would replace it
    "default tokens from an include": ("""
        include: ci/vault.yml
        deploy:
          script:
        %s    - gcloud storage ls
        """, ("default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n",), {"deploy"}),
}


def build_case(name: str) -> tuple[str, tuple[str, ...], set[str]]:
    text, included, keyed = CASES[name]
    return dedent(text) % AUTH, included, keyed


@pytest.mark.parametrize("name", list(CASES))
def test_token_reaches_the_effective_job_and_keeps_its_tokens(name: str) -> None:
    text, included, keyed = build_case(name)
    before = token_sets(text, included)
    assert all(before[job] or job == "build" for job in keyed) or included, before  # the jobs had tokens
    result = run(text, included=included)
    assert result.status == "rewritten", result.reasons
    assert oracle(text, result, keyed, included) == []


def test_reference_target_gets_the_token_once() -> None:
    """The token is written where the reference points (`.vault`), not in a job whose hash
    the reference would replace."""
    text, included, _ = build_case("reference in the keyed template")
    result = run(text)
    assert result.text is not None
    vault = result.text.split(".gcp-auth:")[0]
    assert "GCP_ID_TOKEN:" in vault and result.text.count("GCP_ID_TOKEN:") == 1, result.text


def test_the_oracle_catches_the_structural_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deliberately broken variant: the token put into the keyed job itself (what a
    structural choice does). The result loses the job's Vault token; both the rewrite's own
    self-check and this test's oracle say so."""
    text, included, keyed = build_case("default tokens from an include")

    def into_the_job(plan: tokens.TokenPlan, keyed_jobs: set[str], default_keyed: bool) -> list[Any]:
        pipe = plan.doc.pipe
        return [edit for job in sorted(keyed_jobs) for edit in tokens._into_mapping(plan, pipe.job(job),
                                                                                      pipe.key_node(job))]

    monkeypatch.setattr(importlib.import_module("migrate.ci.rewrite"), "place_tokens", into_the_job)
    refused = run(text, included=included)
    assert refused.status == "manual" and any("VAULT_ID_TOKEN" in r for r in refused.reasons), refused.reasons
    from migrate.ci import emit
    from migrate.ci.detect import build
    from migrate.ci.yamlnodes import compose

    doc = build(text, compose(text))
    edits = into_the_job(tokens.TokenPlan(doc, "id_tokens", "GCP_ID_TOKEN", _Options()), keyed, False)
    broken = RewriteResult("rewritten", emit.splice(doc.lines, edits, "\n"), (), "")
    assert oracle(text, broken, keyed, included) == ["deploy lost VAULT_ID_TOKEN"]


class _Options:
    provider = AUD.removeprefix("https://iam.googleapis.com/")
    gitlab_version = None
    included: tuple[str, ...] = ()


def test_no_placement_reaches_the_job_is_manual_with_the_reason() -> None:
    """The tokens come from a !reference into an included file this tool does not edit: no
    place in this file gives the job the token without replacing them."""
    text = dedent("""
        include: ci/vault.yml
        deploy:
          id_tokens: !reference [.vault, id_tokens]
          script:
        %s    - gcloud storage ls
        """) % AUTH
    included = (".vault:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n",)
    result = run(text, included=included)
    assert result.status == "manual"
    assert any("cannot give job deploy an ID token that GitLab would use" in r for r in result.reasons), result.reasons


# -- generated: every combination is manual with a reason or a rewrite the oracle accepts --------

AUTH_AT = ("job", "template", "default")
TOKENS_AT = ("none", "job hash", "template hash", "job reference", "template reference", "default hash",
             "included default", "included parent hash")
INHERIT = (False, True)


def generated(auth_at: str, tokens_at: str, no_default: bool) -> tuple[str, tuple[str, ...]]:
    lines: list[str] = []
    included: tuple[str, ...] = ()
    if tokens_at in ("job reference", "template reference"):
        lines += [".vault:", "  id_tokens:", "    VAULT_ID_TOKEN:", "      aud: https://vault.example.com"]
    if tokens_at == "included default":
        included = ("default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n",)
    if tokens_at == "included parent hash":
        included = (".base:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n",)
    if auth_at == "default" or tokens_at == "default hash":
        lines.append("default:")
        if tokens_at == "default hash":
            lines += ["  id_tokens:", "    VAULT_ID_TOKEN:", "      aud: https://vault.example.com"]
        if auth_at == "default":
            lines += ["  before_script:", *AUTH.rstrip("\n").split("\n")]
    lines.append(".gcp-auth:")
    if tokens_at == "template hash":
        lines += ["  id_tokens:", "    VAULT_ID_TOKEN:", "      aud: https://vault.example.com"]
    if tokens_at == "template reference":
        lines.append("  id_tokens: !reference [.vault, id_tokens]")
    lines += ["  before_script:", *AUTH.rstrip("\n").split("\n")] if auth_at == "template" else ["  stage: test"]
    parents = [".gcp-auth"] + ([".base"] if tokens_at == "included parent hash" else [])
    lines += ["deploy:", f"  extends: [{', '.join(parents)}]"]
    if no_default:
        lines += ["  inherit:", "    default: [before_script]"]
    if tokens_at == "job hash":
        lines += ["  id_tokens:", "    VAULT_ID_TOKEN:", "      aud: https://vault.example.com"]
    if tokens_at == "job reference":
        lines.append("  id_tokens: !reference [.vault, id_tokens]")
    lines += ["  script:", *(AUTH.rstrip("\n").split("\n") if auth_at == "job" else []), "    - gcloud storage ls"]
    lines += ["other:", "  script:", "    - make test"]
    text = "\n".join(lines) + "\n"
    if auth_at == "template" and tokens_at != "included parent hash":
        text = text.replace("  extends: [.gcp-auth]", "  extends: .gcp-auth")
    return text, included


COMBINATIONS = list(itertools.product(AUTH_AT, TOKENS_AT, INHERIT))


def test_generated_combinations_are_manual_with_a_reason_or_keep_every_token() -> None:
    rewritten = 0
    for auth_at, tokens_at, no_default in COMBINATIONS:
        text, included = generated(auth_at, tokens_at, no_default)
        result = run(text, included=included)
        label = f"{auth_at} / {tokens_at} / inherit {no_default}"
        if result.status == "manual":
            assert result.reasons and all(r.strip() for r in result.reasons), label
            continue
        assert result.status == "rewritten", (label, result.status, result.reasons)
        rewritten += 1
        keyed = {"deploy", "other"} if auth_at == "default" else {"deploy"}
        assert oracle(text, result, keyed, included) == [], (label, result.text)
    # every combination has a placement GitLab honours; none needs manual review for the token
    assert rewritten == len(COMBINATIONS), rewritten


def test_generated_oracle_flags_a_token_dropped_from_the_result() -> None:
    """The generated test's oracle can fail: remove the Vault token from a result and it is flagged."""
    text, included = generated("template", "job reference", False)
    result = run(text, included=included)
    assert result.status == "rewritten" and result.text is not None, result.reasons
    broken = RewriteResult("rewritten", result.text.replace("VAULT_ID_TOKEN", "OTHER_TOKEN"), (), "")
    assert "deploy lost VAULT_ID_TOKEN" in oracle(text, broken, {"deploy"}, included)
