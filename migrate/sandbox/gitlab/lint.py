"""CI lint and pipeline configuration: includes really read from the sandbox's repositories.

`include: local` reads the file from the context project at the context commit (nested local
includes resolve against the project that holds the including file); `include: project` (with
`file:` a string or a list, and an optional `ref:`) reads another project's file, if the user may
read that project's code. `template` includes read the org's `gitlab.ci_templates`; `component`
includes read the component project's `templates/<name>.yml` (else `templates/<name>/template.yml`)
at the version, as GitLab does (`lib/gitlab/ci/components/instance_path.rb`,
`Ci::Catalog::ComponentsProject#fetch_component`; the sandbox has no CI/CD catalog, so `~latest`
and short semantic versions fall back to a tag or ref of that name, as GitLab does for a project
that is not a catalog resource). `remote` includes are listed but not fetched (no internet) and
produce a warning. `spec: inputs` are not interpolated here.
Error messages are GitLab's.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migrate.sandbox.gitlab import ciyaml
from migrate.sandbox.gitlab.ciyaml import CIConfigError
from migrate.sandbox.gitlab.model import Project, User
from migrate.sandbox.gitlab.repo import Commit
from migrate.sandbox.gitlab.state import REPORTER

if TYPE_CHECKING:
    from migrate.sandbox.gitlab.app import GitLabApp

MAX_INCLUDES = 150
MAX_DEPTH = 100


@dataclass
class LintResult:
    valid: bool
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    merged_yaml: str | None = None
    includes: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)


def pipeline_config(app: GitLabApp, project: Project, commit: Commit) -> tuple[str, Project, Commit] | None:
    """The CI config text for a pipeline of `project` at `commit`, honouring `ci_config_path`.

    `path`, `path@group/project` and `path@group/project:ref` are supported; None when there is
    no config (GitLab then creates no pipeline) or it is an external URL.
    """
    path = project.ci_config_path or ".gitlab-ci.yml"
    if path.startswith(("http://", "https://")):
        return None
    if "@" in path:
        file, _, where = path.partition("@")
        other_path, _, ref = where.partition(":")
        other = app.db.find_project(other_path)
        if other is None:
            return None
        other_commit = other.repo.resolve(ref or other.default_branch)
        if other_commit is None or file not in other_commit.files:
            return None
        return other_commit.files[file].decode("utf-8", "replace"), other, other_commit
    path = path.lstrip("/")
    if path not in commit.files:
        return None
    return commit.files[path].decode("utf-8", "replace"), project, commit


class _Includes:
    def __init__(self, app: GitLabApp, user: User | None) -> None:
        self.app, self.user = app, user
        self.records: list[dict[str, Any]] = []
        self.warnings: list[str] = []

    def expand(self, config: dict[str, Any], project: Project, commit: Commit, depth: int) -> dict[str, Any]:
        config = dict(config)
        spec = config.pop("include", None)
        if spec is None:
            return config
        if depth >= MAX_DEPTH:
            raise CIConfigError(f"Maximum of {MAX_DEPTH} nested includes are allowed!")
        merged: dict[str, Any] = {}
        for item in _items(spec):
            for text, location, ctx_project, ctx_commit in self._fetch(item, project, commit):
                try:
                    sub = ciyaml.load(text)
                except CIConfigError:
                    raise CIConfigError(f"Included file `{location}` does not have valid YAML syntax!") from None
                if sub is None:
                    sub = {}
                if not isinstance(sub, dict):
                    raise CIConfigError(f"Included file `{location}` does not have valid YAML syntax!")
                merged = ciyaml.deep_merge(merged, self.expand(sub, ctx_project, ctx_commit, depth + 1))
        return ciyaml.deep_merge(merged, config)

    def _record(self, kind: str, location: str, project: Project, commit: Commit,
                ctx_project: Project, ctx_commit: Commit, extra: dict[str, Any]) -> None:
        if len(self.records) >= MAX_INCLUDES:
            raise CIConfigError(f"Maximum of {MAX_INCLUDES} nested includes are allowed!")
        base = f"{self.app.base_url}/{project.path_with_namespace}"
        self.records.append({
            "type": kind, "location": location,
            "blob": f"{base}/-/blob/{commit.id}/{location.lstrip('/')}",
            "raw": f"{base}/-/raw/{commit.id}/{location.lstrip('/')}",
            "extra": extra, "context_project": ctx_project.path_with_namespace,
            "context_sha": ctx_commit.id})

    def _fetch(self, item: dict[str, Any], project: Project,
               commit: Commit) -> list[tuple[str, str, Project, Commit]]:
        if "local" in item:
            pattern = str(item["local"]).lstrip("/")
            paths = sorted(p for p in commit.files if fnmatch.fnmatchcase(p, pattern)) \
                if "*" in pattern else ([pattern] if pattern in commit.files else [])
            if not paths:
                raise CIConfigError(f"Local file `{item['local']}` does not exist!")
            out = []
            for path in paths:
                self._record("local", path, project, commit, project, commit, {})
                out.append((commit.files[path].decode("utf-8", "replace"), path, project, commit))
            return out
        if "project" in item:
            return self._project(item)
        if "template" in item:
            return self._template(str(item["template"]), project, commit)
        if "component" in item:
            return self._component(str(item["component"]), project, commit)
        for kind in ("remote",):
            if kind in item:
                self.records.append({"type": kind, "location": str(item[kind]), "blob": None,
                                     "raw": str(item[kind]) if kind == "remote" else None,
                                     "extra": {}, "context_project": project.path_with_namespace,
                                     "context_sha": commit.id})
                self.warnings.append(f"sandbox: {kind} include `{item[kind]}` was not fetched")
                return []
        raise CIConfigError("Include config contains unknown keys: " + ", ".join(sorted(map(str, item))))

    def _template(self, location: str, project: Project, commit: Commit) -> list[tuple[str, str, Project, Commit]]:
        """GitLab's own templates (`lib/gitlab/ci/config/external/file/template.rb`): the location
        must end in `.gitlab-ci.yml`; the content is the instance's template of that name (the
        org's `gitlab.ci_templates`, also served by `GET /templates/gitlab_ci_ymls/:key`)."""
        if not location.endswith(".gitlab-ci.yml"):
            raise CIConfigError(f"Template file `{location}` is not a valid location!")
        content = self.app.db.ci_templates.get(location.removesuffix(".gitlab-ci.yml"))
        if not content:
            raise CIConfigError(f"Included file `{location}` is empty or does not exist!")  # file/base.rb
        if len(self.records) >= MAX_INCLUDES:
            raise CIConfigError(f"Maximum of {MAX_INCLUDES} nested includes are allowed!")
        self.records.append({"type": "template", "location": location, "blob": None,
                             "raw": f"https://gitlab.com/gitlab-org/gitlab/-/raw/master/lib/gitlab/ci/templates/{location}",
                             "extra": {}, "context_project": project.path_with_namespace,
                             "context_sha": commit.id})
        return [(content, location, project, commit)]

    def _component(self, address: str, project: Project, commit: Commit) -> list[tuple[str, str, Project, Commit]]:
        """`<fqdn>/<project path>/<name>@<version>` (instance_path.rb): the fqdn this server's,
        the project everything up to the last `/`; errors are FetchService's."""
        prefix = f"component '{address}' -"
        fqdn = self.app.base_url.split("//", 1)[-1].rstrip("/")
        full, _, version = address.replace("$CI_SERVER_FQDN", fqdn).partition("@")
        if not version or not full.startswith(f"{fqdn}/"):
            raise CIConfigError(f"{prefix} the component path is not supported")
        path, _, name = full.removeprefix(f"{fqdn}/").rpartition("/")
        other = self.app.db.find_project(path) if path else None
        level = self.app.db.project_level(self.user, other) if other and self.user else (REPORTER if other else -1)
        if other is None or level < REPORTER:
            raise CIConfigError(f"{prefix} project does not exist or you don't have sufficient permissions")
        other_commit = other.repo.resolve(version)
        if other_commit is None:
            raise CIConfigError(f"{prefix} content not found")
        for file in (f"templates/{name}.yml", f"templates/{name}/template.yml"):
            if file in other_commit.files:
                self._record("component", address, other, other_commit, other, other_commit, {})
                return [(other_commit.files[file].decode("utf-8", "replace"), address, other, other_commit)]
        raise CIConfigError(f"{prefix} content not found")

    def _project(self, item: dict[str, Any]) -> list[tuple[str, str, Project, Commit]]:
        path = str(item["project"])
        other = self.app.db.find_project(path)
        level = self.app.db.project_level(self.user, other) if other and self.user else (REPORTER if other else -1)
        if other is None or level < REPORTER:
            raise CIConfigError(f"Project `{path}` not found or access denied! Make sure any includes "
                                "in the pipeline configuration are correctly defined.")
        ref = str(item.get("ref") or other.default_branch)
        other_commit = other.repo.resolve(ref)
        if other_commit is None:
            raise CIConfigError(f"Project `{path}` reference `{ref}` does not exist!")
        files = item.get("file")
        out = []
        for file in files if isinstance(files, list) else [files]:
            name = str(file or "").lstrip("/")
            if name not in other_commit.files:
                raise CIConfigError(f"Project `{path}` file `{file}` does not exist!")
            self._record("file", str(file), other, other_commit, other, other_commit,
                         {"project": other.path_with_namespace, "ref": ref})
            out.append((other_commit.files[name].decode("utf-8", "replace"), str(file), other,
                        other_commit))
        return out


