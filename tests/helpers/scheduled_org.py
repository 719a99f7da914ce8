"""The scheduled organisation (GitLab 17.5): acme/api uses its key in a job its monthly pipeline
schedule runs, acme/jobs has no schedule; each project's file variable holds a key of its own
service account (`API_SA`, `JOBS_SA`). `org()` is the sandbox document. Used by the plan's
schedule tests and apply's live-usage tests."""

from __future__ import annotations

from typing import Any

from migrate.sandbox.org import parse_org

API_SA = "deployer@acme-prod.iam.gserviceaccount.com"
JOBS_SA = "jobs@acme-prod.iam.gserviceaccount.com"
CI = "deploy:\n  script:\n    - gcloud auth activate-service-account --key-file \"${VAR}\"\n    - ./deploy.sh\n"


def org() -> Any:
    def project(name: str, pid: int, var: str, sa: str, schedules: list[dict[str, Any]]) -> dict[str, Any]:
        return {"path": name, "id": pid, "files": {".gitlab-ci.yml": CI.replace("VAR", var)},
                "pipeline_schedules": schedules,
                "variables": [{"key": var, "variable_type": "file", "sa_key": {"service_account": sa, "key": "k1"}}]}

    return parse_org({
        "seed": 7,
        "gitlab": {"version": "17.5.0",
                   "users": [{"username": "migrator", "token": "tok", "admin": True}],
                   "groups": [{"path": "acme", "id": 100, "projects": [
                       project("api", 1001, "API_KEY", API_SA,
                               [{"description": "monthly report", "cron": "0 2 1 * *", "ref": "main"}]),
                       project("jobs", 1002, "JOBS_KEY", JOBS_SA, [])]}]},
        "google": {"admin_token": "g-admin", "projects": [
            {"project_id": "acme-identity", "number": 111111111111},
            {"project_id": "acme-prod", "number": 222222222222, "service_accounts": [
                {"email": API_SA, "keys": [{"label": "k1"}]}, {"email": JOBS_SA, "keys": [{"label": "k1"}]}]}]},
    }, "scheduled org")
