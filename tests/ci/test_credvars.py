"""The credential-variable catalogue (issue 21 item 4): one test per entry, generated from the data.

For every tool's own credential variable or flag in `migrate/ci/credvars.yaml`: a key handed to it
is *found* (in a script `export`, in job-level, template-level and top-level `variables:`), and
the file is rewritten to point the variable at the credential configuration where the tool
accepts `external_account`, otherwise sent to manual review with a reason naming the tool. A
look-alike name that is not catalogued is not flagged (detection stays precise).
"""

from __future__ import annotations

import json

import pytest
from helpers.ci import PROVIDER, SA, dedent, run

from migrate.ci import analyze, credvars

ENTRIES = credvars.catalogue()
VARIABLES = [entry for entry in ENTRIES if entry.kind == "variable"]
FLAGS = [entry for entry in ENTRIES if entry.kind == "flag"]


def ids(entry: credvars.CredentialVariable) -> str:
    return entry.name


def script_export(name: str) -> str:
    """A key decoded to a file and handed to the tool through its variable (the tool runs later)."""
    return dedent(f"""
        build:
          image: acme/builder:1.0
          script:
            - echo "$TOOL_SA_KEY" | base64 -d > /tmp/tool-key.json
            - export {name}=/tmp/tool-key.json
            - make release
        """)


def template_variables(name: str) -> str:
    """The variable set from a (file-type) key variable in a shared template's `variables:`."""
    return dedent(f"""
        .tool-auth:
          variables:
            {name}: "${{TOOL_KEY_FILE}}"

        build:
          extends: .tool-auth
          image: acme/builder:1.0
          script:
            - make release
        """)


def top_level_variables(name: str) -> str:
    return dedent(f"""
        variables:
          {name}: $TOOL_KEY_FILE

        build:
          image: acme/builder:1.0
          script:
            - make release
        """)


def job_variables(name: str) -> str:
    return dedent(f"""
        build:
          image: acme/builder:1.0
          variables:
            {name}:
              value: ${{TOOL_KEY_FILE}}
              description: key for the tool
          script:
            - make release
        """)


def test_catalogue_entries_have_sources_and_an_answer() -> None:
    assert {entry.name for entry in ENTRIES} >= {
        "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON",
        "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE", "SCCACHE_GCS_KEY_PATH"}
    for entry in ENTRIES:
        assert entry.source.split()[0].startswith("https://"), entry.name
        assert entry.external_account in ("yes", "no", "unknown")
        assert entry.external_account_source, entry.name


def test_catalogue_parser_refuses_an_entry_without_its_sources() -> None:
    good = {"name": "X_KEY", "kind": "variable", "tool": "x", "takes": "path", "source": "https://x",
            "external_account": "no", "external_account_source": "https://x", "note": ""}
    assert credvars.parse(json.dumps({"entries": [good]}))[0].name == "X_KEY"
    for broken in ({**good, "source": ""}, {**good, "external_account": "maybe"},
                   {k: v for k, v in good.items() if k != "note"}):
        with pytest.raises(credvars.CatalogueError):
            credvars.parse(json.dumps({"entries": [broken]}))
    with pytest.raises(credvars.CatalogueError):
        credvars.parse(json.dumps({"entries": [good, good]}))


@pytest.mark.parametrize("entry", VARIABLES, ids=ids)
def test_key_exported_to_a_catalogued_variable_is_found_and_rewritten_or_manual(
        entry: credvars.CredentialVariable) -> None:
    text = script_export(entry.name)
    analysis = analyze(text)
    assert "TOOL_SA_KEY" in analysis.key_variables, entry.name
    assert any(f.kind == "key-to-file" and f.variable == "TOOL_SA_KEY" for f in analysis.findings)
    result = run(text)
    if entry.rewritable:
        assert result.status == "rewritten", result.reasons
        assert result.text is not None and "$TOOL_SA_KEY" not in result.text
        # the file the variable names now holds the credential configuration (same path)
        assert f"export {entry.name}=/tmp/tool-key.json" in result.text
        assert '"type":"external_account"' in result.text and f"serviceAccounts/{SA}" in result.text
        assert f"aud: https://iam.googleapis.com/{PROVIDER}" in result.text
    else:
        assert result.status == "manual"
        reason = "\n".join(result.reasons)
        assert entry.tool in reason and entry.name in reason, reason


@pytest.mark.parametrize("builder", [template_variables, top_level_variables, job_variables],
                         ids=["template", "top-level", "job-level"])
@pytest.mark.parametrize("entry", VARIABLES, ids=ids)
def test_key_variable_in_a_catalogued_yaml_variable_is_found(entry: credvars.CredentialVariable,
                                                            builder: object) -> None:
    text = builder(entry.name)  # type: ignore[operator]
    analysis = analyze(text)
    assert "TOOL_KEY_FILE" in analysis.key_variables, (entry.name, analysis)
    assert any(f.variable == "TOOL_KEY_FILE" for f in analysis.findings)
    result = run(text)
    if not entry.rewritable:
        reason = "\n".join(result.reasons)
        assert result.status == "manual" and entry.name in reason and entry.tool in reason, reason
        return
    # the variable now names the job's credential configuration, written first thing in its script
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and "TOOL_KEY_FILE" not in result.text
    assert f'{entry.name}: "${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}.json"' in result.text or \
        'value: "${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"' in result.text, result.text
    lines = result.text.splitlines()
    first = lines.index("    - make release") - 2
    assert lines[first].startswith('    - echo "${GCP_ID_TOKEN}" > ') and '"type":"external_account"' in lines[first + 1]
    assert f"serviceAccounts/{SA}:generateAccessToken" in lines[first + 1]
    assert analyze(result.text).findings == ()  # nothing reads the key any more


