"""Shared constants and builders for the CI layer tests (literal text, no corpus files)."""

from __future__ import annotations

import textwrap

from migrate.ci import RewriteOptions, RewriteResult, rewrite

PROVIDER = "projects/123/locations/global/workloadIdentityPools/ci-pool/providers/gitlab-prov"
SA = "deploy@proj.iam.gserviceaccount.com"
AUD = f"https://iam.googleapis.com/{PROVIDER}"
CREATE = (f"gcloud iam workload-identity-pools create-cred-config {PROVIDER} "
          f"--service-account={SA}")


def cred_json(email: str = SA) -> str:
    """The credential configuration gcloud's create-cred-config writes, with the token file as %s."""
    return (
        '{"universe_domain":"googleapis.com","type":"external_account",'
        f'"audience":"//iam.googleapis.com/{PROVIDER}",'
        '"subject_token_type":"urn:ietf:params:oauth:token-type:jwt",'
        '"token_url":"https://sts.googleapis.com/v1/token",'
        f'"service_account_impersonation_url":"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken",'
        '"credential_source":{"file":"%s","format":{"type":"text"}}}'
    )


def printf(token: str, out: str, email: str = SA) -> str:
    return f"printf '{cred_json(email)}' {token} > {out}"


def token_block(indent: str = "  ") -> str:
    return f"{indent}id_tokens:\n{indent}  GCP_ID_TOKEN:\n{indent}    aud: {AUD}\n"


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def run(text: str, **options: object) -> RewriteResult:
    settings: dict[str, object] = {"provider": PROVIDER, "service_account": SA}
    settings.update(options)
    return rewrite(text, RewriteOptions(**settings))  # type: ignore[arg-type]


def sts_lines(email: str = SA, token: str = "GCP_ID_TOKEN") -> list[str]:
    """The token exchange without gcloud, as a reviewer reads it (literal text, not the emitter's)."""
    iam = f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
    scope = '\'{"scope":["https://www.googleapis.com/auth/cloud-platform"]}\''
    return [
        'GCP_STS_REQUEST="$(printf \'{"audience":"//iam.googleapis.com/' + PROVIDER + '",'
        '"grantType":"urn:ietf:params:oauth:grant-type:token-exchange",'
        '"requestedTokenType":"urn:ietf:params:oauth:token-type:access_token",'
        '"scope":"https://www.googleapis.com/auth/cloud-platform",'
        '"subjectTokenType":"urn:ietf:params:oauth:token-type:jwt","subjectToken":"%s"}\' "${' + token + '}")"',
        'GCP_STS_TOKEN="$(if command -v curl > /dev/null; then curl -sSf -H \'Content-Type: application/json\' '
        '-d "${GCP_STS_REQUEST}" https://sts.googleapis.com/v1/token; else wget -qO- --header '
        '\'Content-Type: application/json\' --post-data "${GCP_STS_REQUEST}" https://sts.googleapis.com/v1/token; '
        'fi | sed -n \'s/.*"access_token": *"\\([^"]*\\)".*/\\1/p\')"',
        'GCP_ACCESS_TOKEN="$(if command -v curl > /dev/null; then curl -sSf -H \'Content-Type: application/json\' '
        f'-H "Authorization: Bearer ${{GCP_STS_TOKEN}}" -d {scope} {iam}; else wget -qO- --header '
        f'\'Content-Type: application/json\' --header "Authorization: Bearer ${{GCP_STS_TOKEN}}" --post-data {scope} '
        f'{iam}; fi | sed -n \'s/.*"accessToken": *"\\([^"]*\\)".*/\\1/p\')"',
    ]


def yaml_item(command: str) -> str:
    """A command as the rewriter writes it into a `- ` item (single-quoted when YAML needs it)."""
    if ": " in command or " #" in command:
        return "'" + command.replace("'", "''") + "'"
    return command
