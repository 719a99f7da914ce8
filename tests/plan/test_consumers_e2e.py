"""Issue 15 §3 end to end: every job that copies a template's authentication is found, in any file
of any consumer, and the template is rewritten only when the ID token reaches each of them.

The sandbox org below (real python-gitlab over HTTP; `scan` then `plan` through the CLI with the
real CI rewriter) has one template file per case in acme/templates, each with a hidden `.gcp-auth`
job that signs in with the group's key, and one consumer project per case:

- `extends.yml`  ← acme/extends: `deploy: extends: .gcp-auth` — the token reaches it: rewritten;
- `hidden.yml`   ← acme/hidden: through an intermediate hidden job (`.base: extends: .gcp-auth`,
  `deploy: extends: .base`): rewritten;
- `hidden-vault.yml` ← acme/hidden-vault: the intermediate job's `id_tokens: !reference [...]`
  replaces the merged hash (GitLab resolves extends before !reference): the consumer's merge
  request adds the token to the referenced hash first;
- `local-ref.yml` ← acme/local-ref: the job that copies `!reference [.gcp-auth, before_script]`
  lives in the consumer's *local include* `ci/deploy.yml`: a consumer merge request gives it the
  token there, and the template's merge request waits for it (issue 21);
- `default-vault.yml` ← acme/default-vault: the consumer's `default: id_tokens` would be replaced
  by the template job's own `id_tokens` (the job would lose its Vault token): manual;
- `nested.yml` ← acme/nested through acme/lib's `lib.yml` (a project include including the
  template), whose `.ship` copies the script with `!reference`: acme/nested's `deploy` (extending
  `.ship`) gets the token in a consumer merge request;
- `unread.yml` ← acme/unread, whose local include `ci/extra.yml` cannot be read when planning
  (403): manual with the reason, never rewritten silently.

On main before this change only other projects' root CI files were searched for `!reference`, so
the local-include, nested, hidden-vault, default-vault and unreadable cases were all "rewritten".
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers.sandbox_org import ONE_KEY_ACCOUNT, one_key_org

from migrate.cli.verbs import main
from migrate.plan import plan_io
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

SA = ONE_KEY_ACCOUNT
TEMPLATE = """.gcp-auth:
  image: google/cloud-sdk:467.0.0-slim
  before_script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
