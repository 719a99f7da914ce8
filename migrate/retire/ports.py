"""What key retirement needs from the outside: the Protocols of the key, schedule and variable
backends and the records they return (the adapters in `migrate.google` and `migrate.gitlab`
implement them; `retire` never imports an adapter).

Times are aware UTC `datetime`s: the adapters decode Google's strings with `codec.decode_time` at
the boundary, so the gates compare instants (`…T07:00:00Z` and `…T08:00:00+01:00` are one time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from migrate.core.model import KeyVariable


@dataclass(frozen=True)
class LiveKey:
    """What IAM says about a key right now. `exists=False` when keys.get answered 404."""

    service_account: str
    key_id: str
    exists: bool
    disabled: bool = False
    key_type: str = "USER_MANAGED"
    created: datetime | None = None  # validAfterTime
    expires: datetime | None = None  # validBeforeTime
    # SHA-256 of the public key in Google's X.509 certificate for this key ('' when not asked for).
    public_key_sha256: str = ""
    disable_reason: str | None = None  # USER_INITIATED / EXPOSED / COMPROMISE_DETECTED
    extended_status: tuple[str, ...] = ()  # KEY_EXPOSED / KEY_COMPROMISE_DETECTED (permanent)


@dataclass(frozen=True)
class UsageSignal:
    """Policy Analyzer's last-authentication answer for one key.

    `last_authenticated` is the day-truncated `lastAuthenticatedTime`, None when the key has no
    entry in the observation window. `unknown_reason` is set when the signal could not be read
    (permission denied, API error, Preview API unavailable): then nothing else is meaningful.
    """

    last_authenticated: datetime | None = None
    observation_start: datetime | None = None
    observation_end: datetime | None = None
    unknown_reason: str | None = None

    @property
    def known(self) -> bool:
        return self.unknown_reason is None


@dataclass(frozen=True)
class VariableHolding:
    """What a GitLab variable holds now: absent, a key (its id), unreadable (hidden), or no key."""

    exists: bool
    key_id: str | None = None
    readable: bool = True
    protected: bool | None = None  # as GitLab says now (None: not read)
    public_key_sha256: str = ""  # of the value's private key (keyfile), '' when not a key


class KeyAdmin(Protocol):
    def get_key(self, service_account: str, key_id: str) -> LiveKey: ...
    def list_user_keys(self, service_account: str) -> list[LiveKey]: ...
    def last_authentication(self, service_account: str, key_id: str) -> UsageSignal: ...
    def disable_key(self, service_account: str, key_id: str) -> None: ...
    def enable_key(self, service_account: str, key_id: str) -> None: ...
    def delete_key(self, service_account: str, key_id: str) -> bool: ...


class ScheduleReader(Protocol):
    """A project's active pipeline schedules (real: `migrate.gitlab.pipelines.GitLabPipelines`)."""

    def schedules(self, project: str) -> list[dict[str, Any]]: ...


class VariableAdmin(Protocol):
    def holding(self, var: KeyVariable) -> VariableHolding: ...
    def delete(self, var: KeyVariable) -> bool: ...


@dataclass(frozen=True)
class RetireServices:
    """The backends a keys verb runs on, built by the CLI (`cli/keys.build_services`): the key
    admin, the live schedule reader, and the variable admin only where variables are deleted."""

    keys: KeyAdmin
    schedules: ScheduleReader
    variables: VariableAdmin | None = None
