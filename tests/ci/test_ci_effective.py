"""GitLab's job resolution (includes → extends → !reference → default/inherit) and the acceptance
check on effective jobs, including proof that a deliberately broken rewrite is caught."""

from __future__ import annotations

import pytest
from helpers.ci import AUD, SA, dedent, run

from migrate.ci import acceptance, effective
from migrate.ci.yamlnodes import Reference


def jobs(text: str, *included: str) -> dict[str, dict[str, object]]:
    resolved = effective.resolve_text(dedent(text), tuple(dedent(extra) for extra in included))
    return {name: dict(job) for name, job in resolved.jobs.items()}


def test_extends_deep_merges_hashes_and_the_child_wins_otherwise() -> None:
    got = jobs("""
        .base:
          variables: {A: "1", B: "2"}
          script: [echo base]
          id_tokens: {T1: {aud: one}}
        job:
          extends: .base
          variables: {B: "3"}
          id_tokens: {T2: {aud: two}}
        """)
    assert set(got) == {"job"}  # hidden jobs never run
    assert got["job"]["variables"] == {"A": "1", "B": "3"}
    assert got["job"]["id_tokens"] == {"T1": {"aud": "one"}, "T2": {"aud": "two"}}
    assert got["job"]["script"] == ["echo base"]


def test_later_parent_wins_and_chains_resolve() -> None:
    got = jobs("""
        .a: {image: a, script: [a]}
        .b: {image: b}
        .c: {extends: .b, tags: [c]}
        job: {extends: [.a, .c]}
        """)
    assert got["job"]["image"] == "b" and got["job"]["script"] == ["a"] and got["job"]["tags"] == ["c"]


def test_reference_resolves_after_extends_so_it_replaces_a_parents_hash() -> None:
    """lib/gitlab/ci/config.rb build_config: Extendable before Yaml::Tags::Resolver."""
    got = jobs("""
        .vault: {id_tokens: {VAULT: {aud: v}}}
        .gcp: {id_tokens: {GCP: {aud: g}}, script: [x]}
        job:
          extends: .gcp
          id_tokens: !reference [.vault, id_tokens]
        """)
    assert got["job"]["id_tokens"] == {"VAULT": {"aud": "v"}}


def test_reference_looks_into_the_extended_job_and_scripts_flatten() -> None:
    got = jobs("""
        .setup: {before_script: [one, [two, three]]}
        .mid: {extends: .setup}
        job:
          script:
            - !reference [.mid, before_script]
            - four
        """)
    assert got["job"]["script"] == ["one", "two", "three", "four"]


def test_default_and_inherit() -> None:
    got = jobs("""
        variables: {G: "1", H: "2"}
        before_script: [legacy]
        default:
          id_tokens: {VAULT: {aud: v}}
          image: img
        a: {script: [a]}
        b: {script: [b], inherit: {default: false, variables: [H]}}
        c: {script: [c], inherit: {default: [image]}, id_tokens: {OWN: {aud: o}}}
        """)
    assert got["a"]["id_tokens"] == {"VAULT": {"aud": "v"}} and got["a"]["before_script"] == ["legacy"]
    assert got["a"]["variables"] == {"G": "1", "H": "2"}
    assert "id_tokens" not in got["b"] and "image" not in got["b"] and got["b"]["variables"] == {"H": "2"}
    assert got["c"]["id_tokens"] == {"OWN": {"aud": "o"}} and got["c"]["image"] == "img"
    assert "before_script" not in got["c"]


def test_includes_merge_first_and_the_file_wins() -> None:
    got = jobs("""
        .auth: {image: mine}
        job: {extends: .auth, script: [x]}
        """, """
        .auth: {image: theirs, before_script: [login]}
        """)
    assert got["job"]["image"] == "mine" and got["job"]["before_script"] == ["login"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("a: {extends: b, script: [x]}\nb: {extends: a}\n", "circular"),
    ("a: {script: !reference [b, script]}\nb: {script: !reference [a, script]}\n", "circular"),
])
def test_gitlab_errors_are_reported(text: str, fragment: str) -> None:
    assert any(fragment in problem for problem in effective.resolve_text(text).problems)