"""
VAULT = ".vault:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.acme.example\n"


def inc(file: str) -> str:
    return f"include:\n  - project: acme/templates\n    file: {file}\n"


CASES: dict[str, dict[str, str]] = {
    "extends": {".gitlab-ci.yml": inc("extends.yml") + "deploy:\n  extends: .gcp-auth\n  script: [gcloud storage ls]\n"},
    "hidden": {".gitlab-ci.yml": inc("hidden.yml") + ".base:\n  extends: .gcp-auth\n  variables: {REGION: eu}\n"
               "deploy:\n  extends: .base\n  script: [gcloud storage ls]\n"},
    "hidden-vault": {".gitlab-ci.yml": inc("hidden-vault.yml") + VAULT
                     + ".base:\n  extends: .gcp-auth\n  id_tokens: !reference [.vault, id_tokens]\n"
                     "deploy:\n  extends: .base\n  script: [gcloud storage ls]\n"},
    "local-ref": {".gitlab-ci.yml": inc("local-ref.yml") + "  - local: ci/deploy.yml\n"
                  "lint:\n  script: [make lint]\n",
                  "ci/deploy.yml": "ship:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
                  "    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n"},
    "default-vault": {".gitlab-ci.yml": inc("default-vault.yml")
                      + "default:\n  id_tokens:\n    VAULT_ID_TOKEN:\n      aud: https://vault.acme.example\n"
                      "deploy:\n  extends: .gcp-auth\n  script: [vault read secret/x, gcloud storage ls]\n"},
    "nested": {".gitlab-ci.yml": "include:\n  - project: acme/lib\n    file: lib.yml\n"
               "deploy:\n  extends: .ship\n  script: [gcloud storage ls]\n"},
    # not a template consumer: its own root file's keyed job extends `.base` from a local include
    "own-include": {".gitlab-ci.yml": "include:\n  - local: ci/base.yml\ndeploy:\n  extends: .base\n  script:\n"
                    "    - gcloud auth activate-service-account --key-file \"$GCP_SA_KEY\"\n"
                    "    - gcloud storage ls\n",
                    "ci/base.yml": ".base:\n  image: google/cloud-sdk:467.0.0-slim\n  variables: {REGION: eu}\n"},
    "unread": {".gitlab-ci.yml": inc("unread.yml") + "  - local: ci/extra.yml\n"
               "deploy:\n  extends: .gcp-auth\n  script: [gcloud storage ls]\n",
               "ci/extra.yml": "lint:\n  script: [make lint]\n"},
}
TEMPLATES = {f"{name}.yml": TEMPLATE for name in CASES if name not in ("nested", "own-include")} | \
    {"nested.yml": TEMPLATE}
LIB = inc("nested.yml") + ".ship:\n  image: google/cloud-sdk:467.0.0-slim\n  before_script:\n" \
    "    - !reference [.gcp-auth, before_script]\n"


def org() -> Any:
    projects = [{"path": "templates", "id": 1001, "files": TEMPLATES},
                {"path": "lib", "id": 1002, "files": {"lib.yml": LIB}}]
    projects += [{"path": name, "id": 1010 + i, "files": files} for i, (name, files) in enumerate(CASES.items())]
    return parse_org(one_key_org(projects, 15), "consumers org")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ...]]:
    tmp = tmp_path_factory.mktemp("consumers")
    saved = dict(os.environ)
    try:
        with Sandbox(org()) as sb:
            os.environ.update(sb.env())
            config = tmp / "c.yaml"
            config.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state")), sort_keys=False),
                              encoding="utf-8")
            inv, plan = tmp / "inventory.json", tmp / "plan.json"
            assert main(["scan", "-o", str(inv), "--progress", "never", "--config", str(config)]) == 1
            # acme/unread's local include becomes unreadable after the scan, when the plan reads it
            # (the plan reads it from GitLab: the text the scan kept is not in the state any more)
            blobs = json.loads(inv.read_text(encoding="utf-8"))["file_blobs"]
            kept = [b["sha256"] for b in blobs if (b["project"], b["path"]) == ("acme/unread", "ci/extra.yml")]
            assert kept, "the scan kept the file's text"
            with sqlite3.connect(tmp / "state" / "state.db") as db:
                db.execute("DELETE FROM texts WHERE sha256 = ?", (kept[0],))
            sb.gitlab.add_fault(Fault("GET", r"/projects/(acme%2Funread|10\d\d)/repository/files/ci%2Fextra\.yml",
                                      403, count=-1))
            assert main(["plan", "--inventory", str(inv), "-o", str(plan), "--no-diff", "--config",
                         str(config)]) == 0
            yield plan_io.read(plan), inv.read_text(encoding="utf-8"), sb, config, plan
    finally:
        os.environ.clear()
        os.environ.update(saved)


def mr(plan: Any, file: str) -> Any:
    return next((a for a in plan.actions if a.id == f"merge_request:acme/templates:{file}"), None)


def manual(plan: Any, file: str) -> str:
    return " | ".join(m.reason for m in plan.manual if m.subject == f"file:acme/templates:{file}")


def test_a_consumer_that_extends_the_template_job_gets_the_token(planned: tuple[Any, ...]) -> None:
    plan = planned[0]
    action = mr(plan, "extends.yml")
    assert action is not None, manual(plan, "extends.yml")
    checked = action.params.consumer_check
    assert checked is not None and [p.consumer for p in checked.pipelines] == ["acme/extends"]
    assert "GCP_ID_TOKEN" in action.params.new_content


def test_a_consumer_through_an_intermediate_hidden_job_gets_the_token(planned: tuple[Any, ...]) -> None:
    plan = planned[0]
    assert mr(plan, "hidden.yml") is not None, manual(plan, "hidden.yml")


def test_an_intermediate_job_whose_id_tokens_are_a_reference_gets_the_token_in_the_referenced_hash(
        planned: tuple[Any, ...]) -> None:
    """`.base: id_tokens: !reference [.vault, id_tokens]` replaces the hash `.gcp-auth` would merge
    (GitLab resolves extends before !reference), so the template's token does not reach `deploy`;
    the consumer's merge request adds it to the referenced `.vault` hash (the Vault token kept), and
    the template's waits for it."""
    plan = planned[0]
    template = mr(plan, "hidden-vault.yml")
    consumer = consumer_mr(plan, "acme/hidden-vault", "hidden-vault.yml")
    assert template is not None and consumer is not None, manual(plan, "hidden-vault.yml")
    before = CASES["hidden-vault"][".gitlab-ci.yml"]
    assert consumer.params.new_content == before.replace(
        ".vault:\n  id_tokens:\n", f".vault:\n  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUDIENCE}\n", 1)
    assert template.params.after_merged == (consumer.id,)