def _items(spec: Any) -> list[dict[str, Any]]:
    items = spec if isinstance(spec, list) else [spec]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"remote": item} if item.startswith(("http://", "https://")) else {"local": item})
        elif isinstance(item, dict):
            out.append(item)
        else:
            raise CIConfigError("Include config should be a hash, a string or an array")
    return out


def lint(app: GitLabApp, user: User | None, project: Project, content: str,
         commit: Commit | None) -> LintResult:
    """Lint `content` in the context of `project` at `commit` (default branch head if None)."""
    commit = commit or project.repo.head(project.default_branch)
    includes = _Includes(app, user)
    try:
        config = ciyaml.load(content)
        if not isinstance(config, dict):
            raise CIConfigError("Invalid configuration format")
        if commit is not None:
            config = includes.expand(config, project, commit, 0)
        elif "include" in config:
            raise CIConfigError(f"Local file `{config['include']}` does not exist!")
        final = ciyaml.finish(config)
    except CIConfigError as exc:
        return LintResult(valid=False, errors=[str(exc)], warnings=includes.warnings,
                          includes=includes.records)
    errors = ciyaml.validate(final, app.db.version)
    # The documented jobs[] shape plus, under "config", the resolved mapping the runner needs.
    jobs = [_job(final, name) for name in ciyaml.job_names(final) if isinstance(final[name], dict)]
    return LintResult(valid=not errors, errors=errors, warnings=includes.warnings,
                      merged_yaml=ciyaml.dump(final), includes=includes.records,
                      jobs=jobs if not errors else [])


