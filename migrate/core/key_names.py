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


def parts_of(name: str) -> tuple[str, str]:
    """(service account, key id) of a resource name that holds them (`key_name`, with or without
    the `//iam.googleapis.com/` prefix; a service account's own name gives no key id), else ("", "")."""
    parts = name.split("/")
    if "serviceAccounts" not in parts:
        return "", ""
    at = parts.index("serviceAccounts")
    sa = parts[at + 1] if at + 1 < len(parts) else ""
    kid = parts[at + 3] if at + 3 < len(parts) and parts[at + 2] == "keys" and _hex(parts[at + 3]) else ""
    return sa, kid


def _hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def full_resource_name(service_account: str, key_id: str, project: str | None = None) -> str:
    return "//iam.googleapis.com/" + key_name(service_account, key_id, project)
