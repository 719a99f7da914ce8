"""The sandbox's pipeline runner: jobs pass or fail on whether their Google sign-in really works.

Installed as `GitLabApp.pipeline_runner` by the launcher (`install(app, google_url)`). The GitLab
emulator creates a pipeline (branch push, merge, or `POST /projects/:id/pipeline`) with its jobs
and their resolved YAML, then calls the runner outside its lock. For each job the runner:

1. decides whether the job runs (`rules:`/`only:`/`except:`/`when:`, `workflow:rules`; see
   jobrules.py) — jobs the rules exclude are removed, as GitLab never creates them; manual jobs
   stay `manual`; a failed stage skips later `on_success` jobs;
2. builds the job's environment as a runner would: predefined `CI_*` variables, top-level and job
   `variables:`, then the CI/CD variables GitLab gives that job (instance → groups → project,
   `environment_scope` against the job's `environment:`, protected ones on protected refs only;
   file-type variables become files), and one ID token per `id_tokens:` entry, minted by the GitLab
   emulator with the job's real claims (project, ref, ref protection, environment, source);
3. runs `before_script` + `script` through the sandbox shell (jobscript.py), which executes the
   authentication steps for real against the Google emulator and nothing else;
4. finishes the job `success` or `failed` with a trace that says what happened. Traces carry
   service accounts and key ids, never a variable's value (values are also masked defensively).

What is interpreted and what is not: docs/sandbox-pipelines.md.
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from migrate.sandbox.jobrules import RuleDecision, RuleSyntaxError, decide, glob_exists, workflow_allows
from migrate.sandbox.jobscript import AuthAttempt, GoogleEndpoints, GoogleSignIn, Shell

log = logging.getLogger(__name__)

DEFAULT_STAGES = [".pre", "build", "test", "deploy", ".post"]
_DEFAULT_KEYS = ("before_script", "after_script", "id_tokens", "image", "services", "tags", "timeout",
                 "retry", "interruptible", "cache", "artifacts", "hooks", "identity")
BUILDS_DIR = "/builds"


@dataclass
class JobRun:
    """What the runner decided and did for one job (kept for tests and `/_sandbox/state`)."""

    name: str
    status: str
    decision: str
    auth: list[AuthAttempt] = field(default_factory=list)
    trace: str = ""


def _slug(ref: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ref.lower())[:63].strip("-")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            out.extend(_as_list(v))
        return out
    return [str(value)]


def _environment_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    return str(value) if value else None


def _expand(text: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)",
                  lambda m: env.get(m.group(1) or m.group(2), ""), text)


def ref_is_protected(protected_branches: Sequence[str] | set[str], ref: str) -> bool:
    """Protected branch names may be wildcards (`release/*`)."""
    return any(ref == p or fnmatch.fnmatchcase(ref, p) for p in protected_branches)


class Masker:
    """Replaces secret values in traces with [MASKED] (GitLab masks masked variables; we mask all
    CI/CD variable values and ID tokens, and any PEM block, whatever their settings)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 8:
            self.secrets.add(value)
            for line in value.splitlines():
                if len(line.strip()) >= 16:
                    self.secrets.add(line.strip())

    def __call__(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(s, "[MASKED]")
        return re.sub(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
                      "[MASKED]", text, flags=re.S)


class SandboxPipelineRunner:
    """`GitLabApp.pipeline_runner`: runs each job's authentication steps against Google."""

    def __init__(self, google: str | GoogleEndpoints) -> None:
        self.endpoints = GoogleEndpoints.single(google) if isinstance(google, str) else google
        self.runs: dict[int, list[JobRun]] = {}  # pipeline id → what happened

    # --- entry point --------------------------------------------------------------------------
    def __call__(self, app: Any, project: Any, pipeline: Any) -> None:
        with app.lock:
            config = self._global_config(app, project, pipeline)
            ctx = self._context(app, project, pipeline)
        base_env = self._predefined(ctx, pipeline)
        self._yaml_variables(base_env, config.get("variables"))
        exists = glob_exists(list(ctx["files"]))
        try:
            workflow = workflow_allows(config.get("workflow"), base_env, exists)
        except RuleSyntaxError as exc:
            workflow = RuleDecision(None, f"workflow rules: {exc}")
        runs: list[JobRun] = []
        self.runs[pipeline.id] = runs
        stages = self._stages(config)
        jobs = sorted(list(pipeline.jobs), key=lambda j: stages.index(j.stage) if j.stage in stages else 99)
        failed_stage: int | None = None
        for job in jobs:
            job_cfg = self._job_config(job, config)
            if workflow.when is None:
                self._drop(app, pipeline, job, runs, f"workflow: {workflow.reason}")
                continue
            env, _files, _names = self._job_env(app, project, pipeline, job, job_cfg, config, ctx,
                                                None, Masker())
            try:
                decision = decide(job_cfg, env, pipeline.ref, ctx["ref_type"], pipeline.source, exists)
            except RuleSyntaxError as exc:
                decision = RuleDecision(None, str(exc))
            if decision.when is None:
                self._drop(app, pipeline, job, runs, decision.reason)
                continue
            stage_index = stages.index(job.stage) if job.stage in stages else 99
            earlier_failed = failed_stage is not None and failed_stage < stage_index
            if decision.when == "manual":
                self._finish(app, job, runs, JobRun(job.name, "manual", decision.reason), status="manual")
                continue
            if (decision.when == "on_success" and earlier_failed) or \
                    (decision.when == "on_failure" and not earlier_failed):
                self._finish(app, job, runs, JobRun(job.name, "skipped", decision.reason), status="skipped")
                continue
            run = self._run_job(app, project, pipeline, job, job_cfg, config, ctx, env, decision)
            self._finish(app, job, runs, run, status=run.status)
            allow = decision.allow_failure if decision.allow_failure is not None else job.allow_failure
            if run.status == "failed" and not allow:
                failed_stage = stage_index if failed_stage is None else min(failed_stage, stage_index)

    def play(self, app: Any, project: Any, pipeline: Any, job: Any) -> None:
        """Run one manual job that a user played (its rules already created it as manual)."""
        with app.lock:
            config = self._global_config(app, project, pipeline)
            ctx = self._context(app, project, pipeline)
        job_cfg = self._job_config(job, config)
        env, _files, _names = self._job_env(app, project, pipeline, job, job_cfg, config, ctx, None, Masker())
        decision = RuleDecision("on_success", "played by a user")
        run = self._run_job(app, project, pipeline, job, job_cfg, config, ctx, env, decision)
        self._finish(app, job, self.runs.setdefault(pipeline.id, []), run, status=run.status)

    # --- configuration ------------------------------------------------------------------------
    def _global_config(self, app: Any, project: Any, pipeline: Any) -> dict[str, Any]:
        """The pipeline's merged configuration (includes resolved) for top-level sections."""
        try:
            from migrate.sandbox.gitlab import ciyaml, lint
        except ImportError:  # pragma: no cover - the GitLab emulator always ships both
            return {}
        commit = project.repo.resolve(pipeline.sha)
        try:
            found = lint.pipeline_config(app, project, commit)
            if found is None:
                return {}
            content, ctx_project, ctx_commit = found
            user = app.db.users.get(pipeline.user or "") or next(iter(app.db.users.values()))
            result = lint.lint(app, user, ctx_project, content, ctx_commit)
            merged = getattr(result, "merged_yaml", None)
            data = ciyaml.load(merged) if merged else ciyaml.load(content)
            return ciyaml.finish(data) if isinstance(data, dict) else {}
        except Exception as exc:  # the emulator already validated the config; be robust here
            log.warning("pipeline %s: cannot re-read the merged config (%s)", pipeline.id, exc)
            return {}

    def _stages(self, config: Mapping[str, Any]) -> list[str]:
        stages = config.get("stages")
        if not isinstance(stages, list):
            return DEFAULT_STAGES
        inner = [str(s) for s in stages if s not in (".pre", ".post")]
        return [".pre", *inner, ".post"]

    def _job_config(self, job: Any, config: Mapping[str, Any]) -> dict[str, Any]:
        """The job's mapping with `default:` (and deprecated top-level keys) applied."""
        job_cfg = dict(job.config or config.get(job.name) or {})
        default = dict(config.get("default") or {}) if isinstance(config.get("default"), Mapping) else {}
        for key in ("before_script", "after_script", "image", "services", "cache"):
            if key in config and key not in default:
                default[key] = config[key]
        inherit = job_cfg.get("inherit") or {}
        allowed = inherit.get("default", True) if isinstance(inherit, Mapping) else True
        for key in _DEFAULT_KEYS:
            if key in job_cfg or key not in default:
                continue
            if allowed is True or (isinstance(allowed, list) and key in allowed):
                job_cfg[key] = default[key]
        return job_cfg

    def _context(self, app: Any, project: Any, pipeline: Any) -> dict[str, Any]:
        commit = project.repo.resolve(pipeline.sha)
        group = app.db.groups[project.namespace_id]
        ref_type = "tag" if getattr(pipeline, "tag", False) else "branch"
        return {
            "project_id": project.id, "project_path": project.path_with_namespace,
            "project_name": project.path, "namespace": group.full_path,
            "default_branch": project.default_branch, "ref_type": ref_type,
            "ref_protected": ref_is_protected(
                getattr(project, "protected_tags", set()) if ref_type == "tag" else project.protected_branches,
                pipeline.ref),
            "files": list(commit.files) if commit else [], "server_url": app.base_url,
        }

    @staticmethod
    def _predefined(ctx: Mapping[str, Any], pipeline: Any) -> dict[str, str]:
        """Pipeline-level predefined variables (doc/ci/variables/predefined_variables.md)."""
        env = {
            "CI": "true", "GITLAB_CI": "true", "HOME": "/root", "CI_BUILDS_DIR": BUILDS_DIR,
            "CI_PROJECT_DIR": f"{BUILDS_DIR}/{ctx['project_path']}", "CI_SERVER_URL": ctx["server_url"],
            "CI_PROJECT_ID": str(ctx["project_id"]), "CI_PROJECT_PATH": ctx["project_path"],
            "CI_PROJECT_NAME": ctx["project_name"], "CI_PROJECT_NAMESPACE": ctx["namespace"],
            "CI_DEFAULT_BRANCH": ctx["default_branch"] or "", "CI_PIPELINE_ID": str(pipeline.id),
            "CI_PIPELINE_IID": str(pipeline.iid), "CI_PIPELINE_SOURCE": pipeline.source,
            "CI_COMMIT_SHA": pipeline.sha, "CI_COMMIT_SHORT_SHA": pipeline.sha[:8],
            "CI_COMMIT_REF_NAME": pipeline.ref, "CI_COMMIT_REF_SLUG": _slug(pipeline.ref),
            "CI_COMMIT_REF_PROTECTED": str(ctx["ref_protected"]).lower(),
        }
        env["CI_COMMIT_TAG" if ctx["ref_type"] == "tag" else "CI_COMMIT_BRANCH"] = pipeline.ref
        return env

    @staticmethod
    def _yaml_variables(env: dict[str, str], scope: Any) -> None:
        if isinstance(scope, Mapping):
            for k, v in scope.items():
                value = v.get("value", "") if isinstance(v, Mapping) else v
                env[str(k)] = _expand("" if value is None else str(value), env)

    # --- one job ------------------------------------------------------------------------------
    def _job_env(self, app: Any, project: Any, pipeline: Any, job: Any, job_cfg: Mapping[str, Any],
                 config: Mapping[str, Any], ctx: Mapping[str, Any], environment: str | None,
                 masker: Masker) -> tuple[dict[str, str], dict[str, str], set[str]]:
        """(environment variables, files, names of CI/CD variables) for the job."""
        env = self._predefined(ctx, pipeline)
        env.update({"CI_JOB_NAME": job.name, "CI_JOB_STAGE": job.stage, "CI_JOB_ID": str(job.id)})
        if environment:
            env["CI_ENVIRONMENT_NAME"] = environment
            env["CI_ENVIRONMENT_SLUG"] = _slug(environment)
        self._yaml_variables(env, config.get("variables"))
        self._yaml_variables(env, job_cfg.get("variables"))
        files: dict[str, str] = {}
        with app.lock:
            ci_vars = app.ci_variables(project, pipeline.ref, environment)
            values = {k: (var, app.variable_value(var)) for k, var in ci_vars.items()}
        for key, (var, value) in values.items():
            value = value or ""
            if var.masked or var.hidden or var.sa_key is not None or var.variable_type == "file" \
                    or len(value) >= 64:  # GitLab masks masked variables; we also mask key-like values
                masker.add(value)
            if var.variable_type == "file":
                path = f"{BUILDS_DIR}/{ctx['project_path']}.tmp/{key}"
                files[path] = value
                env[key] = path
            else:
                env[key] = value
        for key, value in (pipeline.variables or {}).items():
            env[str(key)] = str(value)
        return env, files, set(values)

    def _mint(self, app: Any, project: Any, pipeline: Any, job: Any, ctx: Mapping[str, Any],
              environment: str | None, audience: Any, jwt_v2: bool = False) -> str:
        kwargs: dict[str, Any] = {
            "ref": pipeline.ref, "ref_type": ctx["ref_type"], "ref_protected": ctx["ref_protected"],
            "environment": environment, "environment_protected": False, "audience": audience,
            "pipeline_source": pipeline.source, "user_login": pipeline.user, "pipeline": pipeline,
            "job": job, "sha": pipeline.sha,
        }
        if jwt_v2:
            kwargs["jwt_v2"] = True
        accepted = inspect.signature(app.mint_id_token).parameters
        return str(app.mint_id_token(project, **{k: v for k, v in kwargs.items() if k in accepted}))

    def _run_job(self, app: Any, project: Any, pipeline: Any, job: Any, job_cfg: Mapping[str, Any],
                 config: Mapping[str, Any], ctx: Mapping[str, Any], rule_env: Mapping[str, str],
                 decision: RuleDecision) -> JobRun:
        lines: list[str] = []
        masker = Masker()
        environment = _environment_name(job_cfg.get("environment"))
        env, files, ci_names = self._job_env(app, project, pipeline, job, job_cfg, config, ctx,
                                              None, masker)
        if environment:
            environment = _expand(environment, env)
            env, files, ci_names = self._job_env(app, project, pipeline, job, job_cfg, config, ctx,
                                                  environment, masker)
        if decision.variables:
            env.update(decision.variables)
        emit = lines.append
        emit("Running with the wif-migrate sandbox runner (authentication steps only)")
        emit(f"Job {job.name!r} of pipeline #{pipeline.id}: {ctx['ref_type']} {pipeline.ref} "
             f"(protected: {str(ctx['ref_protected']).lower()}), source {pipeline.source}"
             + (f", environment {environment}" if environment else ""))
        emit(f"Rules: {decision.reason}")
        if ci_names:
            emit("CI/CD variables: " + ", ".join(sorted(ci_names)))
        id_tokens = job_cfg.get("id_tokens")
        if isinstance(id_tokens, Mapping):
            for name, spec in id_tokens.items():
                aud = spec.get("aud") if isinstance(spec, Mapping) else None
                if aud is None:
                    emit(f"ERROR: id_tokens:{name}: aud is required")
                    return JobRun(job.name, "failed", decision.reason, [], self._trace(lines, masker, False))
                audience = [_expand(str(a), env) for a in aud] if isinstance(aud, list) else _expand(str(aud), env)
                token = self._mint(app, project, pipeline, job, ctx, environment, audience)
                masker.add(token)
                env[str(name)] = token
                emit(f"ID token {name} issued (aud {audience})")
        offers_v2 = getattr(app, "offers_ci_job_jwt_v2", None)
        if not isinstance(id_tokens, Mapping) and callable(offers_v2) and offers_v2():
            # 14.7–16.11: every job gets CI_JOB_JWT_V2 with aud = the instance URL (jwt_v2.rb
            # DEFAULT_AUD = Settings.gitlab.base_url); a job with `id_tokens:` gets none of the
            # CI_JOB_JWT* variables (doc/ci/secrets/id_token_authentication.md).
            token = self._mint(app, project, pipeline, job, ctx, environment, app.base_url.rstrip("/"),
                               jwt_v2=True)
            masker.add(token)
            env["CI_JOB_JWT_V2"] = token
            emit("CI_JOB_JWT_V2 issued (aud " + app.base_url.rstrip("/") + ")")
        script = _as_list(job_cfg.get("before_script")) + _as_list(job_cfg.get("script"))
        shell = Shell(env, files, GoogleSignIn(self.endpoints), env["CI_PROJECT_DIR"], emit)
        yaml_text = " ".join(script) + " " + " ".join(
            str(k) for k in (job_cfg.get("variables") or {}) if isinstance(job_cfg.get("variables"), Mapping))
        shell.gac_explicit = "GOOGLE_APPLICATION_CREDENTIALS" in yaml_text or \
            "GOOGLE_APPLICATION_CREDENTIALS" in (config.get("variables") or {})
        ok = shell.run_script(script)
        if ok and not shell.attempts:
            emit("No Google Cloud authentication in this job: nothing to check.")
        if job_cfg.get("after_script"):
            emit("(sandbox: after_script not executed)")
        status = "success" if ok else "failed"
        return JobRun(job.name, status, decision.reason, list(shell.attempts),
                      self._trace(lines, masker, ok))

    @staticmethod
    def _trace(lines: list[str], masker: Masker, ok: bool) -> str:
        lines = [*lines, "Job succeeded" if ok else "ERROR: Job failed: exit code 1"]
        return masker("\n".join(lines) + "\n")

    # --- state updates ------------------------------------------------------------------------
    def _finish(self, app: Any, job: Any, runs: list[JobRun], run: JobRun, status: str) -> None:
        runs.append(run)
        with app.lock:
            if status in ("success", "failed"):
                app.finish_job(job, status, run.trace)
            else:
                job.status = status
                job.trace += run.trace or f"Job {status}: {run.decision}\n"

    def _drop(self, app: Any, pipeline: Any, job: Any, runs: list[JobRun], reason: str) -> None:
        """GitLab never creates a job its rules exclude: remove it from the pipeline."""
        runs.append(JobRun(job.name, "not created", reason))
        with app.lock:
            if job in pipeline.jobs:
                pipeline.jobs.remove(job)


def install(app: Any, google: str | GoogleEndpoints) -> SandboxPipelineRunner:
    """Make `app` (a GitLabApp) run its pipelines' authentication steps against `google`."""
    runner = SandboxPipelineRunner(google)
    app.pipeline_runner = runner
    return runner
