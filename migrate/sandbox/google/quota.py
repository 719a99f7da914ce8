"""Google's per-project write quotas in the emulator (off unless set: `GoogleApp.set_quotas`).

Real Google counts IAM v1 write requests (600 per project per minute) and Workload Identity
Federation write requests (60 per project per minute) — https://cloud.google.com/iam/quotas — and
refuses the excess with HTTP 429 `RESOURCE_EXHAUSTED` and an `ErrorInfo` of reason
`RATE_LIMIT_EXCEEDED` in domain `googleapis.com` naming the service, the quota metric and limit
(the shape every Google API uses for quota errors; the metric/limit names here are descriptive,
not copied from a live answer). Google sends no `Retry-After` for these; clients back off.

Counted here: POST/PATCH/DELETE under `/v1/projects/P/locations/global/workloadIdentityPools`
(wif_writes) and under `/v1/projects/P/serviceAccounts` (iam_writes: setIamPolicy, key
disable/enable/delete, …; not the POSTs that read — getIamPolicy, testIamPermissions — nor IAM
Credentials' generateAccessToken/signJwt, another service with its own quota), per project P as written in the path, in a sliding window
(`window_s`, 60 s by default; tests shrink it and scale the limit with it). Off by default so
tests that do not study quotas are not paced; `wif-migrate sandbox serve --google-quotas` and
`Sandbox(google_quotas=True)` turn Google's numbers on.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable

from migrate.sandbox.google.errors import GoogleApiError

GOOGLE_DEFAULTS = {"iam_writes": 600, "wif_writes": 60}
_WIF = re.compile(r"^/v1/projects/([^/]+)/locations/global/workloadIdentityPools(?:/|$)")
_IAM = re.compile(r"^/v1/projects/([^/]+)/serviceAccounts(?:/|$)")
_METRIC = {"iam_writes": ("iam.googleapis.com/write_requests", "Write requests per minute per project"),
           "wif_writes": ("iam.googleapis.com/workload_identity_pool_write_requests",
                          "Workload identity pool write requests per minute per project")}


# POSTs that read (getIamPolicy, testIamPermissions) or belong to IAM Credentials (its own quota).
_NOT_WRITES = re.compile(r":(getIamPolicy|testIamPermissions|generateAccessToken|generateIdToken|signJwt|signBlob)$")


def classify(method: str, path: str) -> tuple[str, str] | None:
    """(quota, project) a request is charged to, or None (reads, other APIs)."""
    if method not in ("POST", "PATCH", "DELETE", "PUT") or _NOT_WRITES.search(path):
        return None
    m = _WIF.match(path)
    if m:
        return "wif_writes", m.group(1)
    m = _IAM.match(path)
    if m:
        return "iam_writes", m.group(1)
    return None


class Quotas:
    """Sliding-window counters per (quota, project); `charge` raises Google's 429 when over."""

    def __init__(self, limits: dict[str, int], window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self.window_s = window_s
        self.clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self.refused: dict[str, int] = {}
        self.accepted: list[tuple[float, str, str]] = []  # (time, quota, project) of every counted write

    def charge(self, method: str, path: str) -> None:
        charged = classify(method, path)
        if charged is None:
            return
        quota, project = charged
        limit = self.limits.get(quota)
        if not limit:
            return
        now = self.clock()
        with self._lock:
            hits = self._hits.setdefault(charged, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= limit:
                self.refused[quota] = self.refused.get(quota, 0) + 1
                raise exhausted(quota, project, limit)
            hits.append(now)
            self.accepted.append((now, quota, project))

    def max_in_window(self, quota: str, all_projects: bool = False) -> int:
        """The most writes of `quota` accepted for one project (or, `all_projects`, for all of
        them together) in any window (for benchmarks)."""
        best = 0
        by_project: dict[str, list[float]] = {}
        with self._lock:
            for t, q, p in self.accepted:
                if q == quota:
                    by_project.setdefault("*" if all_projects else p, []).append(t)
        for times in by_project.values():
            start = 0
            for end, t in enumerate(times):
                while times[start] <= t - self.window_s:
                    start += 1
                best = max(best, end - start + 1)
        return best


def exhausted(quota: str, project: str, limit: int) -> GoogleApiError:
    metric, limit_name = _METRIC[quota]
    return GoogleApiError(
        429, f"Quota exceeded for quota metric '{metric}' and limit '{limit_name}' of service "
        f"'iam.googleapis.com' for consumer 'project:{project}'.", "RESOURCE_EXHAUSTED",
        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
          "domain": "googleapis.com",
          "metadata": {"service": "iam.googleapis.com", "consumer": f"projects/{project}",
                       "quota_metric": metric, "quota_limit": limit_name, "quota_limit_value": str(limit)}},
         {"@type": "type.googleapis.com/google.rpc.Help",
          "links": [{"description": "Request a higher quota limit.",
                     "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])
