"""Pipelines and jobs: create (`POST /projects/:id/pipeline?ref=`), list, get, latest, jobs, trace.

How jobs run is pluggable (`GitLabApp.pipeline_runner`); without a runner every job succeeds with
the trace "no runner: authentication not executed".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from migrate.sandbox.gitlab import entities
from migrate.sandbox.gitlab.app import ApiError
from migrate.sandbox.gitlab.model import Job, Pipeline, Project
from migrate.sandbox.gitlab.paging import offset_page
from migrate.sandbox.gitlab.routes._common import PROJECT, require
from migrate.sandbox.gitlab.state import DEVELOPER, MAINTAINER, REPORTER
from migrate.sandbox.http import Request, Response

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

PIPELINES = PROJECT + r"/pipelines"
PIPELINE = PIPELINES + r"/(?P<plid>\d+)"
JOB = PROJECT + r"/jobs/(?P<jid>\d+)"


def _pipeline(project: Project, plid: str) -> Pipeline:
    for pl in project.pipelines:
        if pl.id == int(plid):
            return pl
    raise ApiError(404, "404 Not found")


def _job(project: Project, jid: str) -> tuple[Pipeline, Job]:
    for pl in project.pipelines:
        for job in pl.jobs:
            if job.id == int(jid):
                return pl, job
    raise ApiError(404, "404 Not found")


def register(app: GitLabApp) -> None:
    def create(req: Request) -> Response:
        user, project = app.project_for(req, DEVELOPER)
        data = req.data()
        require(data, "ref")
        variables = {str(v.get("key")): str(v.get("value")) for v in data.get("variables") or []
                     if isinstance(v, dict)}
        pipeline = app.create_pipeline(project, str(data["ref"]), "api", user, variables)
        if pipeline.yaml_errors:
            raise ApiError(400, {"base": [pipeline.yaml_errors]})
        return Response.json(entities.pipeline(app, project, pipeline), 201)

    def listing(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        ref, sha, source, status = (req.arg(n) for n in ("ref", "sha", "source", "status"))
        scope = req.arg("scope")
        pls = [pl for pl in project.pipelines
               if (ref is None or pl.ref == ref) and (sha is None or pl.sha == sha)
               and (source is None or pl.source == source) and (status is None or pl.status == status)
               and (scope is None or scope == "finished" and pl.finished_at is not None
                    or scope == "running" and pl.status == "running"
                    or scope == "pending" and pl.status == "pending" or scope in ("branches", "tags"))]
        order_by = req.arg("order_by") or "id"
        if order_by in ("status", "ref", "updated_at"):
            pls.sort(key=lambda pl: (str(getattr(pl, order_by)), pl.id))
        if (req.arg("sort") or "desc") == "desc":
            pls.reverse()
        return offset_page(req, app.base_url, pls, lambda pl: entities.pipeline(app, project, pl, short=True))

    def get(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        return Response.json(entities.pipeline(app, project, _pipeline(project, req.params["plid"])))

    def latest(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        ref = req.arg("ref") or project.default_branch
        head = project.repo.branches.get(ref)
        found = [pl for pl in project.pipelines if pl.ref == ref and pl.sha == head]
        if not found:
            raise ApiError(404, "404 Not found")
        return Response.json(entities.pipeline(app, project, found[-1]))

    def jobs(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        pl = _pipeline(project, req.params["plid"])
        scopes = set(req.args("scope[]") or req.args("scope"))
        found = [j for j in pl.jobs if not scopes or j.status in scopes]
        return offset_page(req, app.base_url, found, lambda j: entities.job(app, project, pl, j))

    def project_jobs(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        scopes = set(req.args("scope[]") or req.args("scope"))
        found = [(pl, j) for pl in reversed(project.pipelines) for j in reversed(pl.jobs)
                 if not scopes or j.status in scopes]
        return offset_page(req, app.base_url, found, lambda pj: entities.job(app, project, pj[0], pj[1]))

    def job(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        pl, j = _job(project, req.params["jid"])
        return Response.json(entities.job(app, project, pl, j))

    def play(req: Request) -> Response:
        """`POST /projects/:id/jobs/:job_id/play`: start a manual job (developer role, as GitLab)."""
        _, project = app.project_for(req, DEVELOPER)
        pl, j = _job(project, req.params["jid"])
        if j.status != "manual":
            raise ApiError(400, "400 (Bad request) \"Unplayable Job\" not given")
        player = getattr(app.pipeline_runner, "play", None)
        if player is None:
            app.finish_job(j, "success", "no runner: authentication not executed\n")
        else:
            player(app, project, pl, j)
        with app.lock:
            app.update_pipeline_status(pl)
        return Response.json(entities.job(app, project, pl, j))

    def trace(req: Request) -> Response:
        _, project = app.project_for(req, REPORTER)
        _, j = _job(project, req.params["jid"])
        return Response.text(j.trace)

    def schedules(req: Request) -> Response:
        # GET /projects/:id/pipeline_schedules (https://docs.gitlab.com/api/pipeline_schedules/)
        _, project = app.project_for(req, REPORTER)
        scope = req.arg("scope")
        rows = [s for s in project.pipeline_schedules
                if scope in (None, "") or (scope == "active") == bool(s.get("active"))]
        return offset_page(req, app.base_url, rows, lambda s: entities.pipeline_schedule(app, s))

    def schedule(req: Request) -> Response:
        # GET /projects/:id/pipeline_schedules/:schedule_id, with `variables` (doc/api/pipeline_schedules.md).
        # Modelled as Maintainer-only (variables are values): below it, 403 — the scan must report it.
        _, project = app.project_for(req, MAINTAINER)
        found = [s for s in project.pipeline_schedules if str(s["id"]) == req.params["sid"]]
        if not found:
            raise ApiError(404, "404 Pipeline Schedule Not Found")
        return Response.json(entities.pipeline_schedule(app, found[0], details=True))

    app.route("GET", PROJECT + r"/pipeline_schedules", schedules)
    app.route("GET", PROJECT + r"/pipeline_schedules/(?P<sid>\d+)", schedule)
    app.route("POST", PROJECT + r"/pipeline", create)
    app.route("GET", PIPELINES, listing)
    app.route("GET", PIPELINES + "/latest", latest)
    app.route("GET", PIPELINE, get)
    app.route("GET", PIPELINE + "/jobs", jobs)
    app.route("GET", PROJECT + r"/jobs", project_jobs)
    app.route("GET", JOB, job)
    app.route("GET", JOB + "/trace", trace)
    app.route("POST", JOB + "/play", play)
