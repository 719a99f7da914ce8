"""Start the sandbox: the GitLab emulator and, when it is importable, the Google one, from one org.

`Sandbox` is what tests, the demo and `wif-migrate sandbox serve` use:

    with Sandbox(load_org("demo")) as sb:
        cfg = sb.config_dict(state_dir=tmp)   # a tool config pointing at both emulators
        os.environ.update(sb.env())          # the two token variables it names

With the Google emulator present, the sandbox pipeline runner (`migrate.sandbox.pipelines`) is
installed on the GitLab app, so pipelines really run their authentication steps against Google;
without it jobs pass with the "no runner" trace. Both emulators share one `KeyStore` (so a key in a GitLab variable is a key Google knows) and one
`Clock`. The config never points at a real endpoint: without a Google emulator the Google
endpoints are a closed local port, so nothing can reach real Google by accident.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from migrate.sandbox.clock import Clock
from migrate.sandbox.gitlab import GitLabApp
from migrate.sandbox.google.state import DEFAULT_ADMIN_TOKEN
from migrate.sandbox.http import App, SandboxServer
from migrate.sandbox.keys import KeyStore
from migrate.sandbox.org import OrgFile

log = logging.getLogger(__name__)

GITLAB_TOKEN_ENV = "WIF_SANDBOX_GITLAB_TOKEN"
GOOGLE_TOKEN_ENV = "WIF_SANDBOX_GOOGLE_TOKEN"
DEFAULT_GOOGLE_TOKEN = DEFAULT_ADMIN_TOKEN
GOOGLE_ENDPOINTS = ("iam", "iamcredentials", "sts", "cloudresourcemanager", "policyanalyzer", "oauth2")
NOWHERE = "http://127.0.0.1:9"  # discard port: connection refused, never a real Google


def _google_app_class() -> Any:
    try:
        from migrate.sandbox.google import GoogleApp
    except ImportError:
        return None
    return GoogleApp


def _runner_installer() -> Any:
    """`migrate.sandbox.pipelines.install(app, google_url)` when that module exists."""
    try:
        from migrate.sandbox.pipelines import install
    except ImportError:
        return None
    return install


class Sandbox:
    def __init__(self, org: OrgFile, latency_ms: int = 0, rate_limit_rpm: int | None = None,
                 now: datetime | None = None, gitlab_port: int = 0, google_port: int = 0) -> None:
        self.org = org
        self.clock = Clock(now)
        self.keys = KeyStore(org.seed)
        self.gitlab = GitLabApp(org.gitlab, self.keys, self.clock, rate_limit_rpm=rate_limit_rpm)
        google_cls = _google_app_class()
        self.google: App | None = google_cls(org.google, self.keys, self.clock) if google_cls else None
        for app in self._apps():
            app.latency_s = latency_ms / 1000.0
        self._ports = {"gitlab": gitlab_port, "google": google_port}
        self._servers: list[SandboxServer] = []

    def _apps(self) -> list[App]:
        return [self.gitlab] + ([self.google] if self.google is not None else [])

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._servers:
            return self
        self._servers.append(SandboxServer(self.gitlab, port=self._ports["gitlab"]).start())
        if self.google is not None:
            self._servers.append(SandboxServer(self.google, port=self._ports["google"]).start())
            token_uri = getattr(self.google, "token_uri", None)
            if isinstance(token_uri, str) and token_uri:
                self.gitlab.key_token_uri = token_uri
            override = getattr(self.gitlab, "issuer_override", None)
            aliases = getattr(self.google, "issuer_aliases", None)
            if override and isinstance(aliases, dict):
                # ci_id_tokens_issuer_url: the discovery document and JWKS are published at the
                # issuer URL (a bucket, say); here they are served by the GitLab emulator itself.
                aliases.setdefault(str(override).rstrip("/"), self.gitlab_url.rstrip("/"))
            install = _runner_installer()
            if install is not None and self.google_url:
                install(self.gitlab, self.google_url)
        log.info("sandbox started: gitlab %s, google %s", self.gitlab_url, self.google_url)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self._servers.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- where and how to connect ---------------------------------------------------------------
    @property
    def gitlab_url(self) -> str:
        return self.gitlab.base_url

    @property
    def google_url(self) -> str | None:
        return self.google.base_url if self.google is not None else None

    def gitlab_token(self) -> str:
        """The migrator's token: user `migrator`, else the first admin, else the first user."""
        users = list(self.gitlab.db.users.values())
        chosen = next((u for u in users if u.username == "migrator"), None) \
            or next((u for u in users if u.admin), None) or users[0]
        return chosen.token

    def google_token(self) -> str:
        return str(self.org.google.get("admin_token") or DEFAULT_GOOGLE_TOKEN)

    def env(self) -> dict[str, str]:
        return {GITLAB_TOKEN_ENV: self.gitlab_token(), GOOGLE_TOKEN_ENV: self.google_token()}

    def top_level_groups(self) -> list[str]:
        return [g.full_path for g in self.gitlab.db.groups.values() if g.parent_id is None]

    def identity_project(self) -> str:
        explicit = self.org.google.get("identity_project")
        if explicit:
            return str(explicit)
        projects = self.org.google.get("projects") or []
        if projects and isinstance(projects[0], dict) and projects[0].get("project_id"):
            return str(projects[0]["project_id"])
        return "sandbox-identity"

    def config_dict(self, state_dir: str = ".wif-migrate", remote_include_hosts: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
        """A configuration `migrate.core.config.parse_config` accepts, pointing at this sandbox.

        The client-side GitLab limit follows the emulator's own (`rate_limit_rpm: 0` = none when the
        emulator has none: pacing a local process only makes runs slower), and operations are polled
        every 50 ms (the emulator finishes them after `lro_polls` reads, not after seconds)."""
        google_url = self.google_url or NOWHERE
        return {
            "version": 1,
            "gitlab": {"url": self.gitlab_url, "token_env": GITLAB_TOKEN_ENV,
                       # an operator who set ci_id_tokens_issuer_url knows it: say it in the config
                       **({"issuer": str(self.gitlab.issuer_override).rstrip("/")}
                          if getattr(self.gitlab, "issuer_override", None) else {})},
            "scope": {"groups": self.top_level_groups()},
            "google": {"identity_project": self.identity_project(), "access_token_env": GOOGLE_TOKEN_ENV,
                       "endpoints": {name: google_url for name in GOOGLE_ENDPOINTS},
                       "operation_poll_interval": 0.05, "quotas": self._google_quotas()},
            "rate_limit_rpm": int(self.gitlab.rate_limit_rpm or 0),
            "state_dir": state_dir,
            # hosts of local test servers a test's `include: remote:` names (nothing by default)
            **({"ci": {"remote_include_hosts": list(remote_include_hosts)}} if remote_include_hosts else {}),
        }

    def _google_quotas(self) -> dict[str, int]:
        """The tool paces Google writes to what the emulator enforces: nothing (0) unless
        `GoogleApp.set_quotas` turned Google's quotas on."""
        quotas = getattr(self.google, "quotas", None)
        limits = quotas.limits if quotas is not None else {}
        scale = 60.0 / quotas.window_s if quotas is not None else 1.0
        return {"iam_policy_writes_per_minute": int(limits.get("iam_writes", 0) * scale),
                "wif_writes_per_minute": int(limits.get("wif_writes", 0) * scale)}

    def write_config(self, path: str | Path, state_dir: str = ".wif-migrate") -> Path:
        target = Path(path)
        text = "# wif-migrate configuration for a local sandbox (written by `wif-migrate sandbox serve`)\n"
        text += yaml.safe_dump(self.config_dict(state_dir), sort_keys=False)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)  # atomic: a watcher never sees half a file
        return target
