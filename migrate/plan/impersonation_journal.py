"""The who-can-impersonate simulation journaled by `plan`, so apply's integrity check need not redo it.

`plan` refuses a plan whose federation would let more jobs impersonate a service account than
its key did (`planner.impersonation_report(inputs, derived)`, the bindings derived from the
inputs). `apply` re-runs that simulation on the bindings the plan file asks for
(`migrate.apply.loop.integrity_refusals`): a few seconds at 10,000 projects (issue 18).

The simulation is a pure function of the plan's inputs, the bindings and the code. So `plan`
journals its answer (`State.record_computations`, kind "impersonation") under the digest of the
inputs' digest and `code_version()`, for the bindings derived from those inputs. `apply` uses it
only when the plan's inputs match their digest (checked first, as before) and the bindings the
plan's actions ask for are *exactly* the derived ones; any other bindings (a member added or
dropped by hand, another account), other inputs or other code: the simulation runs as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from migrate.core.code_version import code_version

KIND = "impersonation"


def journal_key(inputs_digest: str, version: str | None = None) -> str:
    """The digest the answer for the derived bindings of inputs `inputs_digest` is journaled under."""
    body = json.dumps({"code": version or code_version(), "inputs_digest": inputs_digest,
                       "bindings": "derived from the inputs"}, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def journal_record(rows: Iterable[Any]) -> dict[str, Any]:
    """What is journaled: per service account, the tokens admitted only after federation."""
    return {"broader": [[str(r.service_account), [str(b) for b in r.broader]] for r in rows]}


def journaled_broader(records: Mapping[str, Mapping[str, Any]], inputs_digest: str
                      ) -> list[tuple[str, list[str]]] | None:
    """(service account, broader tokens) per account as `plan` computed them, or None."""
    record = records.get(journal_key(inputs_digest))
    if record is None or not isinstance(record.get("broader"), list):
        return None
    return [(str(sa), [str(b) for b in broader]) for sa, broader in record["broader"]]
