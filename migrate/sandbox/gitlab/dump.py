"""`GET /_sandbox/state`: the whole instance as JSON, for people and tests, without secrets.

Variables that hold a sandbox key show the key's service account, id and encoding, never the
key file; any other value that looks like a service-account key (raw or base64 JSON with a
`private_key`) is redacted the same way. Files are listed with blob id and size, not content.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab.model import Project, Variable
from migrate.sandbox.gitlab.repo import blob_id

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def redacted_value(app: GitLabApp, var: Variable) -> Any:
    if var.sa_key is not None:
        ref = var.sa_key
        return f"<sa-key {ref.service_account} {ref.key_id} {ref.encoding}>"
    value = var.value or ""
    key = _key_json(value)
    if key is not None:
        return f"<sa-key {key.get('client_email', '?')} {key.get('private_key_id', '?')}>"
    if "PRIVATE KEY" in value:
        return "<private key material>"
    return var.value


def _key_json(value: str) -> dict[str, Any] | None:
    text = value.strip()
    candidates = [text]
    if text and not text.startswith("{"):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(base64.b64decode(text, validate=False).decode("utf-8", "ignore"))
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and "private_key" in data:
            return data
    return None


def _variable(app: GitLabApp, var: Variable) -> dict[str, Any]:
    return {"key": var.key, "value": redacted_value(app, var), "variable_type": var.variable_type,
            "protected": var.protected, "masked": var.masked, "hidden": var.hidden,
            "environment_scope": var.environment_scope,
            "sa_key": None if var.sa_key is None else {
                "service_account": var.sa_key.service_account, "label": var.sa_key.label,
                "key_id": var.sa_key.key_id, "encoding": var.sa_key.encoding}}


def _project(app: GitLabApp, p: Project) -> dict[str, Any]:
    return {
        "id": p.id, "path_with_namespace": p.path_with_namespace, "default_branch": p.default_branch,
        "ci_config_path": p.ci_config_path, "archived": p.archived, "visibility": p.visibility,
        "no_access": sorted(p.no_access), "max_role": p.max_role,
        "protected_branches": sorted(p.protected_branches),
        "variables": [_variable(app, v) for v in p.variables],
        "branches": {name: {"commit": cid, "files": {
            path: {"blob_id": blob_id(content), "size": len(content)}
            for path, content in sorted(p.repo.commits[cid].files.items())}}
            for name, cid in p.repo.branches.items()},
        "merge_requests": [{"iid": mr.iid, "title": mr.title, "state": mr.state,
                            "source_branch": mr.source_branch, "target_branch": mr.target_branch,
                            "merge_commit_sha": mr.merge_commit_sha, "labels": mr.labels}
                           for mr in p.merge_requests],
        "pipelines": [{"id": pl.id, "ref": pl.ref, "sha": pl.sha, "source": pl.source,
                       "status": pl.status, "jobs": [{"id": j.id, "name": j.name, "status": j.status}
                                                     for j in pl.jobs]}
                      for pl in p.pipelines],
    }


def dump_state(app: GitLabApp) -> dict[str, Any]:
    db = app.db
    return {
        "version": db.version,
        "issuer": app.issuer,
        "users": [{"id": u.id, "username": u.username, "admin": u.admin} for u in db.users.values()],
        "instance_variables": [_variable(app, v) for v in db.instance_variables],
        "groups": [{"id": g.id, "full_path": g.full_path, "parent_id": g.parent_id,
                    "members": g.members, "variables": [_variable(app, v) for v in g.variables],
                    "projects": g.project_ids, "subgroups": g.subgroup_ids}
                   for g in db.groups.values()],
        "projects": [_project(app, p) for p in db.projects.values()],
    }