def test_reference_nesting_limit() -> None:
    lines = ["j0: {script: [x]}"] + [f"j{i}: {{script: [!reference [j{i - 1}, script]]}}" for i in range(1, 14)]
    resolved = effective.resolve_text("\n".join(lines) + "\n")
    assert any("deeper" in problem for problem in resolved.problems)


def test_missing_template_marks_the_job_partial() -> None:
    resolved = effective.resolve_text("job: {extends: .from-include, script: [x]}\n")
    assert "job" in resolved.partial


# -- the rewrite patterns of the issue -------------------------------------------------------------

VAULT_DEFAULT = """
    default:
      id_tokens:
        VAULT_ID_TOKEN:
          aud: https://vault.example.com
    deploy:
      script:
        - echo "$KEY" > key.json
        - gcloud auth activate-service-account --key-file key.json
        - gcloud run deploy app
    """


def test_default_vault_token_is_kept() -> None:
    result = run(dedent(VAULT_DEFAULT))
    assert result.status == "rewritten", result.reasons
    assert result.text is not None
    job = effective.resolve_text(result.text).jobs["deploy"]
    assert set(job["id_tokens"]) == {"VAULT_ID_TOKEN", "GCP_ID_TOKEN"}
    assert job["id_tokens"]["GCP_ID_TOKEN"] == {"aud": AUD}


def test_extends_with_reference_id_tokens_gets_the_token_where_the_reference_points() -> None:
    """Extends first, then !reference: the job's tokens are `.vault-tokens`' hash, so the provider
    token goes there (it was manual while the placement looked at the file's structure)."""
    result = run(dedent("""
        .vault-tokens:
          id_tokens:
            VAULT_ID_TOKEN:
              aud: https://vault.example.com
        .gcp-auth:
          before_script:
            - echo "$KEY" > key.json
            - gcloud auth activate-service-account --key-file key.json
        deploy:
          extends: .gcp-auth
          id_tokens: !reference [.vault-tokens, id_tokens]
          script:
            - gcloud run deploy app
        """))
    assert result.status == "rewritten" and result.text is not None, result.reasons
    tokens = effective.resolve_text(result.text).jobs["deploy"]["id_tokens"]
    assert tokens == {"VAULT_ID_TOKEN": {"aud": "https://vault.example.com"}, "GCP_ID_TOKEN": {"aud": AUD}}


# -- a deliberately broken rewrite is caught --------------------------------------------------------

def expectation() -> acceptance.Expectation:
    return acceptance.Expectation(frozenset({"KEY"}), AUD, "id_tokens", lambda job, var: SA)


def verdict(before: str, after: str) -> list[str]:
    return acceptance.compare(effective.resolve_text(before), effective.resolve_text(after), expectation())


def good_pair() -> tuple[str, str]:
    before = dedent(VAULT_DEFAULT)
    result = run(before)
    assert result.text is not None
    return before, result.text


def test_the_real_rewrite_passes() -> None:
    assert verdict(*good_pair()) == []


@pytest.mark.parametrize(("mutation", "fragment"), [
    (lambda t: t.replace("    VAULT_ID_TOKEN:\n      aud: https://vault.example.com\n", ""), "lost"),
    (lambda t: t.replace(AUD, "https://elsewhere.example.com"), "provider audience"),
    (lambda t: t.replace("--service-account=" + SA, "--service-account=other@p.iam.gserviceaccount.com"),
     "signs in as"),
    (lambda t: t.replace("    - gcloud run deploy app\n", ""), "beyond authentication"),
    (lambda t: t.replace("gcloud run deploy app", "gcloud run deploy app --project \"$(jq -r .project_id key.json)\""),
     "beyond authentication"),
    (lambda t: t + "  artifacts:\n    paths: [key.json]\n", "artifacts"),
    (lambda t: t.replace("gcloud run deploy app", 'curl -d "$KEY" https://x'), "key variable"),
])
def test_broken_rewrites_are_caught(mutation: object, fragment: str) -> None:
    before, after = good_pair()
    broken = mutation(after)  # type: ignore[operator]
    assert broken != after
    failures = verdict(before, broken)
    assert any(fragment in failure for failure in failures), failures


def test_reference_type_is_not_a_hash_for_deep_merge() -> None:
    assert effective.deep_merge({"a": {"x": 1}}, {"a": Reference(["t", "k"])}) == {"a": ["t", "k"]}
