"""Service-account keys on IAM (get/list/disable/enable/delete) and their last authentication.

The only Google code the key retirement needs. Key resource names use the service account's own
project (`projects/P/serviceAccounts/E/keys/K`, P from the e-mail, `-` when the e-mail does not name
it). Usage comes from Policy Analyzer's `serviceAccountKeyLastAuthentication` activity (a Preview
API, day granularity, see reference gcp.md §5): any failure to read it is not an error but an
*unknown* signal that the gates refuse on unless the user accepts it.

Per-key failures of the mutating calls raise `GoogleError` with a message that says what to do;
404 on delete means the key is already gone and is reported as such (idempotent).

Google's time strings (`validAfterTime`, `lastAuthenticatedTime`, the observation period) are
decoded here, at the boundary, with `codec.decode_time`: the ports carry aware UTC datetimes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httplib2
from google.auth.exceptions import GoogleAuthError

from migrate.core.codec import decode_time
from migrate.core.errors import GoogleError
from migrate.core.key_names import full_resource_name, key_name, project_of
from migrate.core.keyfile import certificate_public_key_sha256
from migrate.google.clients import GoogleClients
from migrate.retire.ports import LiveKey, UsageSignal

log = logging.getLogger(__name__)

ACTIVITY = "serviceAccountKeyLastAuthentication"
# Connection refused/reset, TLS, timeouts (httplib2 and socket), and credentials that cannot refresh.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (OSError, httplib2.HttpLib2Error, GoogleAuthError)
TRANSPORT_AND_DECODE_ERRORS: tuple[type[Exception], ...] = (*TRANSPORT_ERRORS, ValueError)
RETRIES = 2  # googleapiclient retries 429/5xx with backoff


def http_status(exc: Exception) -> tuple[int, str, str]:
    """(HTTP status, Google status, message) of a googleapiclient HttpError."""
    status = int(getattr(getattr(exc, "resp", None), "status", 0) or 0)
    code, message = "", str(getattr(exc, "reason", "") or "")
    content = getattr(exc, "content", b"") or b""
    try:
        err = json.loads(content.decode("utf-8") if isinstance(content, bytes) else content).get("error", {})
        code, message = str(err.get("status", "")), str(err.get("message", message))
    except (ValueError, AttributeError):
        pass
    return status, code, message


_REASON_PREFIX = "SERVICE_ACCOUNT_KEY_DISABLE_REASON_"
_STATUS_PREFIX = "SERVICE_ACCOUNT_KEY_EXTENDED_STATUS_"


def _live(service_account: str, key_id: str, body: dict[str, Any]) -> LiveKey:
    try:
        created, expires = _time(body.get("validAfterTime")), _time(body.get("validBeforeTime"))
    except ValueError as exc:  # a clear per-key error (the scan records it, retire refuses the key)
        raise GoogleError(f"key {key_id} of {service_account}: Google's answer has {exc}") from None
    reason = body.get("disableReason")
    statuses = tuple(str(s.get("key", "")).removeprefix(_STATUS_PREFIX)
                     for s in body.get("extendedStatus") or () if isinstance(s, dict))
    cert = body.get("publicKeyData")
    return LiveKey(service_account=service_account, key_id=key_id, exists=True,
                   disabled=bool(body.get("disabled", False)), key_type=str(body.get("keyType", "")),
                   created=created, expires=expires,
                   public_key_sha256=certificate_public_key_sha256(cert) if isinstance(cert, str) else "",
                   disable_reason=str(reason).removeprefix(_REASON_PREFIX) if reason else None,
                   extended_status=statuses)


def _time(value: Any) -> datetime | None:
    """One of Google's RFC 3339 fields as a time (absent or empty: None; not a time: ValueError)."""
    return decode_time(str(value)) if value else None


def usage_signal(stamp: Any, period: Mapping[str, Any]) -> UsageSignal:
    """Policy Analyzer's entry (its `lastAuthenticatedTime` and `observationPeriod`) as a signal."""
    return UsageSignal(last_authenticated=_time(stamp), observation_start=_time(period.get("startTime")),
                       observation_end=_time(period.get("endTime")))


