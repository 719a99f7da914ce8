"""Google's resource names of a service-account key (pure string rules, shared by the Google adapter
and key retirement): keys live under the service account's own project."""

from __future__ import annotations


def project_of(service_account: str) -> str:
    """`name@PROJECT.iam.gserviceaccount.com` → PROJECT; `-` (any project) otherwise."""
    domain = service_account.split("@", 1)[-1]
    suffix = ".iam.gserviceaccount.com"
    return domain[: -len(suffix)] if domain.endswith(suffix) else "-"


def key_name(service_account: str, key_id: str, project: str | None = None) -> str:
    return f"projects/{project or project_of(service_account)}/serviceAccounts/{service_account}/keys/{key_id}"


def full_resource_name(service_account: str, key_id: str, project: str | None = None) -> str:
    return "//iam.googleapis.com/" + key_name(service_account, key_id, project)
