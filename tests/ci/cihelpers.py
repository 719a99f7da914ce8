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
