"""The real Google Cloud CLI against the Google emulator, and the sandbox runner's gcloud checked
against it.

The emulators and the tool were written together, so a belief both share passes every other
test. Here Google's own client drives the emulator over HTTP (create a provider, add an IAM
binding, disable/enable a key, `create-cred-config` with an emulator-minted ID token,
`auth login --cred-file`, `auth print-access-token`), and for every gcloud command the sandbox
runner interprets (jobscript.py) the same command is run by the real gcloud against the same
emulator: same files written, same success or refusal.

gcloud is pointed at the emulator through a throwaway CLOUDSDK_CONFIG: `api_endpoint_overrides/iam`
and `/iamcredentials`, `auth/token_host`, and `auth/access_token_file` for the admin calls.
`create-cred-config` always writes Google's real STS and IAM Credentials URLs
(googlecloudsdk/command_lib/iam/byoid_utilities/cred_config.py builds them from the universe
domain), so before `auth login` the test points those two URLs at the emulator — which is what the
sandbox runner does too (GoogleEndpoints.remap).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from migrate.sandbox.jobscript import GoogleEndpoints, GoogleSignIn, Shell
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

GCLOUD = shutil.which("gcloud")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI (gcloud) is not installed here")]

NUMBER = "499999999999"
POOL = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab"
PROVIDER = f"{POOL}/providers/gitlab"
AUD = f"https://iam.googleapis.com/{PROVIDER}"
SA = "deployer@acme-prod.iam.gserviceaccount.com"
OTHER = "other@acme-prod.iam.gserviceaccount.com"
ADMIN = "sandbox-google-token"

ORG = {
    "seed": 11,
    "gitlab": {"version": "17.5.0",
               "users": [{"username": "migrator", "token": "t", "admin": True}],
               "groups": [{"path": "acme", "id": 100, "projects": [
                   {"path": "api", "id": 1001, "variables": [
                       {"key": "K1", "sa_key": {"service_account": SA, "key": "k1"}},
                       {"key": "K0", "sa_key": {"service_account": SA, "key": "k0"}}]}]}]},
    "google": {"admin_token": ADMIN, "organization": {"id": "1", "domain": "acme.example"}, "projects": [
        {"project_id": "acme-identity", "number": int(NUMBER),
         "workload_identity_pools": [{"id": "gitlab", "providers": []}]},
        {"project_id": "acme-prod", "number": 411111111111, "service_accounts": [
            {"email": SA, "keys": [{"label": "k1"}, {"label": "k0", "disabled": True}]},
            {"email": OTHER}]}]},
}


@dataclass
class Gcloud:
    config_dir: Path
    sb: Sandbox

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
        env.update(CLOUDSDK_CONFIG=str(self.config_dir), CLOUDSDK_CORE_DISABLE_PROMPTS="1")
        proc = subprocess.run([str(GCLOUD), *args, "--quiet"], capture_output=True, text=True, env=env,
                              timeout=180)
        if check:
            assert proc.returncode == 0, f"gcloud {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc

    def as_admin(self) -> None:
        token = self.config_dir / "admin-token"
        token.write_text(ADMIN, encoding="utf-8")
        self("config", "set", "auth/access_token_file", str(token))

    def signed_out(self) -> None:
        self("config", "unset", "auth/access_token_file")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Gcloud]]:
    with Sandbox(parse_org(ORG)) as sb:
        assert sb.google_url
        gcloud = Gcloud(tmp_path_factory.mktemp("gcloud"), sb)
        g = sb.google_url.rstrip("/")
        for key, value in (("core/disable_usage_reporting", "true"),
                           ("component_manager/disable_update_check", "true"),
                           ("api_endpoint_overrides/iam", g + "/"),
                           ("api_endpoint_overrides/iamcredentials", g + "/"),
                           ("auth/token_host", g + "/token")):
            gcloud("config", "set", key, value)
        gcloud.as_admin()
        yield sb, gcloud


def _policy(sb: Sandbox, sa: str) -> dict[str, Any]:
    r = requests.post(f"{sb.google_url}/v1/projects/acme-prod/serviceAccounts/{sa}:getIamPolicy",
                      headers={"Authorization": f"Bearer {ADMIN}"}, json={}, timeout=10)
    r.raise_for_status()
    return dict(r.json())


def _key_id(sb: Sandbox, label: str) -> str:
    return str(sb.keys.issue(SA, label).key_id)


def _key_file(sb: Sandbox, variable: str) -> str:
    var = next(v for v in sb.gitlab.variables("acme/api") if v.key == variable)
    return str(sb.gitlab.variable_value(var))


# --- the admin path: what apply does, done by gcloud ---------------------------------------------

def test_gcloud_creates_a_provider_and_binding_the_emulator_accepts(world: tuple[Sandbox, Gcloud]) -> None:
    sb, gcloud = world
    gcloud.as_admin()
    gcloud("iam", "workload-identity-pools", "providers", "create-oidc", "gitlab", "--location=global",
           "--workload-identity-pool=gitlab", "--project=acme-identity",
           f"--issuer-uri={sb.gitlab_url.rstrip('/')}", f"--allowed-audiences={AUD}",
           "--attribute-mapping=google.subject=assertion.sub,attribute.project_id=assertion.project_id",
           '--attribute-condition=assertion.namespace_id == "100"')
    got = json.loads(gcloud("iam", "workload-identity-pools", "providers", "describe", "gitlab",
                            "--location=global", "--workload-identity-pool=gitlab", "--project=acme-identity",
                            "--format=json").stdout)
    assert got["name"] == PROVIDER and got["oidc"]["allowedAudiences"] == [AUD]
    assert got["state"] == "ACTIVE" and got["attributeCondition"] == 'assertion.namespace_id == "100"'
    member = f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/1001"
    gcloud("iam", "service-accounts", "add-iam-policy-binding", SA, "--project=acme-prod",
           "--role=roles/iam.workloadIdentityUser", f"--member={member}")
    bindings = _policy(sb, SA)["bindings"]
    assert {"role": "roles/iam.workloadIdentityUser", "members": [member]} in bindings
    # the emulator refuses what Google refuses, and gcloud shows it as an error
    bad = gcloud("iam", "service-accounts", "add-iam-policy-binding", SA, "--project=acme-prod",
                 "--role=roles/iam.workloadIdentityUser",
                 "--member=principalSet://iam.googleapis.com/projects/acme-identity/locations/global/"
                 "workloadIdentityPools/gitlab/attribute.project_id/1", check=False)
    assert bad.returncode != 0 and "project number" in bad.stderr


def test_gcloud_disables_and_enables_a_key(world: tuple[Sandbox, Gcloud]) -> None:
    sb, gcloud = world
    gcloud.as_admin()
    kid = _key_id(sb, "k1")

    def disabled() -> bool:
        keys = json.loads(gcloud("iam", "service-accounts", "keys", "list", f"--iam-account={SA}",
                                 "--project=acme-prod", "--managed-by=user", "--format=json").stdout)
        return bool(next(k for k in keys if k["name"].endswith(kid)).get("disabled", False))

    assert not disabled()
    gcloud("iam", "service-accounts", "keys", "disable", kid, f"--iam-account={SA}", "--project=acme-prod")
    assert disabled()
    gcloud("iam", "service-accounts", "keys", "enable", kid, f"--iam-account={SA}", "--project=acme-prod")
    assert not disabled()


# --- the job path: the sandbox runner's gcloud against the real one ------------------------------

def _shell(sb: Sandbox, files: dict[str, str]) -> tuple[Shell, list[str]]:
    lines: list[str] = []
    env = {"HOME": "/root", "CI_PROJECT_DIR": "/builds/acme/api"}
    assert sb.google_url
    return Shell(env, files, GoogleSignIn(GoogleEndpoints.single(sb.google_url)), "/builds/acme/api",
                 lines.append), lines


CRED_CONFIG_CASES = [
    ["--service-account=" + SA],
    ["--service-account=" + SA, "--credential-source-type=json", "--credential-source-field-name=id_token"],
    ["--service-account=" + SA, "--service-account-token-lifetime-seconds=900"],
    [],  # no impersonation: the federated principal itself
]


@pytest.mark.parametrize("extra", CRED_CONFIG_CASES, ids=["text", "json", "lifetime", "no-sa"])
def test_create_cred_config_writes_what_gcloud_writes(world: tuple[Sandbox, Gcloud], tmp_path: Path,
                                                       extra: list[str]) -> None:
    sb, gcloud = world
    source, out = tmp_path / "token.jwt", tmp_path / "cred.json"
    source.write_text("x", encoding="utf-8")
    argv = ["iam", "workload-identity-pools", "create-cred-config", PROVIDER, *extra,
            f"--credential-source-file={source}", f"--output-file={out}"]
    gcloud(*argv)
    real = json.loads(out.read_text(encoding="utf-8"))
    files: dict[str, str] = {}
    shell, _ = _shell(sb, files)
    assert shell.gcloud(["gcloud", *argv])
    emulated = json.loads(files[str(out)])
    assert emulated == real


def test_create_cred_config_refusals_match(world: tuple[Sandbox, Gcloud], tmp_path: Path) -> None:
    sb, gcloud = world
    for argv in (["iam", "workload-identity-pools", "create-cred-config", PROVIDER,
                  f"--service-account={SA}", f"--credential-source-file={tmp_path / 't'}"],  # no --output-file
                 ["iam", "workload-identity-pools", "create-cred-config",
                  f"--credential-source-file={tmp_path / 't'}", f"--output-file={tmp_path / 'o.json'}"]):
        real = gcloud(*argv, check=False)
        shell, _ = _shell(sb, {})
        assert real.returncode != 0 and not shell.gcloud(["gcloud", *argv]), argv


def _federated_login(sb: Sandbox, gcloud: Gcloud, tmp_path: Path, token: str,
                     sa: str = SA) -> tuple[subprocess.CompletedProcess[str], bool, list[str]]:
    """gcloud: create-cred-config → auth login --cred-file → auth print-access-token (the exchange
    happens at first use); sandbox runner: the same commands through its shell."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    token_file, cred = tmp_path / "id.jwt", tmp_path / "cred.json"
    token_file.write_text(token, encoding="utf-8")
    create = ["iam", "workload-identity-pools", "create-cred-config", PROVIDER, f"--service-account={sa}",
              f"--credential-source-file={token_file}", f"--output-file={cred}"]
    gcloud(*create)
    data = json.loads(cred.read_text(encoding="utf-8"))
    g = str(sb.google_url).rstrip("/")
    data["token_url"] = GoogleEndpoints.single(g).remap(data["token_url"])
    data["service_account_impersonation_url"] = GoogleEndpoints.single(g).remap(
        data["service_account_impersonation_url"])
    cred.write_text(json.dumps(data), encoding="utf-8")
    gcloud.signed_out()
    try:
        gcloud("auth", "login", f"--cred-file={cred}")
        printed = gcloud("auth", "print-access-token", check=False)
    finally:
        gcloud("auth", "revoke", "--all", check=False)
        gcloud.as_admin()
    shell, lines = _shell(sb, {str(token_file): token})
    ok = shell.gcloud(["gcloud", *create]) and shell.gcloud(["gcloud", "auth", "login", f"--cred-file={cred}"])
    return printed, ok, lines