def _job(config: dict[str, Any], name: str) -> dict[str, Any]:
    job = config[name]
    default = config.get("default") if isinstance(config.get("default"), dict) else {}
    inherit = job.get("inherit", {}).get("default", True) if isinstance(job.get("inherit"), dict) else True
    resolved = dict(job)
    if inherit is not False:
        for key, value in (default or {}).items():
            if (inherit is True or key in inherit) and key not in resolved:
                resolved[key] = value
        for key in ("before_script", "after_script", "image", "services"):
            if key not in resolved and key in config:  # deprecated top-level defaults
                resolved[key] = config[key]
    only, except_ = job.get("only"), job.get("except")
    if only is None and "rules" not in job:
        only = {"refs": ["branches", "tags"]}
    return {
        "name": name, "stage": job.get("stage", "test"),
        "before_script": _lines(resolved.get("before_script")), "script": _lines(job.get("script")),
        "after_script": _lines(resolved.get("after_script")), "tag_list": list(job.get("tags") or []),
        "only": {"refs": only} if isinstance(only, list) else only,
        "except": {"refs": except_} if isinstance(except_, list) else except_,
        "environment": _env(job.get("environment")), "when": job.get("when", "on_success"),
        "allow_failure": bool(job.get("allow_failure", False)), "needs": job.get("needs"),
        "config": resolved,
    }


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _env(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value["name"]) if value.get("name") else None
    return str(value) if value else None
