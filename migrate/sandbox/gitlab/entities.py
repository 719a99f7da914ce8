"""JSON shapes of GitLab API entities (lib/api/entities/*.rb), with GitLab's field names.

Only the fields a client could plausibly read are emitted, but those carry the right names and
types (ids are integers, timestamps ISO 8601 with milliseconds and `Z`, booleans are booleans).
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

from migrate.core import cron
from migrate.sandbox.gitlab.model import Group, Job, MergeRequest, Note, Pipeline, Project, Variable
from migrate.sandbox.gitlab.repo import Commit, blob_id

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp


def ts(value: str | None) -> str | None:
    """`2024-03-01T10:00:00Z` → `2024-03-01T10:00:00.000Z` (GitLab's format)."""
    if not value:
        return None
    if value.endswith("Z") and "." not in value:
        return value[:-1] + ".000Z"
    return value


def namespace(app: GitLabApp, group: Group) -> dict[str, Any]:
    return {"id": group.id, "name": group.name, "path": group.path, "kind": "group",
            "full_path": group.full_path, "parent_id": group.parent_id, "avatar_url": None,
            "web_url": f"{app.base_url}/groups/{group.full_path}"}


def project(app: GitLabApp, p: Project, level: int = 0, simple: bool = False) -> dict[str, Any]:
    group = app.db.groups[p.namespace_id]
    web = f"{app.base_url}/{p.path_with_namespace}"
    host = app.base_url.split("://", 1)[-1]
    data: dict[str, Any] = {
        "id": p.id, "description": p.description or None, "name": p.name,
        "name_with_namespace": f"{group.full_path.replace('/', ' / ')} / {p.name}",
        "path": p.path, "path_with_namespace": p.path_with_namespace,
        "created_at": ts(p.created_at), "default_branch": p.default_branch if p.repo.branches else None,
        "tag_list": list(p.topics), "topics": list(p.topics),
        "ssh_url_to_repo": f"git@{host.split(':')[0]}:{p.path_with_namespace}.git",
        "http_url_to_repo": f"{web}.git", "web_url": web, "readme_url": None,
        "forks_count": 0, "avatar_url": None, "star_count": 0,
        "last_activity_at": ts(p.last_activity_at or p.created_at),
        "namespace": namespace(app, group),
    }
    if simple:
        return data
    api = f"{app.base_url}/api/v4/projects/{p.id}"
    data.update({
        "container_registry_image_prefix": f"registry.{host}/{p.path_with_namespace}",
        "_links": {"self": api, "issues": f"{api}/issues", "merge_requests": f"{api}/merge_requests",
                   "repo_branches": f"{api}/repository/branches", "labels": f"{api}/labels",
                   "events": f"{api}/events", "members": f"{api}/members",
                   "cluster_agents": f"{api}/cluster_agents"},
        "packages_enabled": True, "empty_repo": not p.repo.branches, "archived": p.archived,
        "visibility": p.visibility, "resolve_outdated_diff_discussions": False,
        "container_registry_enabled": True, "issues_enabled": True, "merge_requests_enabled": True,
        "wiki_enabled": True, "jobs_enabled": True, "snippets_enabled": True,
        "builds_access_level": "enabled", "repository_access_level": "enabled",
        "merge_requests_access_level": "enabled", "shared_runners_enabled": True,
        "creator_id": 1, "import_status": "none", "open_issues_count": 0,
        "ci_default_git_depth": 20, "ci_forward_deployment_enabled": True,
        "ci_job_token_scope_enabled": False, "ci_config_path": p.ci_config_path,
        "ci_id_token_sub_claim_components": list(p.ci_id_token_sub_claim_components),
        "public_jobs": True, "shared_with_groups": [],
        "only_allow_merge_if_pipeline_succeeds": False, "allow_merge_on_skipped_pipeline": None,
        "request_access_enabled": True, "remove_source_branch_after_merge": True,
        "merge_method": p.merge_method, "squash_option": "default_off", "marked_for_deletion_at": None,
        # the rest of lib/api/entities/project.rb's unconditional fields, at GitLab's defaults
        "service_desk_enabled": False,
        "service_desk_address": None, "can_create_merge_request_in": level >= 30,
        "issues_access_level": "enabled", "forking_access_level": "enabled", "wiki_access_level": "enabled",
        "snippets_access_level": "enabled", "pages_access_level": "private",
        "analytics_access_level": "enabled", "container_registry_access_level": "enabled",
        "emails_disabled": False, "lfs_enabled": True, "build_timeout": 3600,
        "auto_cancel_pending_pipelines": "enabled", "restrict_user_defined_variables": False,
        "only_allow_merge_if_all_discussions_are_resolved": False,
        "printing_merge_request_link_enabled": True, "suggestion_commit_message": None,
        "auto_devops_enabled": False, "auto_devops_deploy_strategy": "continuous",
        "autoclose_referenced_issues": True, "keep_latest_artifact": True,
        "permissions": {"project_access": {"access_level": min(level, 50), "notification_level": 3}
                        if level > 0 else None, "group_access": None},
    })
    return data


def group(app: GitLabApp, g: Group) -> dict[str, Any]:
    return {"id": g.id, "web_url": f"{app.base_url}/groups/{g.full_path}", "name": g.name,
            "path": g.path, "description": g.description, "visibility": g.visibility,
            "share_with_group_lock": False, "require_two_factor_authentication": False,
            "project_creation_level": "developer", "subgroup_creation_level": "maintainer",
            "lfs_enabled": True, "default_branch": None, "request_access_enabled": True,
            "full_name": " / ".join(a.name for a in reversed(app.db.ancestors(g))),
            "full_path": g.full_path, "created_at": ts(g.created_at), "parent_id": g.parent_id,
            "avatar_url": None, "marked_for_deletion_on": None,
            # lib/api/entities/group.rb, at GitLab's defaults
            "two_factor_grace_period": 48, "auto_devops_enabled": None, "emails_disabled": False,
            "mentions_disabled": None, "default_branch_protection": 2}


def variable(app: GitLabApp, v: Variable, scope: str) -> dict[str, Any]:
    """Project and group variables carry `environment_scope` and `hidden`; instance ones do not."""
    data: dict[str, Any] = {
        "variable_type": v.variable_type, "key": v.key,
        "value": None if v.hidden else app.variable_value(v),
        "protected": v.protected, "masked": v.masked, "raw": v.raw, "description": v.description,
    }
    if scope != "instance":
        if app.version_at_least(17, 4):  # `hidden` exists from 17.4 (doc/api/project_level_variables.md)
            data["hidden"] = v.hidden
        data["environment_scope"] = v.environment_scope
    return data


def commit(app: GitLabApp, p: Project, c: Commit, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": c.id, "short_id": c.id[:8], "created_at": ts(c.created_at), "parent_ids": c.parent_ids,
        "title": c.title, "message": c.message, "author_name": c.author_name,
        "author_email": c.author_email, "authored_date": ts(c.created_at),
        "committer_name": c.author_name, "committer_email": c.author_email,
        "committed_date": ts(c.created_at), "trailers": {}, "extended_trailers": {},
        "web_url": f"{app.base_url}/{p.path_with_namespace}/-/commit/{c.id}",
    }
    if full:
        last = next((pl for pl in reversed(p.pipelines) if pl.sha == c.id), None)
        data.update({"stats": dict(c.stats), "status": last.status if last else None,
                     "project_id": p.id,
                     "last_pipeline": pipeline(app, p, last, short=True) if last else None})
    return data


def branch(app: GitLabApp, p: Project, name: str) -> dict[str, Any]:
    c = p.repo.commits[p.repo.branches[name]]
    protected = name in p.protected_branches
    default = p.repo.head(p.default_branch)
    merged = bool(default) and name != p.default_branch and default is not None \
        and c.id in set(p.repo.ancestors(default))
    return {"name": name, "merged": merged, "protected": protected,
            "default": name == p.default_branch, "developers_can_push": not protected,
            "developers_can_merge": not protected, "can_push": True,
            "web_url": f"{app.base_url}/{p.path_with_namespace}/-/tree/{name}",
            "commit": commit(app, p, c)}


def file_meta(p: Project, path: str, ref: str, c: Commit) -> dict[str, Any]:
    content = c.files[path]
    return {"file_name": path.rsplit("/", 1)[-1], "file_path": path, "size": len(content),
            "encoding": "base64", "content_sha256": hashlib.sha256(content).hexdigest(), "ref": ref,
            "blob_id": blob_id(content), "commit_id": c.id,
            "last_commit_id": c.last_change.get(path, c.id), "execute_filemode": False}


def file_full(p: Project, path: str, ref: str, c: Commit) -> dict[str, Any]:
    data = file_meta(p, path, ref, c)
    data["content"] = base64.b64encode(c.files[path]).decode()
    return data


def file_headers(meta: dict[str, Any]) -> dict[str, str]:
    names = {"blob_id": "Blob-Id", "commit_id": "Commit-Id", "content_sha256": "Content-Sha256",
             "encoding": "Encoding", "file_name": "File-Name", "file_path": "File-Path",
             "last_commit_id": "Last-Commit-Id", "ref": "Ref", "size": "Size",
             "execute_filemode": "Execute-Filemode"}
    return {f"X-Gitlab-{h}": str(meta[k]).lower() if isinstance(meta[k], bool) else str(meta[k])
            for k, h in names.items()}


def merge_request(app: GitLabApp, p: Project, mr: MergeRequest, full: bool = False) -> dict[str, Any]:
    author = app.db.users.get(mr.author)
    merged_by = app.db.users.get(mr.merged_by or "")
    closed_by = app.db.users.get(mr.closed_by or "")
    src, tgt = p.repo.head(mr.source_branch), p.repo.head(mr.target_branch)
    conflicts = bool(src and tgt and mr.state == "opened" and p.repo.conflicts(src, tgt))
    draft = mr.title.lower().startswith(("draft:", "[draft]", "(draft)"))
    if mr.state != "opened":
        status = "not_open"
    elif draft:
        status = "draft_status"
    elif conflicts:
        status = "conflict"
    else:
        status = "mergeable"
    data: dict[str, Any] = {
        "id": mr.id, "iid": mr.iid, "project_id": p.id, "title": mr.title,
        "description": mr.description, "state": mr.state, "created_at": ts(mr.created_at),
        "updated_at": ts(mr.updated_at), "merged_by": merged_by.entity(app.base_url) if merged_by else None,
        "merge_user": merged_by.entity(app.base_url) if merged_by else None,
        "merged_at": ts(mr.merged_at), "closed_by": closed_by.entity(app.base_url) if closed_by else None,
        "closed_at": ts(mr.closed_at), "target_branch": mr.target_branch,
        "source_branch": mr.source_branch, "user_notes_count": sum(not n.system for n in mr.notes),
        "upvotes": 0, "downvotes": 0, "author": author.entity(app.base_url) if author else None,
        "assignees": [], "assignee": None, "reviewers": [], "source_project_id": p.id,
        "target_project_id": p.id, "labels": list(mr.labels), "draft": draft,
        "work_in_progress": draft, "milestone": None, "merge_when_pipeline_succeeds": False,
        "merge_status": "cannot_be_merged" if conflicts else "can_be_merged",
        "detailed_merge_status": status, "sha": mr.sha if mr.state == "merged" else (src.id if src else mr.sha),
        "merge_commit_sha": mr.merge_commit_sha, "squash_commit_sha": None,
        "discussion_locked": None, "should_remove_source_branch": mr.remove_source_branch,
        "force_remove_source_branch": mr.remove_source_branch, "squash": mr.squash,
        "has_conflicts": conflicts, "blocking_discussions_resolved": True,
        "reference": f"!{mr.iid}",
        "references": {"short": f"!{mr.iid}", "relative": f"!{mr.iid}",
                       "full": f"{p.path_with_namespace}!{mr.iid}"},
        "web_url": f"{app.base_url}/{p.path_with_namespace}/-/merge_requests/{mr.iid}",
        "time_stats": {"time_estimate": 0, "total_time_spent": 0, "human_time_estimate": None,
                       "human_total_time_spent": None},
        "task_completion_status": {"count": 0, "completed_count": 0},
    }
    if full:
        head = next((pl for pl in reversed(p.pipelines) if src and pl.sha == data["sha"]), None)
        data.update({"subscribed": False, "changes_count": None, "latest_build_started_at": None,
                     "latest_build_finished_at": None, "first_deployed_to_production_at": None,
                     "pipeline": pipeline(app, p, head, short=True) if head else None,
                     "head_pipeline": pipeline(app, p, head) if head else None,
                     "diff_refs": {"base_sha": tgt.id if tgt else None, "head_sha": src.id if src else None,
                                   "start_sha": tgt.id if tgt else None},
                     "merge_error": None, "user": {"can_merge": True}})
    return data


def note(app: GitLabApp, n: Note, mr: MergeRequest) -> dict[str, Any]:
    author = app.db.users.get(n.author)
    return {"id": n.id, "type": None, "body": n.body, "attachment": None,
            "author": author.entity(app.base_url) if author else None,
            "created_at": ts(n.created_at), "updated_at": ts(n.created_at), "system": n.system,
            "noteable_id": mr.id, "noteable_type": "MergeRequest", "noteable_iid": mr.iid,
            "resolvable": False, "confidential": False, "internal": False, "commands_changes": {}}


def pipeline_schedule(app: GitLabApp, s: dict[str, Any], details: bool = False) -> dict[str, Any]:
    """lib/api/entities/ci/pipeline_schedule.rb. `next_run_at` is the cron's next firing in its
    zone (GitLab rounds it further to its schedule worker's tick; not modelled). `details`: the
    single-schedule GET (lib/api/entities/ci/pipeline_schedule_details.rb, doc/api/
    pipeline_schedules.md "Get a single pipeline schedule") adds `last_pipeline` and `variables`
    (key, value, variable_type; `raw` from 17.x, not modelled)."""
    owner = app.db.users.get(s.get("owner") or "")
    try:
        after = cron.next_run(s["cron"], app.clock.now(), s["cron_timezone"])
    except ValueError:
        after = None
    return {"id": s["id"], "description": s["description"], "ref": s["ref"], "cron": s["cron"],
            "cron_timezone": s["cron_timezone"],
            "next_run_at": ts(after.strftime("%Y-%m-%dT%H:%M:%SZ")) if after else None,
            "active": s["active"], "created_at": ts(s["created_at"]), "updated_at": ts(s["updated_at"]),
            "owner": owner.entity(app.base_url) if owner else None,
            **({"last_pipeline": None,
                "variables": [{"key": v.key, "value": app.variable_value(v), "variable_type": v.variable_type}
                              for v in s.get("variables") or []]} if details else {})}


def pipeline(app: GitLabApp, p: Project, pl: Pipeline, short: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pl.id, "iid": pl.iid, "project_id": p.id, "sha": pl.sha, "ref": pl.ref,
        "status": pl.status, "source": pl.source, "created_at": ts(pl.created_at),
        "updated_at": ts(pl.updated_at),
        "web_url": f"{app.base_url}/{p.path_with_namespace}/-/pipelines/{pl.id}", "name": None,
    }
    if short:
        return data
    user = app.db.users.get(pl.user or "")
    data.update({
        "before_sha": pl.before_sha, "tag": pl.tag, "yaml_errors": pl.yaml_errors,
        "user": user.entity(app.base_url) if user else None, "started_at": ts(pl.started_at),
        "finished_at": ts(pl.finished_at), "committed_at": None, "duration": 1 if pl.finished_at else None,
        "queued_duration": 0, "coverage": None,
        "detailed_status": {"icon": f"status_{pl.status}", "text": pl.status, "label": pl.status,
                            "group": pl.status, "tooltip": pl.status, "has_details": True,
                            "details_path": f"/{p.path_with_namespace}/-/pipelines/{pl.id}",
                            "illustration": None, "favicon": f"/assets/ci_favicons/favicon_status_{pl.status}.png"},
    })
    return data


def job(app: GitLabApp, p: Project, pl: Pipeline, j: Job) -> dict[str, Any]:
    user = app.db.users.get(j.user or "")
    c = p.repo.commits.get(j.sha)
    data: dict[str, Any] = {
        "id": j.id, "status": j.status, "stage": j.stage, "name": j.name, "ref": j.ref,
        "tag": False, "coverage": None, "allow_failure": j.allow_failure,
        "created_at": ts(j.created_at), "started_at": ts(j.started_at),
        "finished_at": ts(j.finished_at), "erased_at": None,
        "duration": 1.0 if j.finished_at else None, "queued_duration": 0.0,
        "user": user.entity(app.base_url) if user else None,
        "commit": commit(app, p, c) if c else None,
        "pipeline": pipeline(app, p, pl, short=True),
        "web_url": f"{app.base_url}/{p.path_with_namespace}/-/jobs/{j.id}",
        "project": {"ci_job_token_scope_enabled": False}, "artifacts": [],
        "artifacts_expire_at": None, "runner": None, "runner_manager": None,
        "tag_list": list(j.tag_list), "archived": False,
    }
    if j.failure_reason:
        data["failure_reason"] = j.failure_reason
    if j.environment:
        data["environment"] = {"name": j.environment}
    return data