def test_federated_sign_in_real_and_emulated_agree(world: tuple[Sandbox, Gcloud], tmp_path: Path) -> None:
    sb, gcloud = world
    if not _has_provider(sb):  # run alone: create what the admin test creates
        test_gcloud_creates_a_provider_and_binding_the_emulator_accepts(world)
    token = sb.gitlab.mint_id_token("acme/api", ref="main", audience=AUD)
    printed, ok, lines = _federated_login(sb, gcloud, tmp_path / "ok", token)
    assert printed.returncode == 0 and ok, (printed.stderr, lines)
    info = requests.get(f"{sb.google_url}/tokeninfo", params={"access_token": printed.stdout.strip()},
                        timeout=10).json()
    assert info["email"] == SA
    # no binding on OTHER: Google refuses the impersonation, for gcloud and for the sandbox runner
    printed, ok, lines = _federated_login(sb, gcloud, tmp_path / "nb", token, sa=OTHER)
    assert printed.returncode != 0 and not ok
    assert "iam.serviceAccounts.getAccessToken" in printed.stderr and any(
        "getAccessToken" in line for line in lines)
    # a token for another audience: STS refuses both
    wrong = sb.gitlab.mint_id_token("acme/api", ref="main", audience=sb.gitlab_url.rstrip("/"))
    printed, ok, lines = _federated_login(sb, gcloud, tmp_path / "aud", wrong)
    assert printed.returncode != 0 and not ok


