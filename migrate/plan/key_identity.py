"""Is a key variable's key what it claims to be? The gate a key passes before it earns a binding.

Anyone who can add a CI/CD variable to an in-scope project can paste a file that *names* a real
service account and key id. Binding that project on the account would hand it the account: the
file's claims are not evidence. A key variable earns a binding only when Google says, at scan
time (`migrate.google.key_facts`):

  - the service account exists and is enabled;
  - the key id exists, is enabled and is USER_MANAGED;
  - the file's private key matches the public X.509 certificate Google serves for that key id
    (`keys.get?publicKeyType=TYPE_X509_PEM_FILE`, compared offline — never by signing in, which
    would refresh the key's last-use evidence).

Anything else — unknown facts included — is an ERROR row for that variable with the reason, and no
binding. Pure: the facts come from the plan's inputs (`key_inputs`), so apply re-derives the same
answer from the same journaled facts.
"""

from __future__ import annotations

from collections.abc import Iterable

from migrate.core.model import KeyFactRow, KeyFacts, KeyIdentity


def key_inputs(facts: Iterable[KeyFacts]) -> tuple[KeyFactRow, ...]:
    """The facts the gate needs, for the plan's inputs (sorted, so digests are stable)."""
    rows = [KeyFactRow(service_account=f.key.service_account, key_id=f.key.key_id,
                       public_key_sha256=f.key.public_key_sha256,
                       service_account_exists=f.service_account_exists,
                       service_account_disabled=f.service_account_disabled, key_exists=f.key_exists,
                       disabled=f.disabled, key_type=f.key_type, key_matches=f.key_matches,
                       unknown_reason=f.unknown_reason, disable_reason=f.disable_reason)
            for f in facts]
    return tuple(sorted(rows, key=lambda r: (r.service_account, r.key_id, r.public_key_sha256)))


def fact_for(key: KeyIdentity, rows: Iterable[KeyFactRow]) -> KeyFactRow | None:
    """The first row about `key` (a linear search: for one key; `FactIndex` for many)."""
    for row in rows:
        if _fact_key(row) == (key.service_account, key.key_id, key.public_key_sha256):
            return row
    return None


def _fact_key(row: KeyFactRow) -> tuple[str, str, str]:
    return (row.service_account, row.key_id, row.public_key_sha256)


class FactIndex:
    """The rows by key, built once: `get(key)` answers what `fact_for(key, rows)` answers (the first
    matching row) with one look-up, so the gate costs O(variables + keys), not their product."""

    def __init__(self, rows: Iterable[KeyFactRow]) -> None:
        self._rows: dict[tuple[str, str, str], KeyFactRow] = {}
        for row in rows:
            self._rows.setdefault(_fact_key(row), row)

    def get(self, key: KeyIdentity) -> KeyFactRow | None:
        return self._rows.get((key.service_account, key.key_id, key.public_key_sha256))


def refusal(key: KeyIdentity, fact: KeyFactRow | None) -> str | None:
    """None when the key may earn a binding; otherwise why not (shown on the variable's ERROR row)."""
    who = f"key {key.label}"
    if not key.key_id:
        return f"{who}: the key file has no private_key_id, so Google cannot confirm the key"
    if fact is None:
        return f"{who}: Google's facts about the key are not in the inventory (re-run scan with Google)"
    if fact.service_account_exists is False:
        return f"{who}: the service account does not exist"
    if fact.key_exists is False:
        return f"{who}: Google has no such key (the file names a key id that does not exist)"
    if fact.key_exists is None or fact.service_account_exists is None:
        why = fact.unknown_reason or "not known"
        return f"{who}: cannot confirm the key with Google ({why})"
    if fact.service_account_disabled:
        return f"{who}: the service account is disabled"
    if fact.disabled:
        reason = fact.disable_reason
        extra = f" by Google ({reason})" if reason in ("EXPOSED", "COMPROMISE_DETECTED") else ""
        return f"{who}: the key is disabled{extra}; a disabled key authenticates nobody"
    if (fact.key_type or "USER_MANAGED") != "USER_MANAGED":
        return f"{who}: the key is {fact.key_type}, not a user-managed key"
    if not key.public_key_sha256:
        return f"{who}: the key file's private key is not a readable RSA key"
    if fact.key_matches is None:
        return f"{who}: Google served no certificate for the key, so the key file cannot be checked"
    if fact.key_matches is False:
        return (f"{who}: the key file's private key does not match Google's certificate for that key "
                "id (forged or corrupted key file)")
    return None
