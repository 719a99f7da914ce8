"""Policy Analyzer v1 activities:query — "when did this key (or SA) last authenticate?".

Granularity (a documented choice, reference/gcp.md §5 fact 7): the real Activity Analyzer is
day-granular and always answers `…T07:00:00Z`, i.e. the start of the Pacific-time day (07:00 UTC
in summer). We floor each recorded sign-in to the most recent 07:00:00Z boundary: a sign-in at
2026-11-20T10:30Z reports `2026-11-20T07:00:00Z`, one at 2026-11-20T03:00Z reports
`2026-11-19T07:00:00Z`. So a reported time can be up to 24 h *earlier* than the real use — callers
must compare at day granularity. Keys with no recorded sign-in are absent from the answer, as on
the real API. Seeds come from the org file's `last_authenticated`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from migrate.sandbox.google.errors import invalid, permission_denied
from migrate.sandbox.google.state import rfc3339, unique_id
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.google.app import GoogleApp

KEY_TYPE = "serviceAccountKeyLastAuthentication"
SA_TYPE = "serviceAccountLastAuthentication"
PERMISSIONS = {KEY_TYPE: "policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query",
               SA_TYPE: "policyanalyzer.serviceAccountLastAuthenticationActivities.query"}
_FILTER = re.compile(r'(?:activities\.)?(?:fullResourceName|full_resource_name)\s*=\s*"([^"]+)"')


def register(app: GoogleApp) -> None:
    app.route("GET", r"/v1/projects/(?P<project>[^/:]+)/locations/(?P<location>[^/:]+)/activityTypes/"
                     r"(?P<type>[^/:]+)/activities:query", lambda r: query(app, r))


def day_floor(t: datetime) -> datetime:
    """The most recent 07:00:00Z at or before `t`."""
    shifted = t - timedelta(hours=7)
    return shifted.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=7)


def query(app: GoogleApp, req: Request) -> Response:
    kind, project = req.params["type"], req.params["project"]
    parent = f"projects/{project}/locations/{req.params['location']}/activityTypes/{kind}"
    if kind not in PERMISSIONS:
        raise invalid(f"Activity type {kind} is not supported.", "parent")
    app.authorize(req, PERMISSIONS[kind], parent, "policyanalyzer.googleapis.com")
    wanted = set(_FILTER.findall(req.arg("filter") or ""))
    if req.arg("filter") and not wanted:
        raise invalid(f"Invalid filter: {req.arg('filter')}", "filter")
    now = app.clock.now()
    with app.lock:
        proj = app.world.project(project)
        if proj is None:
            raise permission_denied(PERMISSIONS[kind], parent, "policyanalyzer.googleapis.com")
        activities = _key_activities(app, proj.project_id, proj.number) if kind == KEY_TYPE \
            else _sa_activities(app, proj.project_id, proj.number)
    if wanted:
        activities = [a for a in activities if a["fullResourceName"] in wanted]
    end = day_floor(now)
    period = {"startTime": rfc3339(end - timedelta(days=90)), "endTime": rfc3339(end)}
    for a in activities:
        a["observationPeriod"] = period
    size = min(int(req.arg("pageSize") or 1000), 1000) or 1000
    start = int(req.arg("pageToken") or 0)
    out: dict[str, Any] = {}
    if activities[start:start + size]:
        out["activities"] = activities[start:start + size]
    if start + size < len(activities):
        out["nextPageToken"] = str(start + size)
    return Response.json(out)


def _names(project_id: str, number: str, tail: str) -> list[str]:
    return [f"//iam.googleapis.com/projects/{project_id}/{tail}", f"//iam.googleapis.com/projects/{number}/{tail}"]


def _key_activities(app: GoogleApp, project_id: str, number: str) -> list[dict[str, Any]]:
    out = []
    for key in app.world.keys.values():
        if key.project_id != project_id or key.last_authenticated is None:
            continue
        full = key.full_resource_name
        out.append({
            "activityType": KEY_TYPE, "fullResourceName": full,
            "activity": {"lastAuthenticatedTime": rfc3339(day_floor(key.last_authenticated)),
                         "serviceAccountKey": {"fullResourceName": full, "projectNumber": number,
                                               "serviceAccountId": unique_id(key.service_account)}}})
    return out


def _sa_activities(app: GoogleApp, project_id: str, number: str) -> list[dict[str, Any]]:
    out = []
    for sa in app.world.service_accounts.values():
        times = [k.last_authenticated for k in app.world.keys.values()
                 if k.service_account == sa.email and k.last_authenticated is not None]
        if sa.project_id != project_id or not times:
            continue
        full = f"//iam.googleapis.com/projects/{project_id}/serviceAccounts/{sa.email}"
        out.append({
            "activityType": SA_TYPE, "fullResourceName": full,
            "activity": {"lastAuthenticatedTime": rfc3339(day_floor(max(times))),
                         "serviceAccount": {"fullResourceName": full, "projectNumber": number,
                                            "serviceAccountId": sa.unique_id}}})
    return out
