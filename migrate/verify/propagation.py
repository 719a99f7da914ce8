"""IAM propagation: a new binding can take minutes to work.

"Policy changes typically take effect within 2 minutes, but can take 7 minutes or more"
(cloud.google.com/iam/docs/access-change-propagation). A pipeline that ran within that window
after `apply` added the binding and was refused impersonation proves nothing either way: calling
it a failure would send the operator hunting for a bug that is not there, calling it verified
would be a lie. `verify` reports it as pending with the reason and what to do (re-run the
pipeline); only a refusal more than the window after the binding is a failure. Pure.
"""

from __future__ import annotations

import re
from datetime import datetime

from migrate.core.codec import decode_time_or_none, format_time

PROPAGATION_MAX_S = 7 * 60

# How an impersonation or token exchange refused for lack of a (not yet effective) binding reads in
# a job log: gcloud / google-auth / the sandbox runner print Google's 403 text.
_DENIAL = re.compile(r"iam\.serviceAccounts\.getAccessToken|PERMISSION_DENIED|Permission '[^']*' denied"
                     r"|caller does not have permission", re.I)


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 time as GitLab writes it (`Z` or an offset); None when absent or bad."""
    return decode_time_or_none(value)


def within_propagation(failure: str, bound_at: datetime | None, ran_at: datetime | None,
                       window_s: int = PROPAGATION_MAX_S) -> int | None:
    """Seconds between the binding and the run when `failure` is an impersonation refusal of a run
    that started less than `window_s` after the binding was added; else None."""
    if not _DENIAL.search(failure or ""):
        return None
    if bound_at is None or ran_at is None:
        return None
    delta = int((ran_at - bound_at).total_seconds())
    return delta if 0 <= delta < window_s else None


def explain(seconds: int, bound_at: datetime) -> str:
    return (f"refused impersonation {seconds} s after the binding was added ({format_time(bound_at)}); IAM changes take "
            f"up to {PROPAGATION_MAX_S // 60} minutes to propagate, so this run proves nothing: re-run the "
            "pipeline (a refusal later than that is a failure)")
