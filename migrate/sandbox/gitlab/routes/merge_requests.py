"""Merge requests: create, list (per project and per group), get, update (title/description/labels/
state_event), merge, notes.

`GET /groups/:id/merge_requests` as GitLab's lib/api/merge_requests.rb serves it:
`MergeRequestsFinder` with `group_id` and `include_subgroups: true`, so the merge requests whose
target project is in the group or any subgroup and whose merge requests the user may read
(here: Reporter, as the per-project listing asks), not from archived projects unless
`non_archived=false` (GitLab MR 23809, the default since 12.8); the same `state`/`source_branch`/
`target_branch`/`labels` filters, `created_at` descending by default, offset-paginated with totals.

A second open merge request for the same source branch is refused with 409 and GitLab's
message list `["Another open merge request already exists for this source branch: !IID"]`.
Merging applies the source branch's changes since the merge base onto the target as a merge
commit (a conflict answers 406 "Branch cannot be merged"), marks the MR merged with
`merge_commit_sha`, optionally removes the source branch, and runs the target's push pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import MergeRequest, Note, Project
from migrate.sandbox.gitlab.paging import offset_page
from migrate.sandbox.gitlab.repo import CommitError
from migrate.sandbox.gitlab.routes._common import GROUP, PROJECT, labels, require, truthy
from migrate.sandbox.gitlab.routes.repository import can_push
from migrate.sandbox.gitlab.state import DEVELOPER, REPORTER
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

MRS = PROJECT + r"/merge_requests"
MR = MRS + r"/(?P<iid>\d+)"


def _mr(project: Project, iid: str) -> MergeRequest:
    for mr in project.merge_requests:
        if mr.iid == int(iid):
            return mr
    raise ApiError(404, "404 Not found")


def register(app: GitLabApp) -> None:
    def create(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "source_branch", "target_branch", "title")
        source, target = str(data["source_branch"]), str(data["target_branch"])
        if source == target:
            raise ApiError(422, ["You can't use same project/branch for source and target"])
        for kind, name in (("Source", source), ("Target", target)):
            if name not in project.repo.branches:
                raise ApiError(422, [f'{kind} branch "{name}" does not exist'])
        for other in project.merge_requests:
            if other.state == "opened" and other.source_branch == source:
                raise ApiError(409, ["Another open merge request already exists for this source "
                                     f"branch: !{other.iid}"])
        now = app.now()
        mr = MergeRequest(id=app.db.ids.take("mr"), iid=len(project.merge_requests) + 1,
                          project_id=project.id, title=str(data["title"]),
                          description=str(data.get("description") or ""), source_branch=source,
                          target_branch=target, author=user.username, created_at=now, updated_at=now,
                          labels=labels(data.get("labels")),
                          remove_source_branch=truthy(data.get("remove_source_branch", False)),
                          squash=truthy(data.get("squash", False)),
                          sha=project.repo.branches[source])
        project.merge_requests.append(mr)
        return Response.json(entities.merge_request(app, project, mr, full=True), 201)

    def listing(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        state = req.arg("state") or "all"
        source, target = req.arg("source_branch"), req.arg("target_branch")
        wanted = set(labels(req.arg("labels")))
        mrs = [mr for mr in reversed(project.merge_requests)
               if (state == "all" or mr.state == state) and (source is None or mr.source_branch == source)
               and (target is None or mr.target_branch == target) and wanted <= set(mr.labels)]
        if (req.arg("sort") or "desc") == "asc":
            mrs.reverse()
        return offset_page(req, app.base_url, mrs, lambda mr: entities.merge_request(app, project, mr))

    def group_listing(req: Request) -> Response:
        from migrate.sandbox.gitlab.routes.groups import group_for

        user, group = group_for(app, req)
        state = req.arg("state") or "all"
        source, target = req.arg("source_branch"), req.arg("target_branch")
        wanted = set(labels(req.arg("labels")))
        with_archived = not truthy(req.arg("non_archived", "true"))
        found: list[tuple[Project, MergeRequest]] = []
        for pid in app.db.visible_projects(user, group, True):
            project = app.db.projects[pid]
            if (project.archived and not with_archived) or app.db.project_level(user, project) < REPORTER:
                continue
            found += [(project, mr) for mr in project.merge_requests
                      if (state == "all" or mr.state == state) and (source is None or mr.source_branch == source)
                      and (target is None or mr.target_branch == target) and wanted <= set(mr.labels)]
        found.sort(key=lambda pm: (pm[1].created_at, pm[1].id), reverse=(req.arg("sort") or "desc") != "asc")
        return offset_page(req, app.base_url, found, lambda pm: entities.merge_request(app, pm[0], pm[1]))

    def get(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        return Response.json(entities.merge_request(app, project, _mr(project, req.params["iid"]), full=True))

    def update(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        mr = _mr(project, req.params["iid"])
        data = req.data()
        for name in ("title", "description"):
            if name in data and data[name] is not None:
                setattr(mr, name, str(data[name]))
        if "labels" in data:
            mr.labels = labels(data["labels"])
        if data.get("add_labels"):
            mr.labels += [x for x in labels(data["add_labels"]) if x not in mr.labels]
        if data.get("remove_labels"):
            mr.labels = [x for x in mr.labels if x not in labels(data["remove_labels"])]
        if data.get("target_branch"):
            mr.target_branch = str(data["target_branch"])
        if "remove_source_branch" in data:
            mr.remove_source_branch = truthy(data["remove_source_branch"])
        event = data.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at, mr.closed_by = "closed", app.now(), user.username
        elif event == "reopen" and mr.state == "closed":
            if any(o.state == "opened" and o.source_branch == mr.source_branch for o in project.merge_requests):
                raise ApiError(409, ["Another open merge request already exists for this source branch"])
            mr.state, mr.closed_at, mr.closed_by = "opened", None, None
        mr.updated_at = app.now()
        return Response.json(entities.merge_request(app, project, mr, full=True))

    def merge(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        mr = _mr(project, req.params["iid"])
        if mr.state != "opened":
            raise ApiError(405, "405 Method Not Allowed")
        can_push(app, user, project, mr.target_branch)
        data = req.data()
        head = project.repo.branches.get(mr.source_branch)
        if data.get("sha") and data["sha"] != head:
            raise ApiError(409, "SHA does not match HEAD of source branch: " + str(head))
        squash = truthy(data.get("squash", mr.squash))
        message = str(data.get("merge_commit_message") or
                      f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                      f"See merge request {project.path_with_namespace}!{mr.iid}")
        try:
            if project.merge_method == "ff":  # no merge commit: merge_commit_sha stays null
                commit = project.repo.fast_forward(source=mr.source_branch, target=mr.target_branch)
            else:
                commit = project.repo.merge(source=mr.source_branch, target=mr.target_branch, message=message,
                                            author=(user.name, user.commit_email_or_default), created_at=app.now(),
                                            squash=squash)
        except CommitError as exc:
            raise ApiError(exc.status, str(exc)) from None
        now = app.now()
        mr.state, mr.merged_at, mr.merged_by, mr.updated_at = "merged", now, user.username, now
        mr.merge_commit_sha, mr.sha = (None if project.merge_method == "ff" else commit.id), head
        if truthy(data.get("should_remove_source_branch", mr.remove_source_branch)):
            project.repo.branches.pop(mr.source_branch, None)
        project.last_activity_at = now
        app.maybe_push_pipeline(project, mr.target_branch, commit, user)
        return Response.json(entities.merge_request(app, project, mr, full=True))

    def notes(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        mr = _mr(project, req.params["iid"])
        items = list(reversed(mr.notes)) if (req.arg("sort") or "desc") == "desc" else list(mr.notes)
        return offset_page(req, app.base_url, items, lambda n: entities.note(app, n, mr))

    def add_note(req: Request) -> Response:
        user, project = app.project_for(req, REPORTER)
        mr = _mr(project, req.params["iid"])
        data = req.data()
        require(data, "body")
        note = Note(id=app.db.ids.take("note"), body=str(data["body"]), author=user.username,
                    created_at=app.now())
        mr.notes.append(note)
        return Response.json(entities.note(app, note, mr), 201)

    def mr_pipelines(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        mr = _mr(project, req.params["iid"])
        shas = {mr.sha, project.repo.branches.get(mr.source_branch)}
        pls = [pl for pl in reversed(project.pipelines) if pl.sha in shas and pl.ref == mr.source_branch]
        return offset_page(req, app.base_url, pls, lambda pl: entities.pipeline(app, project, pl, short=True))

    app.route("POST", MRS, create)
    app.route("GET", MRS, listing)
    app.route("GET", GROUP + r"/merge_requests", group_listing)
    app.route("GET", MR, get)
    app.route("PUT", MR, update)
    app.route("PUT", MR + "/merge", merge)
    app.route("GET", MR + "/notes", notes)
    app.route("POST", MR + "/notes", add_note)
    app.route("GET", MR + "/pipelines", mr_pipelines)