AUDIENCE = ("https://iam.googleapis.com/projects/499999999999/locations/global/workloadIdentityPools/gitlab/"
            "providers/gitlab")
TOKEN = f"  id_tokens:\n    GCP_ID_TOKEN:\n      aud: {AUDIENCE}\n"


def consumer_mr(plan: Any, consumer: str, file: str) -> Any:
    return next((a for a in plan.actions
                 if a.id == f"merge_request:{consumer}:id_tokens_for:acme/templates:{file}"), None)


def test_a_reference_copy_in_a_consumers_local_include_gets_the_token_there_first(planned: tuple[Any, ...]) -> None:
    """Issue 21 / issue 15 §3: the job copying `!reference [.gcp-auth, before_script]` lives in the
    consumer's local include `ci/deploy.yml`; the consumer's merge request gives it the token there
    (literal before/after), and the template's merge request waits for it to be merged."""
    plan = planned[0]
    template, consumer = mr(plan, "local-ref.yml"), consumer_mr(plan, "acme/local-ref", "local-ref.yml")
    assert template is not None and consumer is not None, manual(plan, "local-ref.yml")
    before = CASES["local-ref"]["ci/deploy.yml"]
    assert consumer.params.file_path == "ci/deploy.yml"
    assert consumer.params.new_content == before.replace("ship:\n", "ship:\n" + TOKEN, 1)
    assert consumer.params.jobs == ("ship",) and consumer.params.keys == ()
    assert template.params.after_merged == (consumer.id,) and consumer.id in template.depends_on
    ids = [a.id for a in plan.actions]
    assert ids.index(consumer.id) < ids.index(template.id)
    retire = next(a for a in plan.actions if a.kind == "disable_key")
    assert {consumer.id, template.id} <= set(retire.depends_on)


def test_a_reference_copy_through_a_nested_project_include_gets_the_token_in_the_consumer(
        planned: tuple[Any, ...]) -> None:
    """acme/lib's `.ship` copies the template's script; acme/nested's `deploy` extends `.ship`:
    the consumer's own job gets the token (extends merges it), never the other project's file."""
    plan = planned[0]
    template, consumer = mr(plan, "nested.yml"), consumer_mr(plan, "acme/nested", "nested.yml")
    assert template is not None and consumer is not None, manual(plan, "nested.yml")
    assert consumer.params.file_path == ".gitlab-ci.yml"
    before = CASES["nested"][".gitlab-ci.yml"]
    assert consumer.params.new_content == before.replace("deploy:\n", "deploy:\n" + TOKEN, 1)
    assert not any(a.params.project == "acme/lib" for a in plan.actions if a.kind == "merge_request")


def test_a_consumer_losing_its_default_id_tokens_is_manual(planned: tuple[Any, ...]) -> None:
    plan = planned[0]
    assert mr(plan, "default-vault.yml") is None
    assert ("consumer acme/default-vault, file .gitlab-ci.yml, job deploy: ID token(s) VAULT_ID_TOKEN lost or "
            "changed") in manual(plan, "default-vault.yml")


def test_an_unreadable_consumer_file_is_manual_with_the_reason(planned: tuple[Any, ...]) -> None:
    plan = planned[0]
    assert mr(plan, "unread.yml") is None
    reason = manual(plan, "unread.yml")
    assert "consumer acme/unread: file ci/extra.yml could not be read (" in reason, reason
    assert "403" in reason


