"""`GitLabApp`: the GitLab REST API v4 emulator (routes in `routes/`, state in `state.py`).

Per request: rate limit (sliding window per token, 429 + Retry-After) → authentication
(`PRIVATE-TOKEN` or `Authorization: Bearer`, else 401) → route handler under `self.lock` →
pipelines the handler created are handed to `pipeline_runner` outside the lock. Handlers raise
`ApiError` for GitLab's error answers. Routes are matched on the *encoded* path, because GitLab
ids may be URL-encoded paths (`acme%2Fapi`) and file paths contain slashes.

Test helpers (no HTTP): `project()`, `group()`, `file()`, `set_file()`, `pipelines()`,
`merge_requests()`, `variables()`, `user()`, `mint_id_token()`, `rate_limit()`.
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

from migrate.sandbox.clock import Clock
from migrate.sandbox.gitlab import lint as lint_mod
from migrate.sandbox.gitlab.build import build_state
from migrate.sandbox.gitlab.model import Job, Pipeline, Project, User, Variable
from migrate.sandbox.gitlab.oidc import Issuer, deployment_tier
from migrate.sandbox.gitlab.repo import Commit, CommitAction
from migrate.sandbox.gitlab.state import GitLabState
from migrate.sandbox.http import App, Request, Response
from migrate.sandbox.keys import KeyStore

PipelineRunner = Callable[["GitLabApp", Project, Pipeline], None]
NO_RUNNER_TRACE = "no runner: authentication not executed\n"
UNAUTHENTICATED = ("/.well-known/", "/oauth/discovery/", "/_sandbox/", "/-/jwks")
# The Projects, Groups and Users API throttles send no RateLimit-* headers (gitlab.md §5).
_SILENT_THROTTLES = re.compile(r"^/(projects(/[^/]+)?|groups(/[^/]+(/projects)?)?|users(/.*)?|user)$")


class ApiError(Exception):
    """An error answer: `{"message": ...}` (or `{"error": ...}` for parameter errors)."""

    def __init__(self, status: int, message: Any, field: str = "message") -> None:
        super().__init__(f"{status} {message}")
        self.status, self.message, self.field = status, message, field


INSUFFICIENT_SCOPE = "The request requires higher privileges than provided by the access token."


class InsufficientScope(Exception):
    """The token's scopes do not cover the request (403 `insufficient_scope`)."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class GitLabApp(App):
    name = "gitlab"

    def __init__(self, spec: dict[str, Any], keys: KeyStore, clock: Clock,
                 rate_limit_rpm: int | None = None) -> None:
        super().__init__()
        self.spec = spec or {}
        self.keys = keys
        self.clock = clock
        self.db: GitLabState = build_state(self.spec, keys, clock)
        self.issuer_override: str | None = self.spec.get("issuer_url")
        self.issuer_keys = Issuer()
        self.pipeline_runner: PipelineRunner | None = None
        # token_uri written into sandbox key files; the launcher may point it at the Google sandbox.
        self.key_token_uri = "https://oauth2.googleapis.com/token"
        self.rate_limit_rpm = rate_limit_rpm
        self.rate_limit_window_s = 60.0
        self._hits: dict[str, collections.deque[float]] = {}
        self._hits_lock = threading.Lock()
        self._local = threading.local()
        from migrate.sandbox.gitlab.routes import register_all
        register_all(self)

    # --- dispatch --------------------------------------------------------------------------
    def dispatch(self, req: Request) -> Response:
        for hook in self.before:
            early = hook(req)
            if early is not None:
                return early
        if req.path.startswith("/api/") and self.rate_limit_rpm:
            limited = self._throttle(req)
            if limited is not None:
                return limited
        self._local.pending = []
        try:
            resp = self._route(req)
        except InsufficientScope as exc:
            resp = Response.json({"error": "insufficient_scope",
                                  "error_description": INSUFFICIENT_SCOPE, "scope": exc.scope}, 403)
            resp.headers["WWW-Authenticate"] = (f'Bearer realm="", error="insufficient_scope", '
                                                f'error_description="{INSUFFICIENT_SCOPE}", scope="{exc.scope}"')
        except ApiError as exc:
            resp = Response.json({exc.field: exc.message}, exc.status)
        pending: list[tuple[Project, Pipeline]] = self._local.pending
        self._local.pending = []
        for project, pipeline in pending:
            self.run_pipeline(project, pipeline)
        if req.path.startswith("/api/") and self.rate_limit_rpm:
            self._rate_headers(req, resp)
        return resp

    def _route(self, req: Request) -> Response:
        allowed = False
        for method, pattern, handler in self.routes:
            m = pattern.match(req.raw_path)
            if m is None:
                continue
            allowed = True
            if method != req.method:
                continue
            req.params = {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
            if not req.path.startswith(UNAUTHENTICATED) and req.path.startswith("/api/"):
                self._check_scope(req, self.current_user(req))
            with self.lock:
                return handler(req)
        if allowed:
            raise ApiError(405, "405 Method Not Allowed")
        raise ApiError(404, "404 Not Found")

    def error(self, status: int, message: str) -> Response:
        return Response.json({"message": message if status != 404 else "404 Not Found"}, status)

    # --- authentication and permissions ----------------------------------------------------
    def token_of(self, req: Request) -> str | None:
        token = req.headers.get("private-token")
        if token:
            return token
        auth = req.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def current_user(self, req: Request) -> User:
        token = self.token_of(req)
        user = self.db.tokens.get(token or "")
        if user is None:
            raise ApiError(401, "401 Unauthorized")
        return user

    def _check_scope(self, req: Request, user: User) -> None:
        """GitLab's API guard: `api` allows everything, `read_api` only GET/HEAD, `read_user` only
        GET /user and GET /version (lib/api/version.rb: `allow_access_with_scope :read_user, if:
        request.get? || request.head?`); any token may read `/personal_access_tokens/self`. The refusal is GitLab's OAuth
        error body, whose `scope` lists every scope the route accepts in some case (so a write
        refused to a `read_api` token still says "api read_api")."""
        if req.path == "/api/v4/personal_access_tokens/self" or "api" in user.scopes:
            return
        read = req.method in ("GET", "HEAD")
        if read and "read_api" in user.scopes:
            return
        accepted = "api read_api"
        if req.path in ("/api/v4/user", "/api/v4/version"):
            if read and "read_user" in user.scopes:
                return
            accepted = "read_user api read_api"
        raise InsufficientScope(accepted)

    def project_for(self, req: Request, min_level: int = 10, key: str = "pid") -> tuple[User, Project]:
        """The route's project, or GitLab's 404 (invisible) / 403 (role too low)."""
        user = self.current_user(req)
        project = self.db.find_project(req.params[key])
        level = self.db.project_level(user, project) if project else -1
        if project is None or level < 0:
            raise ApiError(404, "404 Project Not Found")
        if level < min_level:
            raise ApiError(403, "403 Forbidden")
        return user, project

    # --- rate limiting -----------------------------------------------------------------------
    def rate_limit(self, rpm: int | None, window_s: float = 60.0) -> None:
        """Change the limit at run time (tests): `rpm` requests per `window_s` seconds, per token."""
        with self._hits_lock:
            self.rate_limit_rpm, self.rate_limit_window_s = rpm, window_s
            self._hits.clear()

    def _throttle(self, req: Request) -> Response | None:
        key = self.token_of(req) or "anonymous"
        now = time.monotonic()
        limit = self.rate_limit_rpm or 0
        with self._hits_lock:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - self.rate_limit_window_s:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return None
            wait = max(1, math.ceil(hits[0] + self.rate_limit_window_s - now))
        reset = int(time.time()) + wait
        resp = Response.text("Retry later\n", 429)
        resp.headers.update({
            "Retry-After": str(wait), "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(limit), "RateLimit-Observed": str(limit + 1),
            "RateLimit-Remaining": "0", "RateLimit-Reset": str(reset),
            "RateLimit-ResetTime": formatdate(reset, usegmt=True)})
        return resp

    def _rate_headers(self, req: Request, resp: Response) -> None:
        # GitLab's Projects, Groups and Users API throttles send no informational headers.
        if resp.status == 429 or _SILENT_THROTTLES.match(req.raw_path[len("/api/v4"):]):
            return
        with self._hits_lock:
            hits = self._hits.get(self.token_of(req) or "anonymous") or collections.deque()
            observed = len(hits)
            reset = int(time.time() + (hits[0] + self.rate_limit_window_s - time.monotonic())
                        if hits else time.time())
        limit = self.rate_limit_rpm or 0
        resp.headers.update({"RateLimit-Name": "throttle_authenticated_api",
                             "RateLimit-Limit": str(limit), "RateLimit-Observed": str(observed),
                             "RateLimit-Remaining": str(max(0, limit - observed)),
                             "RateLimit-Reset": str(reset)})

    # --- values --------------------------------------------------------------------------------
    def variable_value(self, var: Variable) -> str | None:
        """The stored value; a sandbox key variable renders its key file (json or base64)."""
        if var.sa_key is None:
            return var.value
        issued = self.keys.by_id(var.sa_key.key_id)
        if issued is None:
            return var.value
        if var.sa_key.encoding == "base64":
            return issued.key_file_base64(self.key_token_uri)
        return issued.key_file_json(self.key_token_uri)

    def now(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{self.clock.now().microsecond // 1000:03d}Z"

    @property
    def issuer(self) -> str:
        return (self.issuer_override or self.base_url).rstrip("/")

    # --- pipelines -------------------------------------------------------------------------------
    def create_pipeline(self, project: Project, ref: str, source: str, user: User | None,
                        variables: dict[str, str] | None = None) -> Pipeline:
        """A pipeline for `ref`'s head with jobs from the CI config; raises ApiError on bad config.

        Call under the lock; the runner is invoked after the current request releases it.
        """
        commit = project.repo.resolve(ref)
        if commit is None:
            raise ApiError(400, {"base": ["Reference not found"]})
        config = lint_mod.pipeline_config(self, project, commit)
        if config is None:
            raise ApiError(400, {"base": ["Missing CI config file"]})
        content, ctx_project, ctx_commit = config
        result = lint_mod.lint(self, user, ctx_project, content, ctx_commit)
        now = self.now()
        st = self.db
        pipeline = Pipeline(id=st.ids.take("pipeline"), iid=len(project.pipelines) + 1,
                            project_id=project.id, sha=commit.id, ref=ref, source=source,
                            created_at=now, updated_at=now, status="created",
                            user=user.username if user else None, variables=dict(variables or {}),
                            tag=ref in project.repo.tags and ref not in project.repo.branches,
                            before_sha=commit.parent_ids[0] if commit.parent_ids else "0" * 40)
        project.pipelines.append(pipeline)
        project.last_activity_at = now
        if not result.valid:
            pipeline.status, pipeline.yaml_errors = "failed", "; ".join(result.errors)
            pipeline.finished_at = now
            return pipeline
        for job in result.jobs:
            pipeline.jobs.append(Job(
                id=st.ids.take("job"), name=job["name"], stage=job["stage"], pipeline_id=pipeline.id,
                project_id=project.id, ref=ref, sha=commit.id, created_at=now,
                allow_failure=bool(job.get("allow_failure", False)),
                environment=_env_name(job.get("environment")), tag_list=list(job.get("tag_list") or []),
                when=str(job.get("when") or "on_success"), user=pipeline.user,
                config=job.get("config", {})))
        pending = getattr(self._local, "pending", None)
        if pending is None:
            self.run_pipeline(project, pipeline)
        else:
            pending.append((project, pipeline))
        return pipeline

    def maybe_push_pipeline(self, project: Project, branch: str, commit: Commit, user: User) -> None:
        """Push pipelines, as GitLab runs them: not for `[skip ci]`, not without a CI config."""
        if "[skip ci]" in commit.message or "[ci skip]" in commit.message:
            return
        if lint_mod.pipeline_config(self, project, commit) is None:
            return
        self.create_pipeline(project, branch, "push", user)

    def run_pipeline(self, project: Project, pipeline: Pipeline) -> None:
        """Hand the pipeline to `pipeline_runner`, or pass every job with the no-runner trace."""
        if pipeline.status != "created":
            return
        runner = self.pipeline_runner
        if runner is None:
            with self.lock:
                for job in pipeline.jobs:
                    self.finish_job(job, "success", NO_RUNNER_TRACE)
                self.update_pipeline_status(pipeline)
            return
        try:
            runner(self, project, pipeline)
        except Exception as exc:  # a runner bug fails the pipeline visibly instead of hanging it
            with self.lock:
                for job in pipeline.jobs:
                    if job.status in ("created", "pending", "running"):
                        self.finish_job(job, "failed", f"sandbox runner error: {type(exc).__name__}\n",
                                        failure_reason="runner_system_failure")
        with self.lock:
            self.update_pipeline_status(pipeline)

    def finish_job(self, job: Job, status: str, trace: str, failure_reason: str | None = None) -> None:
        now = self.now()
        job.started_at = job.started_at or now
        job.finished_at, job.status = now, status
        job.trace += trace
        if status == "failed":
            job.failure_reason = failure_reason or "script_failure"

    def update_pipeline_status(self, pipeline: Pipeline) -> None:
        """Derive the pipeline status from its jobs (GitLab's composite status, simplified)."""
        statuses = [j.status for j in pipeline.jobs if not (j.status == "failed" and j.allow_failure)]
        if pipeline.status == "failed" and not pipeline.jobs:
            return
        if any(s in ("created", "pending", "running") for s in statuses):
            pipeline.status = "running" if any(s == "running" for s in statuses) else pipeline.status
            return
        if any(s == "failed" for s in statuses):
            pipeline.status = "failed"
        elif any(s == "canceled" for s in statuses):
            pipeline.status = "canceled"
        elif statuses and all(s == "skipped" for s in statuses):
            pipeline.status = "skipped"
        else:
            pipeline.status = "success"
        pipeline.started_at = pipeline.started_at or pipeline.created_at
        pipeline.finished_at = pipeline.updated_at = self.now()

    def ci_variables(self, project: Project, ref: str, environment: str | None = None) -> dict[str, Variable]:
        """The CI/CD variables a job on `ref` (in `environment`) receives, by GitLab's precedence.

        Instance < group (farther ancestors first) < project; protected ones only on protected
        refs; `environment_scope` matched as GitLab does (`*` wildcard, exact names).
        """
        protected = self.ref_protected(project, ref)
        out: dict[str, Variable] = {}
        chain = list(reversed(self.db.ancestors(self.db.groups[project.namespace_id])))
        layers = [self.db.instance_variables, *[g.variables for g in chain], project.variables]
        for layer in layers:
            best: dict[str, Variable] = {}
            for var in layer:
                if var.protected and not protected:
                    continue
                if not _scope_matches(var.environment_scope, environment):
                    continue
                prev = best.get(var.key)
                if prev is None or _specificity(var.environment_scope) > _specificity(prev.environment_scope):
                    best[var.key] = var
            out.update(best)
        return out

    @staticmethod
    def ref_protected(project: Project, ref: str, tag: bool | None = None) -> bool:
        """A protected branch or a protected tag (names or wildcards; doc/user/project/protected_tags.md:
        pipelines on protected tags get protected variables, and `ref_protected` is "true")."""
        import fnmatch

        is_tag = (ref in project.repo.tags and ref not in project.repo.branches) if tag is None else tag
        patterns = project.protected_tags if is_tag else project.protected_branches
        return any(ref == p or fnmatch.fnmatchcase(ref, p) for p in patterns)

    # --- OIDC ------------------------------------------------------------------------------------
    def version_at_least(self, major: int, minor: int) -> bool:
        """Whether the emulated instance is at least `major.minor` (the org file's `version`)."""
        return _version_at_least(self.db.version, major, minor)

    def offers_ci_job_jwt_v2(self) -> bool:
        """`CI_JOB_JWT_V2` is given to jobs from 14.7 until its removal in 17.0
        (doc/update/deprecations.md "Old versions of JSON web tokens are deprecated")."""
        return self.version_at_least(14, 7) and not self.version_at_least(17, 0)

    def mint_id_token(self, project: Project | str, *, ref: str, ref_type: str = "branch",
                      ref_protected: bool | None = None, environment: str | None = None,
                      environment_protected: bool = False, audience: str | list[str],
                      pipeline_source: str = "push", user_login: str | None = None, ttl: int = 300,
                      pipeline: Pipeline | None = None, job: Job | None = None,
                      sha: str | None = None, jwt_v2: bool = False) -> str:
        """A CI job ID token as GitLab would issue it for a job of `project` on `ref`.

        `jwt_v2=True`: the `CI_JOB_JWT_V2` variable of 14.7–16.11 instead (`lib/gitlab/ci/jwt_v2.rb`
        of those versions): `iss` and the default `aud` are `Settings.gitlab.base_url` (no
        `ci_id_tokens` issuer override existed) and `sub` is always `project_path:…:ref_type:…:ref:…`."""
        with self.lock:
            p = self.project(project) if isinstance(project, str) else project
            group = self.db.groups[p.namespace_id]
            user = self.db.users.get(user_login or "") or next(iter(self.db.users.values()))
            commit = p.repo.resolve(sha or ref)
            protected = self.ref_protected(p, ref, ref_type == "tag") if ref_protected is None else ref_protected
            level = max(self.db.project_level(user, p), 0)
            role = {50: "owner", 40: "maintainer", 30: "developer", 20: "reporter", 10: "guest"}
            access = next((name for lvl, name in role.items() if level >= lvl), "guest")
            now = int(self.clock.time())
            ref_path = f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}"
            host = self.issuer.split("://", 1)[-1]
            own_config = not (p.ci_config_path and "@" in p.ci_config_path)
            config_file = p.ci_config_path or ".gitlab-ci.yml"
            values = {"project_path": p.path_with_namespace, "project_id": str(p.id),
                      "ref_type": ref_type, "ref": ref, "ref_protected": str(protected).lower(),
                      "namespace_id": str(group.id), "namespace_path": group.full_path}
            if environment:
                values.update({"environment": environment,
                               "environment_protected": str(environment_protected).lower(),
                               "deployment_tier": deployment_tier(environment)})
            components = (["project_path", "ref_type", "ref"] if jwt_v2
                          else p.ci_id_token_sub_claim_components)
            sub = ":".join(f"{c}:{values[c]}" for c in components if values.get(c) is not None)
            issuer = self.base_url.rstrip("/") if jwt_v2 else self.issuer
            claims: dict[str, Any] = {
                "namespace_id": str(group.id), "namespace_path": group.full_path,
                "project_id": str(p.id), "project_path": p.path_with_namespace,
                "user_id": str(user.id), "user_login": user.username, "user_email": user.email,
                "user_access_level": access,
                "pipeline_id": str(pipeline.id if pipeline else self.db.ids.take("pipeline")),
                "pipeline_source": pipeline_source,
                "job_id": str(job.id if job else self.db.ids.take("job")),
                "ref": ref, "ref_type": ref_type, "ref_path": ref_path,
                "ref_protected": str(protected).lower(),
                "runner_id": 1, "runner_environment": "self-hosted",
                "sha": commit.id if commit else "0" * 40,
                "ci_config_ref_uri": f"{host}/{p.path_with_namespace}//{config_file}@{ref_path}"
                if own_config else None,
                "ci_config_sha": (commit.id if commit else None) if own_config else None,
                "project_visibility": p.visibility,
                "jti": str(uuid.uuid4()), "iss": issuer, "iat": now, "nbf": now - 5,
                "exp": now + ttl, "sub": sub, "aud": audience,
            }
            if environment:
                claims.update({"environment": environment,
                               "environment_protected": str(environment_protected).lower(),
                               "deployment_tier": deployment_tier(environment),
                               "environment_action": "start"})
            if _version_at_least(self.db.version, 18, 4):
                claims.update({"job_project_id": str(p.id), "job_project_path": p.path_with_namespace,
                               "job_namespace_id": str(group.id), "job_namespace_path": group.full_path})
        return self.issuer_keys.sign(claims)

    # --- test helpers (no HTTP) ----------------------------------------------------------------------
    def project(self, path: str | int) -> Project:
        project = self.db.find_project(path)
        if project is None:
            raise KeyError(f"no project {path!r}")
        return project

    def group(self, path: str | int) -> Any:
        group = self.db.find_group(path)
        if group is None:
            raise KeyError(f"no group {path!r}")
        return group

    def user(self, username: str) -> User:
        return self.db.users[username]

    def file(self, project: Project | str, path: str, ref: str | None = None) -> str | None:
        """A file's text at `ref` (default branch by default); None when absent."""
        with self.lock:
            p = self.project(project) if isinstance(project, str) else project
            commit = p.repo.resolve(ref or p.default_branch)
            if commit is None or path not in commit.files:
                return None
            return commit.files[path].decode("utf-8", errors="replace")

    def set_file(self, project: Project | str, path: str, content: str | None, *,
                 branch: str | None = None, message: str = "sandbox: edit",
                 username: str | None = None, pipeline: bool = False) -> Commit:
        """Commit one file change (None deletes it) as `username`; optionally run a push pipeline."""
        with self.lock:
            p = self.project(project) if isinstance(project, str) else project
            user = self.db.users.get(username or "") or next(iter(self.db.users.values()))
            name = branch or p.default_branch
            head = p.repo.head(name)
            base = head or p.repo.head(p.default_branch)  # a new branch starts from the default one
            exists = base is not None and path in base.files
            action = CommitAction("delete" if content is None else "update" if exists else "create", path,
                            None if content is None else content.encode())
            commit = p.repo.commit(branch=name, message=message, author=(user.name, user.commit_email_or_default),
                                   created_at=self.now(), actions=[action],
                                   start=None if head else p.repo.head(p.default_branch))
            p.last_activity_at = commit.created_at
            self._local.pending = []
            if pipeline:
                self.maybe_push_pipeline(p, name, commit, user)
            pending, self._local.pending = self._local.pending, []
        for proj, pl in pending:
            self.run_pipeline(proj, pl)
        return commit

    def pipelines(self, project: Project | str) -> list[Pipeline]:
        p = self.project(project) if isinstance(project, str) else project
        return list(p.pipelines)

    def merge_requests(self, project: Project | str) -> list[Any]:
        p = self.project(project) if isinstance(project, str) else project
        return list(p.merge_requests)

    def variables(self, owner: str) -> list[Variable]:
        """`instance`, a group path or a project path."""
        if owner == "instance":
            return self.db.instance_variables
        project = self.db.find_project(owner)
        if project is not None:
            return project.variables
        return list(self.group(owner).variables)

    def state(self) -> Any:
        from migrate.sandbox.gitlab.dump import dump_state
        with self.lock:
            return dump_state(self)


def _env_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("name")) if value.get("name") else None
    return str(value) if value else None


def _scope_matches(scope: str, environment: str | None) -> bool:
    if scope == "*":
        return True
    if environment is None:
        return False
    import fnmatch
    return fnmatch.fnmatchcase(environment, scope)


def _specificity(scope: str) -> int:
    return 0 if scope == "*" else (1 if "*" in scope else 2)


def _version_at_least(version: str, major: int, minor: int) -> bool:
    parts = version.split(".")
    try:
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False
