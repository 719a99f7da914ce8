"""Configuration file → typed, frozen `Config`.

The file is YAML (see config.example.yaml, documented key by key). Every problem is reported as
`ConfigError("section.key", "what is wrong")` so a user can find the line to fix. Unknown keys are
errors too: a misspelt `exclude` that silently widened the scope would be worse than a refusal.
Secrets are never in the file: the GitLab token (and an optional Google access token) are read
from environment variables whose *names* the file gives.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from migrate.core.errors import ConfigError

T = TypeVar("T")

_ID_RE = re.compile(r"^[a-z0-9-]{4,32}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GOOGLE_ENDPOINTS = (
    "iam",
    "iamcredentials",
    "sts",
    "cloudresourcemanager",
    "policyanalyzer",
    "oauth2",
)


@dataclass(frozen=True)
class GitLabConfig:
    url: str
    token_env: str = "GITLAB_TOKEN"
    version: str | None = None  # None: ask the instance (GET /version)
    ssl_verify: bool = True
    issuer: str | None = None  # the `iss` job tokens carry, when not the discovery's (migrate/plan/issuer.py)

    def token(self) -> str:
        """The token from the environment; a clear error when it is missing."""
        value = os.environ.get(self.token_env, "")
        if not value:
            raise ConfigError("gitlab.token_env", f"environment variable {self.token_env} is not set")
        return value


@dataclass(frozen=True)
class ScopeConfig:
    groups: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    instance: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_archived: bool = False


GOOGLE_QUOTAS: dict[str, int | None] = {"iam_policy_writes_per_minute": 600, "wif_writes_per_minute": 60}


@dataclass(frozen=True)
class GoogleConfig:
    identity_project: str
    pool_id: str = "gitlab"
    provider_id: str = "gitlab"
    credentials_file: str | None = None  # else Application Default Credentials
    access_token_env: str | None = None  # an OAuth access token in this env var (CI, sandbox)
    upload_jwks: bool = False
    endpoints: Mapping[str, str] = field(default_factory=dict)
    service_accounts: Mapping[str, str] = field(default_factory=dict)  # variable name → e-mail
    # Seconds before the first poll of a long-running operation (pool/provider writes); later
    # polls back off ×1.5 up to 10 s. Google's operations finish in seconds; a sandbox at once.
    operation_poll_interval: float = 1.0
    # Client-side pacing of Google writes, per minute (0/None: none). Defaults: Google's documented
    # quotas (https://cloud.google.com/iam/quotas): IAM v1 writes 600, workload identity writes 60.
    quotas: Mapping[str, int | None] = field(default_factory=lambda: dict(GOOGLE_QUOTAS))


@dataclass(frozen=True)
class CIConfig:
    # Hosts (`host` or `host:port`) whose `include: remote:` URLs may be fetched although they
    # resolve to a loopback, private, link-local or other non-public address (migrate/gitlab/remote.py)
    remote_include_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeRequestConfig:
    labels: tuple[str, ...] = ("wif-migrate",)
    assignees: tuple[str, ...] = ()
    branch_prefix: str = "wif-migrate/"


@dataclass(frozen=True)
class KeysConfig:
    grace_days: int = 14


@dataclass(frozen=True)
class ReportConfig:
    out: str = "reports"
    formats: tuple[str, ...] = ("md", "html", "csv", "json")


@dataclass(frozen=True)
class Config:
    gitlab: GitLabConfig
    google: GoogleConfig
    scope: ScopeConfig = ScopeConfig()
    concurrency: int = 8
    rate_limit_rpm: int | None = 1800  # None (config 0 or null): no client-side limit
    state_dir: str = ".wif-migrate"
    merge_requests: MergeRequestConfig = MergeRequestConfig()
    keys: KeysConfig = KeysConfig()
    reports: ReportConfig = ReportConfig()
    ci: CIConfig = CIConfig()
    source: str = "config"


REPORT_FORMATS = ("md", "html", "csv", "json", "gitlab")


class _Section:
    """Reads one mapping, tracking which keys were consumed so leftovers are reported."""

    def __init__(self, data: object, path: str, source: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path or "(top level)", "must be a mapping", source)
        self.data: dict[str, Any] = data
        self.path = path
        self.source = source
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def err(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.key(name), problem, self.source)

    def get(self, name: str, kind: type[T] | tuple[type, ...], default: Any, required: bool = False) -> Any:
        self.seen.add(name)
        if name not in self.data or self.data[name] is None:
            if required:
                raise self.err(name, "is required")
            return default
        value = self.data[name]
        # bool is an int in Python: refuse `concurrency: true`.
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.err(name, f"must be {want}, got {type(value).__name__} {value!r}")
        return value

    def string(self, name: str, default: str | None = None, required: bool = False,
               check: Callable[[str], str | None] | None = None) -> Any:
        value = self.get(name, str, default, required)
        if value is not None and check is not None:
            problem = check(value)
            if problem:
                raise self.err(name, problem)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, [])
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise self.err(f"{name}[{i}]", f"must be a non-empty string, got {item!r}")
        return tuple(value)

    def positive(self, name: str, default: int) -> int:
        value: int = self.get(name, int, default)
        if value <= 0:
            raise self.err(name, f"must be a positive integer, got {value}")
        return value

    def section(self, name: str) -> _Section:
        self.seen.add(name)
        return _Section(self.data.get(name), self.key(name), self.source)

    def done(self) -> None:
        extra = sorted(set(map(str, self.data)) - self.seen)
        if extra:
            raise self.err(extra[0], "unknown key (check the spelling; `wif-migrate init -` prints every key, commented)")


def _url(value: str) -> str | None:
    if not re.match(r"^https?://[^/\s]+", value):
        return "must be an http(s) URL such as https://gitlab.example.com"
    return None


def _wif_id(value: str) -> str | None:
    if not _ID_RE.match(value) or value.startswith("gcp-") or value.startswith("-") or value.endswith("-"):
        return "must be 4-32 characters of lowercase letters, digits and hyphens, not starting with gcp-"
    return None


def _env_name(value: str) -> str | None:
    return None if _ENV_NAME_RE.match(value) else "must be an environment variable name, not a secret"


def parse_config(data: object, source: str = "config") -> Config:
    """Validate a parsed YAML document and build the typed configuration."""
    top = _Section(data, "", source)
    version = top.get("version", int, 1)
    if version != 1:
        raise top.err("version", f"unsupported config version {version}; this tool reads version 1")

    gl = top.section("gitlab")
    gitlab = GitLabConfig(
        url=gl.string("url", required=True, check=_url).rstrip("/"),
        token_env=gl.string("token_env", "GITLAB_TOKEN", check=_env_name),
        version=_version_string(gl),
        ssl_verify=gl.get("ssl_verify", bool, True),
        issuer=(gl.string("issuer", None, check=_url) or "").rstrip("/") or None,
    )
    gl.done()

    sc = top.section("scope")
    scope = ScopeConfig(
        groups=sc.strings("groups"),
        projects=sc.strings("projects"),
        instance=sc.get("instance", bool, False),
        include=sc.strings("include"),
        exclude=sc.strings("exclude"),
        include_archived=sc.get("include_archived", bool, False),
    )
    sc.done()
    if not (scope.groups or scope.projects or scope.instance):
        raise ConfigError("scope", "name at least one of groups, projects, or set instance: true", source)

    go = top.section("google")
    endpoints = go.section("endpoints")
    for name in endpoints.data:
        endpoints.string(str(name), check=_url)
        if name not in _GOOGLE_ENDPOINTS:
            raise endpoints.err(str(name), f"unknown endpoint; known: {', '.join(_GOOGLE_ENDPOINTS)}")
    sa_map = go.section("service_accounts")
    for name in sa_map.data:
        sa_map.string(str(name), check=lambda v: None if "@" in v else "must be a service-account e-mail")
    google = GoogleConfig(
        identity_project=go.string("identity_project", required=True),
        pool_id=go.string("pool_id", "gitlab", check=_wif_id),
        provider_id=go.string("provider_id", "gitlab", check=_wif_id),
        credentials_file=go.string("credentials_file"),
        access_token_env=go.string("access_token_env", check=_env_name),
        upload_jwks=go.get("upload_jwks", bool, False),
        endpoints={str(k): str(v).rstrip("/") for k, v in endpoints.data.items()},
        service_accounts={str(k): str(v) for k, v in sa_map.data.items()},
        operation_poll_interval=_seconds(go, "operation_poll_interval", 1.0),
        quotas=_quotas(go.section("quotas")),
    )
    go.done()

    mr = top.section("merge_requests")
    merge_requests = MergeRequestConfig(
        labels=mr.strings("labels") if "labels" in mr.data else ("wif-migrate",),
        assignees=mr.strings("assignees"),
        branch_prefix=mr.string("branch_prefix", "wif-migrate/"),
    )
    mr.done()

    ks = top.section("keys")
    keys = KeysConfig(grace_days=ks.positive("grace_days", 14))
    ks.done()

    rp = top.section("reports")
    formats = rp.strings("formats") if "formats" in rp.data else ReportConfig.formats
    for f in formats:
        if f not in REPORT_FORMATS:
            raise rp.err("formats", f"unknown format {f!r}; known: {', '.join(REPORT_FORMATS)}")
    reports = ReportConfig(out=rp.string("out", "reports"), formats=formats)
    rp.done()

    cs = top.section("ci")
    ci = CIConfig(remote_include_hosts=tuple(_host(cs, i, h) for i, h in enumerate(cs.strings("remote_include_hosts"))))
    cs.done()

    config = Config(
        gitlab=gitlab,
        google=google,
        scope=scope,
        concurrency=top.positive("concurrency", 8),
        rate_limit_rpm=_rate_limit(top),
        state_dir=top.string("state_dir", ".wif-migrate"),
        merge_requests=merge_requests,
        keys=keys,
        reports=reports,
        ci=ci,
        source=source,
    )
    top.done()
    return config


_HOST_RE = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::\d{1,5})?$")


def _host(section: _Section, index: int, value: str) -> str:
    """A `host` or `host:port` (an IPv6 address in brackets), no scheme, path or wildcard."""
    if not _HOST_RE.match(value.strip()):
        raise section.err(f"remote_include_hosts[{index}]", f"must be a host or host:port such as "
                                                             f"ci.example.com:8443, got {value!r}")
    return value.strip().lower()


def _rate_limit(top: _Section) -> int | None:
    """`rate_limit_rpm`: absent → 1800; `0` or `null` → no client-side limit (a local sandbox;
    python-gitlab still obeys GitLab's 429 answers); otherwise a positive integer."""
    if "rate_limit_rpm" not in top.data:
        top.seen.add("rate_limit_rpm")
        return 1800
    value = top.get("rate_limit_rpm", int, None)
    if value is None or value == 0:
        return None
    if value < 0:
        raise top.err("rate_limit_rpm", f"must be a positive integer, or 0/null for no limit, got {value}")
    return int(value)


def _quotas(section: _Section) -> dict[str, int | None]:
    """`google.quotas.*_per_minute`: a positive integer, or 0/null for no client-side pacing."""
    out: dict[str, int | None] = {}
    for name, default in GOOGLE_QUOTAS.items():
        if name not in section.data:
            section.seen.add(name)
            out[name] = default
            continue
        value = section.get(name, int, None)
        if value is not None and value < 0:
            raise section.err(name, f"must be a positive integer, or 0/null for no limit, got {value}")
        out[name] = value or None
    section.done()
    return out


def _seconds(section: _Section, name: str, default: float) -> float:
    value = section.get(name, (int, float), default)
    if isinstance(value, bool) or not 0 < float(value) <= 60:
        raise section.err(name, f"must be a number of seconds in (0, 60], got {value!r}")
    return float(value)


def _version_string(gl: _Section) -> str | None:
    value = gl.get("version", (str, int, float), None)
    if value is None or value == "auto":
        return None
    text = str(value)
    if not re.match(r"^\d+\.\d+", text):
        raise gl.err("version", f"must be 'auto' or MAJOR.MINOR such as '17.5', got {value!r}")
    return text


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; every failure is a `ConfigError` naming the key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {p}: {exc.strerror}", str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(where, f"not valid YAML: {getattr(exc, 'problem', exc)}", str(p)) from None
    return resolve_paths(parse_config(data, source=str(p)), p.parent)


def resolve_paths(config: Config, folder: Path) -> Config:
    """Relative paths in a config file mean "next to this file", not "wherever the command runs":
    `verify -c ../wif-migrate.yaml` from a subfolder finds the same state as from the folder itself.
    (`state_dir`, `reports.out`, `google.credentials_file`; `~` is expanded.)"""
    def at(value: str) -> str:
        path = Path(value).expanduser()
        return os.path.abspath(path if path.is_absolute() else folder / path)

    google = config.google
    if google.credentials_file:
        google = replace(google, credentials_file=at(google.credentials_file))
    return replace(config, state_dir=at(config.state_dir), reports=replace(config.reports, out=at(config.reports.out)),
                   google=google)