def test_scan_records_each_files_includes(planned: tuple[Any, ...]) -> None:
    import json
    inventory = json.loads(planned[1])
    nested = next(p for p in inventory["projects"] if p["path"] == "acme/nested")
    files = {(f["project"], f["path"]): f for f in nested["ci_files"]}
    assert files[("acme/nested", ".gitlab-ci.yml")]["includes"] == [["acme/lib", "lib.yml", "main"]]
    assert files[("acme/lib", "lib.yml")]["includes"] == [["acme/templates", "nested.yml", "main"]]


def test_apply_rechecks_the_consumers_with_the_live_files(planned: tuple[Any, ...],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The same decision, recomputed live: after the plan, acme/extends changes its job to copy the
    template's script with `!reference`; apply re-reads the consumer's file and refuses the
    template's merge request (the other template's MR still goes ahead)."""
    import json

    import gitlab

    _plan, _inv, sb, config, plan_path = planned

    def dry_run() -> dict[str, Any]:
        capsys.readouterr()
        main(["apply", str(plan_path), "--dry-run", "--format", "json", "-c", str(config), "--only", "merge_request"])
        return {r["action_id"]: r for r in json.loads(capsys.readouterr().out)["results"]}

    extends, hidden = "merge_request:acme/templates:extends.yml", "merge_request:acme/templates:hidden.yml"
    rows = dry_run()
    assert rows[extends]["outcome"] == "would_apply", rows[extends]
    # the recomputed rewrite of a file that needs its includes gets them, read live
    own = rows["merge_request:acme/own-include:.gitlab-ci.yml"]
    assert own["outcome"] == "would_apply", own
    project = gitlab.Gitlab(sb.gitlab_url, private_token="t-migrator").projects.get("acme/extends")
    project.commits.create({"branch": "main", "commit_message": "copy the auth", "actions": [{
        "action": "update", "file_path": ".gitlab-ci.yml",
        "content": inc("extends.yml") + "deploy:\n  image: google/cloud-sdk:467.0.0-slim\n  script:\n"
                   "    - !reference [.gcp-auth, before_script]\n    - gcloud storage ls\n"}]})
    rows = dry_run()
    assert rows[extends]["outcome"] == "refused", rows[extends]
    assert ("consumer acme/extends, file .gitlab-ci.yml, job deploy: no ID token with the provider audience "
            "reaches the job") in rows[extends]["detail"]
    assert rows[hidden]["outcome"] == "would_apply", rows[hidden]


def test_a_file_is_rewritten_with_the_files_it_includes(planned: tuple[Any, ...]) -> None:
    """`RewriteOptions.included` filled: acme/own-include's keyed job extends `.base` from its local
    include, so its own self-check needs that file (without it: "cannot be proven", manual)."""
    plan = planned[0]
    action = next((a for a in plan.actions if a.id == "merge_request:acme/own-include:.gitlab-ci.yml"), None)
    assert action is not None, [m.reason for m in plan.manual if "own-include" in m.subject]
    assert action.params.rewrite_options.included == (("acme/own-include", "ci/base.yml", "main"),)
    assert "GCP_ID_TOKEN" in action.params.new_content


def test_a_plan_whose_consumer_check_was_edited_is_refused(planned: tuple[Any, ...], tmp_path: Any,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Apply reruns the consumer check on what the MR action names; dropping a pipeline from it
    (so the live recheck would skip it) is refused: the check's inputs are recomputed from the
    journaled scan."""
    import json

    _plan, _inv, _sb, config, plan_path = planned
    data = json.loads(plan_path.read_text(encoding="utf-8"))
    action = next(a for a in data["actions"] if a["id"] == "merge_request:acme/templates:hidden.yml")
    assert action["params"]["consumer_check"]["pipelines"]
    action["params"]["consumer_check"]["pipelines"] = []
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data), encoding="utf-8")
    capsys.readouterr()
    main(["apply", str(forged), "--dry-run", "--format", "json", "-c", str(config), "--only", "merge_request"])
    rows = {r["action_id"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    row = rows["merge_request:acme/templates:hidden.yml"]
    assert row["outcome"] == "refused" and "consumer check" in row["detail"], row
    assert rows["merge_request:acme/own-include:.gitlab-ci.yml"]["outcome"] == "would_apply"