def test_a_yaml_credential_variable_per_environment_chooses_the_account_by_environment() -> None:
    """Two jobs receive the variable from one template with keys of different accounts (an
    environment-scoped key): one inserted text picks the account from $CI_ENVIRONMENT_NAME. The
    check can fail: with an environment set at run time no account can be chosen: manual."""
    text = dedent("""
        .tool-auth:
          variables:
            SCCACHE_GCS_KEY_PATH: $TOOL_KEY_FILE
          script:
            - make release

        build:staging:
          extends: .tool-auth
          environment: staging

        build:production:
          extends: .tool-auth
          environment: production
        """)
    accounts = {"build:staging": {"TOOL_KEY_FILE": "st@p.iam.gserviceaccount.com"},
                "build:production": {"TOOL_KEY_FILE": "pr@p.iam.gserviceaccount.com"}}
    result = run(text, job_service_accounts=accounts)
    assert result.status == "rewritten", result.reasons
    assert result.text is not None and '"production") GCP_WIF_SERVICE_ACCOUNT=pr@p.iam.gserviceaccount.com;;' in result.text
    assert '"staging") GCP_WIF_SERVICE_ACCOUNT=st@p.iam.gserviceaccount.com;;' in result.text
    dynamic = run(text.replace("environment: production", "environment: $DEPLOY_TARGET"),
                  job_service_accounts=accounts)
    assert dynamic.status == "manual", dynamic.diff
    assert any("SCCACHE_GCS_KEY_PATH" in reason for reason in dynamic.reasons), dynamic.reasons


@pytest.mark.parametrize("entry", FLAGS, ids=ids)
def test_key_passed_through_a_catalogued_flag_is_found_and_manual(entry: credvars.CredentialVariable) -> None:
    for form in (f"{entry.name}=/tmp/cache-key.json", f"{entry.name} /tmp/cache-key.json"):
        text = dedent(f"""
            build:
              image: gcr.io/bazel-public/bazel:7.0.0
              script:
                - echo "$CACHE_SA_KEY" > /tmp/cache-key.json
                - bazel build --remote_cache=https://storage.googleapis.com/acme-cache {form} //...
            """)
        analysis = analyze(text)
        assert "CACHE_SA_KEY" in analysis.key_variables, form
        assert any(f.kind == "tool-credential-flag" for f in analysis.findings), analysis.findings
        result = run(text)
        assert not entry.rewritable and result.status == "manual"
        assert entry.tool in "\n".join(result.reasons) and entry.name in "\n".join(result.reasons)
    # a file-type variable given straight to the flag is a key variable too
    direct = analyze("build:\n  script:\n    - bazel test " + entry.name + "=$CACHE_KEY_FILE //...\n")
    assert "CACHE_KEY_FILE" in direct.key_variables


@pytest.mark.parametrize("entry", ENTRIES, ids=ids)
def test_a_look_alike_name_that_is_not_catalogued_is_not_flagged(entry: credvars.CredentialVariable) -> None:
    """The check can fail: the same files with an uncatalogued name find nothing (no guessing)."""
    look_alike = entry.name.replace("_", "-").upper() + "_X" if entry.kind == "variable" else "--remote_header"
    if entry.kind == "variable":
        texts = [script_export(look_alike.replace("-", "_")), template_variables(look_alike.replace("-", "_"))]
    else:
        texts = ["build:\n  script:\n    - echo \"$CACHE_SA_KEY\" > /tmp/k.json\n"
                 f"    - bazel build {look_alike}=/tmp/k.json //...\n"]
    for text in texts:
        assert analyze(text).findings == (), text


def test_docs_show_the_catalogue_as_it_is() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "credential-variables.md").read_text(encoding="utf-8")
    assert credvars.markdown_table() in doc, "docs/credential-variables.md is out of date: regenerate the table"


def test_a_yaml_variable_naming_the_key_file_of_a_tool_without_external_account_is_manual() -> None:
    """`GCP_SERVICE_ACCOUNT_FILE: /tmp/k.json` in `variables:` while the script writes the key there:
    the tool (Ansible) would read the credential configuration and fail, so manual, naming it."""
    entry = next(e for e in VARIABLES if not e.rewritable)
    text = dedent(f"""
        provision:
          image: acme/builder:1.0
          variables:
            {entry.name}: /tmp/tool-key.json
          script:
            - echo "$TOOL_SA_KEY" | base64 -d > /tmp/tool-key.json
            - make release
        """)
    assert "TOOL_SA_KEY" in analyze(text).key_variables
    result = run(text)
    assert result.status == "manual" and any(entry.tool in r and "line 4" in r for r in result.reasons), result.reasons
