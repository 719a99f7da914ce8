"""Error types shared by every stage.

Expected per-item failures are data (see `migrate.core.model`), not exceptions. Exceptions are for
conditions that stop a whole command: bad configuration, bad usage, a backend refusing us. Each
backend converts its library's exceptions into one of these at the boundary, with a message that
says what to do; the CLI maps them to exit codes.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # expected failure: keys found, something blocked, a check failed
EXIT_USAGE = 2  # bad command line, bad config, verb not built yet
EXIT_INTERNAL = 3  # a bug: unexpected exception
EXIT_UNREACHABLE = 4  # a backend cannot be used at all: refused, DNS, TLS, 401 (migrate.cli.preflight)


class WifMigrateError(Exception):
    """Base of every error the tool raises on purpose. `exit_code` tells the CLI what to return."""

    exit_code = EXIT_FINDINGS


class UsageError(WifMigrateError):
    """The command line or an input file is wrong in a way the user must fix."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """The configuration file is malformed; the message names the key and what is wrong."""

    def __init__(self, key: str, problem: str, source: str = "config") -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class BackendError(WifMigrateError):
    """A remote API refused or failed; the message says which call and what to do about it."""


class GitLabError(BackendError):
    """GitLab answered with an error we cannot treat as a per-item outcome."""


class GitLabConflict(GitLabError):
    """GitLab refused to create something because it already exists (a branch, an open MR).

    After a dropped connection this is usually our own write answered the first time; callers
    re-read and take over instead of failing (the re-read decides whether it is really ours).
    """


class GoogleError(BackendError):
    """A Google API answered with an error we cannot treat as a per-item outcome."""


class GoogleAlreadyExists(GoogleError):
    """A create answered 409 ALREADY_EXISTS; like `GitLabConflict`, callers re-read and take over."""


class GoogleNoAnswer(GoogleError):
    """A write's connection broke before the answer came (the write may or may not have been
    applied); `transport` names the transport's exception. Callers re-read before deciding."""

    def __init__(self, message: str, transport: str = "") -> None:
        super().__init__(message)
        self.transport = transport


class InternalError(Exception):
    """A bug in the tool (e.g. an action kind without an executor): never a per-item outcome; the
    CLI exits 3 and names it."""


class LockedError(WifMigrateError):
    """Another wif-migrate run holds the state directory's lock."""


class UnreachableError(BackendError):
    """GitLab or Google cannot be used at all (connection refused, DNS, TLS, a rejected token): the
    command stops at once, naming the endpoint and what to check."""

    exit_code = EXIT_UNREACHABLE
