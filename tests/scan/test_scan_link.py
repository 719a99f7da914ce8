"""Linking usages to the variables a job really reads, and suspecting hidden key variables."""

from __future__ import annotations

from migrate.core.model import CIFinding, KeyIdentity, KeyVariable, ProjectRecord
from migrate.scan.link import (
    OwnerKey,
    VarEntry,
    link,
    looks_like_key_name,
    resolve,
    scope_matches,
    suspect_hidden,
)

PROJECT = ProjectRecord(id=7, path="acme/platform/api", namespace_id=20, namespace_path="acme/platform",
                        ancestor_ids=(10, 20))
OTHER = ProjectRecord(id=8, path="other/web", namespace_id=30, namespace_path="other", ancestor_ids=(30,))


def finding(variable: str = "GCP_KEY", jobs: tuple[str, ...] = ("deploy",)) -> CIFinding:
    return CIFinding(line=3, end_line=4, kind="gcloud-key-file", variable=variable, jobs=jobs, detail="")


def test_scope_matching_follows_gitlab_wildcards() -> None:
    assert scope_matches("*", None)
    assert scope_matches("*", "production")
    assert not scope_matches("production", None)
    assert scope_matches("production", "production")
    assert not scope_matches("production", "production-eu")
    assert scope_matches("review/*", "review/feature-1")
    assert not scope_matches("review/*", "staging")
    assert scope_matches("prod*", "production")
    assert scope_matches("review/main", "review/$CI_COMMIT_REF_SLUG")  # dynamic: could be review/main
    assert not scope_matches("staging", "review/$CI_COMMIT_REF_SLUG")  # never: it starts with review/


def test_project_variable_wins_over_group_and_instance() -> None:
    index: dict[OwnerKey, list[VarEntry]] = {
        ("instance", None): [VarEntry("GCP_KEY", "*", "instance::GCP_KEY")],
        ("group", 10): [VarEntry("GCP_KEY", "*", "group:acme:GCP_KEY")],
        ("group", 20): [VarEntry("GCP_KEY", "*", "group:acme/platform:GCP_KEY")],
        ("project", 7): [VarEntry("GCP_KEY", "*", "project:acme/platform/api:GCP_KEY")],
    }
    assert [v.key_ref for v in resolve("GCP_KEY", None, PROJECT, index)] == ["project:acme/platform/api:GCP_KEY"]
    del index[("project", 7)]
    assert [v.key_ref for v in resolve("GCP_KEY", None, PROJECT, index)] == ["group:acme/platform:GCP_KEY"]
    del index[("group", 20)]
    assert [v.key_ref for v in resolve("GCP_KEY", None, PROJECT, index)] == ["group:acme:GCP_KEY"]
    # a project outside acme sees only the instance variable
    assert [v.key_ref for v in resolve("GCP_KEY", None, OTHER, index)] == ["instance::GCP_KEY"]


def test_environment_scope_selects_the_most_specific_variable() -> None:
    index: dict[OwnerKey, list[VarEntry]] = {("group", 10): [
        VarEntry("GCP_KEY", "*", "group:acme:GCP_KEY"),
        VarEntry("GCP_KEY", "production", "group:acme:GCP_KEY[production]"),
        VarEntry("GCP_KEY", "review/*", "group:acme:GCP_KEY[review/*]"),
    ]}
    envs = {"deploy": "production", "review": "review/x", "test": None}
    refs, _ = link(finding(jobs=("deploy",)), envs, PROJECT, index, "s")
    assert refs == ["group:acme:GCP_KEY[production]"]
    refs, _ = link(finding(jobs=("review",)), envs, PROJECT, index, "s")
    assert refs == ["group:acme:GCP_KEY[review/*]"]
    refs, _ = link(finding(jobs=("test",)), envs, PROJECT, index, "s")
    assert refs == ["group:acme:GCP_KEY"]
    refs, _ = link(finding(jobs=("deploy", "test")), envs, PROJECT, index, "s")
    assert refs == ["group:acme:GCP_KEY", "group:acme:GCP_KEY[production]"]


def test_a_plain_project_variable_shadows_a_group_key_and_is_reported() -> None:
    index: dict[OwnerKey, list[VarEntry]] = {
        ("group", 10): [VarEntry("GCP_KEY", "*", "group:acme:GCP_KEY")],
        ("project", 7): [VarEntry("GCP_KEY", "*", None)],
    }
    refs, problems = link(finding(), {}, PROJECT, index, "file:x")
    assert refs == []
    assert len(problems) == 1 and "holds no service-account key" in problems[0].reason


def test_an_invisible_variable_is_reported_not_guessed() -> None:
    refs, problems = link(finding("NOPE"), {}, PROJECT, {}, "file:x")
    assert refs == [] and "no such variable visible" in problems[0].reason


def test_hidden_variable_is_suspected_only_when_named_and_used_like_a_key() -> None:
    def hidden(name: str, level: str = "group", owner_id: int = 10) -> KeyVariable:
        return KeyVariable(level=level, owner="acme", owner_id=owner_id, name=name, hidden=True,  # type: ignore[arg-type]
                           encoding="unknown")

    used = {7: frozenset({"GCP_SA_KEY", "DEPLOY_TOKEN"})}
    out = suspect_hidden([hidden("GCP_SA_KEY"), hidden("DEPLOY_TOKEN"), hidden("GOOGLE_CREDENTIALS")],
                         [PROJECT, OTHER], used)
    assert [v.name for v in out] == ["GCP_SA_KEY"]
    assert out[0].suspected_reason and "acme/platform/api" in out[0].suspected_reason
    # a group variable is not visible to a project outside the group
    assert suspect_hidden([hidden("GCP_SA_KEY", owner_id=99)], [PROJECT], used) == []
    assert out[0].key is None


def test_key_name_heuristic() -> None:
    for name in ("GCP_SA_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "SERVICE_ACCOUNT_JSON", "DEPLOY_SA",
                 "KEY_FILE", "GKE_KEY"):
        assert looks_like_key_name(name), name
    for name in ("DEPLOY_TOKEN", "NPM_TOKEN", "DATABASE_URL", "SASS_VERSION"):
        assert not looks_like_key_name(name), name


def test_key_identity_label_is_stable() -> None:
    assert KeyIdentity("a@b.iam.gserviceaccount.com", "0123456789abcdef").label == "a@b.iam.gserviceaccount.com#01234567"
