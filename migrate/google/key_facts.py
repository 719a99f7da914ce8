"""Google's facts about one key, for the inventory: does the service account exist and is it
enabled; does the key exist, when was it created, when does it expire, is it disabled; when did it
last authenticate.

Reads only: IAM v1 `serviceAccounts.get` and `serviceAccounts.keys.get` with
`publicKeyType=TYPE_X509_PEM_FILE` (the key's certificate, whose public key is compared with the
one the key file's private key derives — `key_matches`) (through
`GoogleKeyAdmin`, shared with key retirement) and Policy Analyzer's
`serviceAccountKeyLastAuthentication` activity. Every failure is a per-key *unknown* with the
reason (permission denied, API disabled, unreachable) — the scan never stops for it, and nothing
is guessed: `None` means "not known", the reason says why.

`last_authenticated=None` with no `last_auth_unknown_reason` means Policy Analyzer answered and
has no authentication for the key in its observation window (keys without activity are absent
from the answer, reference/gcp.md §5).
"""

from __future__ import annotations

import logging
from datetime import datetime

import google.auth.exceptions
from googleapiclient.errors import HttpError

from migrate.core.codec import encode_time
from migrate.core.errors import GoogleError, WifMigrateError
from migrate.core.key_names import project_of
from migrate.core.model import KeyFacts, KeyIdentity
from migrate.google.clients import TRANSPORT_ERRORS, GoogleClients
from migrate.google.service_account_keys import GoogleKeyAdmin, http_status

log = logging.getLogger(__name__)

RETRIES = 2


class KeyFactsReader:
    """Implements `migrate.scan.ports.KeyFactsSource` on the real Google APIs."""

    def __init__(self, clients: GoogleClients) -> None:
        self.clients = clients
        self.admin = GoogleKeyAdmin(clients)

    def facts(self, key: KeyIdentity) -> KeyFacts:
        try:
            return self._facts(key)
        except WifMigrateError as exc:  # GoogleError, or credentials not configured (ConfigError)
            return KeyFacts(key=key, last_auth_unknown_reason=str(exc), unknown_reason=str(exc))
        except (*TRANSPORT_ERRORS, HttpError, google.auth.exceptions.GoogleAuthError) as exc:  # unknown, not a crash
            log.debug("key facts for %s failed", key.label, exc_info=True)
            return KeyFacts(key=key, last_auth_unknown_reason=f"Google not reachable: {type(exc).__name__}")

    def _facts(self, key: KeyIdentity) -> KeyFacts:
        sa_exists, sa_disabled, sa_reason = self._service_account(key)
        key_exists: bool | None = None
        created = expires = None
        disabled: bool | None = None
        key_reason: str | None = None
        key_type = disable_reason = None
        matches: bool | None = None
        extended: tuple[str, ...] = ()
        if sa_exists is False:
            key_exists = False  # a key cannot outlive its service account
        elif key.key_id:
            try:
                live = self.admin.get_key(key.service_account, key.key_id, certificate=True)
            except GoogleError as exc:
                key_reason = str(exc)
            else:
                key_exists = live.exists
                if live.exists:
                    created, expires, disabled = _text(live.created), _text(live.expires), live.disabled
                    key_type, disable_reason, extended = live.key_type, live.disable_reason, live.extended_status
                    # Offline: the file's private key's public half against Google's certificate
                    # for that key id. Never by signing in (that would refresh the key's last use).
                    matches = (bool(key.public_key_sha256) and live.public_key_sha256 == key.public_key_sha256
                               if live.public_key_sha256 else None)
        last: str | None = None
        start: str | None = None
        end: str | None = None
        reason: str | None
        if key_exists is False:
            reason = "the key no longer exists"
        elif not key.key_id:
            reason = "the key file has no private_key_id"
        else:
            signal = self.admin.last_authentication(key.service_account, key.key_id)
            last, start, end = (_text(signal.last_authenticated), _text(signal.observation_start),
                                _text(signal.observation_end))
            reason = signal.unknown_reason
        return KeyFacts(key=key, service_account_exists=sa_exists, service_account_disabled=sa_disabled,
                        key_exists=key_exists, created=created, expires=expires, disabled=disabled,
                        last_authenticated=last, last_auth_unknown_reason=reason,
                        observation_start=start, observation_end=end,
                        unknown_reason=_join(sa_reason, key_reason), key_type=key_type,
                        key_matches=matches, disable_reason=disable_reason, extended_status=extended)

    def _service_account(self, key: KeyIdentity) -> tuple[bool | None, bool | None, str | None]:
        """(exists, disabled, reason when unknown) from serviceAccounts.get."""
        from googleapiclient.errors import HttpError

        project = key.project_id or project_of(key.service_account)
        name = f"projects/{project}/serviceAccounts/{key.service_account}"
        try:
            body = self.clients.iam().projects().serviceAccounts().get(name=name).execute(num_retries=RETRIES)
        except HttpError as exc:
            status, code, message = http_status(exc)
            if status == 404:
                return False, None, None
            hint = " (grant roles/iam.serviceAccountViewer to the operator)" if status == 403 else ""
            return None, None, f"serviceAccounts.get {name}: HTTP {status} {code} {message}{hint}".strip()
        return True, bool(body.get("disabled", False)), None


def _text(moment: datetime | None) -> str | None:
    """The inventory's spelling of Google's times (KeyFacts keeps strings): `encode_time`, Google's
    own `Z` form for whole seconds and microseconds (a 3- or 9-digit fraction would read 6 digits)."""
    return None if moment is None else encode_time(moment)


def _join(*reasons: str | None) -> str | None:
    text = "; ".join(r for r in reasons if r)
    return text or None