def _has_provider(sb: Sandbox) -> bool:
    r = requests.get(f"{sb.google_url}/v1/{PROVIDER}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    return r.status_code == 200


@pytest.mark.parametrize("label,works", [("k1", True), ("k0", False)])
def test_key_sign_in_real_and_emulated_agree(world: tuple[Sandbox, Gcloud], tmp_path: Path, label: str,
                                             works: bool) -> None:
    sb, gcloud = world
    key = tmp_path / "key.json"
    key.write_text(_key_file(sb, "K1" if label == "k1" else "K0"), encoding="utf-8")
    gcloud.signed_out()
    try:
        activated = gcloud("auth", "activate-service-account", f"--key-file={key}", check=False)
        printed = gcloud("auth", "print-access-token", check=False) if activated.returncode == 0 else activated
    finally:
        gcloud("auth", "revoke", "--all", check=False)
        gcloud.as_admin()
    shell, lines = _shell(sb, {str(key): key.read_text(encoding="utf-8")})
    emulated = shell.gcloud(["gcloud", "auth", "activate-service-account", f"--key-file={key}"])
    assert (printed.returncode == 0) is works, printed.stderr
    assert emulated is works, lines
    if not works:
        assert "invalid_grant" in printed.stderr or "Invalid JWT Signature" in printed.stderr


def test_create_cred_config_bad_format_writes_no_file_in_either(world: tuple[Sandbox, Gcloud],
                                                                tmp_path: Path) -> None:
    sb, gcloud = world
    out = tmp_path / "cred.json"
    argv = ["iam", "workload-identity-pools", "create-cred-config", PROVIDER, f"--service-account={SA}",
            "--credential-source-type=json", f"--credential-source-file={tmp_path / 't'}", f"--output-file={out}"]
    real = gcloud(*argv, check=False)
    files: dict[str, str] = {}
    shell, _ = _shell(sb, files)
    emulated = shell.gcloud(["gcloud", *argv])
    assert not out.exists() and str(out) not in files
    assert (real.returncode == 0) is emulated


# --- the token exchange without gcloud (docker login in an image with curl or wget) ---------------

def _exchange_in_shell(sb: Sandbox, tmp_path: Path, client: str, token: str, sa: str = SA,
                       provider: str = PROVIDER) -> subprocess.CompletedProcess[str]:
    """Run the emitted exchange (migrate.ci.emit.sts_exchange) in a POSIX shell (dash) whose PATH
    holds only `sed` and one HTTP client, the Google URLs pointed at the emulator as the sandbox
    runner does; print the access token it leaves in $GCP_ACCESS_TOKEN."""
    from migrate.ci import emit

    dash, tool, sed = shutil.which("dash") or shutil.which("sh"), shutil.which(client), shutil.which("sed")
    if dash is None or tool is None or sed is None:
        pytest.skip(f"needs a POSIX shell, sed and {client}")
    bin_dir = tmp_path / client
    bin_dir.mkdir(parents=True)
    for program in (tool, sed):
        (bin_dir / Path(program).name).symlink_to(program)
    assert sb.google_url
    endpoints = GoogleEndpoints.single(sb.google_url)
    lines = [re.sub(r"https://(?:sts|iamcredentials)\.googleapis\.com[^\s;\"']*",
                    lambda m: endpoints.remap(m.group(0)), line)
             for line in emit.sts_exchange(provider, sa, "GCP_ID_TOKEN")]
    script = "\n".join(["set -e", *lines, 'printf \'%s\' "${GCP_ACCESS_TOKEN}"'])
    return subprocess.run([dash, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir), "GCP_ID_TOKEN": token})


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_sts_exchange_without_gcloud_mints_a_token_for_the_account(world: tuple[Sandbox, Gcloud], tmp_path: Path,
                                                                   client: str) -> None:
    sb, _ = world
    if not _has_provider(sb):
        test_gcloud_creates_a_provider_and_binding_the_emulator_accepts(world)
    token = sb.gitlab.mint_id_token("acme/api", ref="main", audience=AUD)
    done = _exchange_in_shell(sb, tmp_path, client, token)
    assert done.returncode == 0 and done.stdout, done.stderr
    info = requests.get(f"{sb.google_url}/tokeninfo", params={"access_token": done.stdout}, timeout=10).json()
    assert info["email"] == SA
    # no binding on OTHER: the impersonation is refused and the job gets no token
    refused = _exchange_in_shell(sb, tmp_path / "other", client, token, sa=OTHER)
    assert not refused.stdout
    # a token for another audience: STS refuses it
    wrong = sb.gitlab.mint_id_token("acme/api", ref="main", audience=sb.gitlab_url.rstrip("/"))
    assert not _exchange_in_shell(sb, tmp_path / "aud", client, wrong).stdout