class GoogleKeyAdmin:
    """IAM key operations through google-api-python-client (endpoint from the config)."""

    def __init__(self, clients: GoogleClients, projects: Mapping[str, str] | None = None) -> None:
        self.clients = clients
        # service account → its project, when the e-mail does not say (plan `key_project`)
        self.projects = {k.lower(): v for k, v in (projects or {}).items()}

    def _project(self, service_account: str) -> str:
        return self.projects.get(service_account.lower()) or project_of(service_account)

    def _keys(self) -> Any:
        return self.clients.iam().projects().serviceAccounts().keys()

    def _fail(self, verb: str, name: str, exc: Exception) -> GoogleError:
        status, code, message = http_status(exc)
        hint = ""
        if status == 403:
            hint = " (grant roles/iam.serviceAccountKeyAdmin on the service account to the operator)"
        return GoogleError(f"{verb} {name}: HTTP {status} {code} {message}{hint}".strip())

    def _execute(self, verb: str, name: str, request: Any, missing_ok: bool = False) -> dict[str, Any] | None:
        """Run a request; None for a 404 when `missing_ok`; every failure a `GoogleError` saying which call."""
        from googleapiclient.errors import HttpError

        try:
            body = request.execute(num_retries=RETRIES)
        except HttpError as exc:
            if missing_ok and http_status(exc)[0] == 404:
                return None
            raise self._fail(verb, name, exc) from None
        except TRANSPORT_ERRORS as exc:
            raise GoogleError(f"{verb} {name}: Google not reachable or credentials unusable "
                              f"({type(exc).__name__})") from None
        return body if isinstance(body, dict) else {}

    # --- reads ---------------------------------------------------------------------------------
    def get_key(self, service_account: str, key_id: str, certificate: bool = False) -> LiveKey:
        """The key's state; with `certificate`, also the public key of its X.509 certificate
        (`publicKeyType=TYPE_X509_PEM_FILE`, reference gcp.md; compared offline by the scan)."""
        name = key_name(service_account, key_id, self._project(service_account))
        kind = "TYPE_X509_PEM_FILE" if certificate else "TYPE_NONE"
        body = self._execute("keys.get", name, self._keys().get(name=name, publicKeyType=kind),
                             missing_ok=True)
        if body is None:
            return LiveKey(service_account, key_id, exists=False)
        return _live(service_account, key_id, body)

    def list_user_keys(self, service_account: str) -> list[LiveKey]:
        parent = f"projects/{self._project(service_account)}/serviceAccounts/{service_account}"
        body = self._execute("keys.list", parent, self._keys().list(name=parent, keyTypes="USER_MANAGED")) or {}
        out = []
        for item in body.get("keys", []):
            kid = str(item.get("name", "")).rsplit("/", 1)[-1]
            out.append(_live(service_account, kid, item))
        return out

    def last_authentication(self, service_account: str, key_id: str) -> UsageSignal:
        """The key's Policy Analyzer entry; an unknown signal (with the reason) on any failure."""
        from googleapiclient.errors import HttpError

        project = self._project(service_account)
        if project == "-":
            return UsageSignal(unknown_reason=f"cannot tell the project of {service_account} to query "
                                              "Policy Analyzer")
        resource = full_resource_name(service_account, key_id, project)
        parent = f"projects/{project}/locations/global/activityTypes/{ACTIVITY}"
        activities = self.clients.policyanalyzer().projects().locations().activityTypes().activities()
        latest: dict[str, Any] | None = None
        page_token: str | None = None
        try:
            while True:
                kwargs: dict[str, Any] = {"parent": parent, "pageSize": 1000,
                                          "filter": f'activities.fullResourceName = "{resource}"'}
                if page_token:
                    kwargs["pageToken"] = page_token
                body = activities.query(**kwargs).execute(num_retries=RETRIES)
                for act in body.get("activities", []) or []:
                    if act.get("fullResourceName") not in (None, resource):
                        continue
                    stamp = (act.get("activity") or {}).get("lastAuthenticatedTime")
                    if stamp and (latest is None or latest["t"] is None
                                  or decode_time(stamp) > decode_time(latest["t"])):
                        latest = {"t": stamp, "period": act.get("observationPeriod") or {}}
                    elif latest is None:
                        latest = {"t": None, "period": act.get("observationPeriod") or {}}
                page_token = body.get("nextPageToken")
                if not page_token:
                    break
        except HttpError as exc:
            status, code, message = http_status(exc)
            return UsageSignal(unknown_reason=f"Policy Analyzer query failed: HTTP {status} {code} {message}".strip())
        except TRANSPORT_AND_DECODE_ERRORS as exc:  # connection trouble, undecodable answer
            return UsageSignal(unknown_reason=f"Policy Analyzer unreachable: {type(exc).__name__}")
        if latest is None:
            return UsageSignal(last_authenticated=None)
        try:
            return usage_signal(latest["t"], latest["period"])
        except ValueError as exc:  # an observation period that is not a time: as an undecodable answer
            return UsageSignal(unknown_reason=f"Policy Analyzer unreachable: {type(exc).__name__}")

    # --- mutations -----------------------------------------------------------------------------
    def disable_key(self, service_account: str, key_id: str) -> None:
        self._post("disable", service_account, key_id)

    def enable_key(self, service_account: str, key_id: str) -> None:
        self._post("enable", service_account, key_id)

    def _post(self, verb: str, service_account: str, key_id: str) -> None:
        name = key_name(service_account, key_id, self._project(service_account))
        self._execute(f"keys.{verb}", name, getattr(self._keys(), verb)(name=name, body={}))
        log.info("keys.%s %s", verb, name)

    def delete_key(self, service_account: str, key_id: str) -> bool:
        """Delete; False when the key was already gone (404)."""
        name = key_name(service_account, key_id, self._project(service_account))
        if self._execute("keys.delete", name, self._keys().delete(name=name), missing_ok=True) is None:
            return False
        log.info("keys.delete %s", name)
        return True
