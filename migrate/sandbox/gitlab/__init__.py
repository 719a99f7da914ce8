"""The GitLab REST API v4 emulator: `GitLabApp(spec, keys, clock, rate_limit_rpm=None)`.

See app.py for the request flow, state.py for permissions, docs/sandbox.md for the org file.
"""

from migrate.sandbox.gitlab.app import NO_RUNNER_TRACE, ApiError, GitLabApp, PipelineRunner

__all__ = ["NO_RUNNER_TRACE", "ApiError", "GitLabApp", "PipelineRunner"]
