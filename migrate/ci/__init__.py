"""The pure CI layer: analyze GitLab CI files for service-account key use and rewrite them to WIF.

Public API (no I/O here; the CLI and scan/plan stages read and write files):

- `analyze(text, path=".gitlab-ci.yml", key_variables=frozenset()) -> Analysis`
- `rewrite(text, options: RewriteOptions) -> RewriteResult`
"""

from __future__ import annotations

from migrate.ci.analysis import Analysis, Include, JobInfo, analyze
from migrate.ci.rewrite import RewriteOptions, RewriteResult, rewrite

__all__ = ["Analysis", "Include", "JobInfo", "RewriteOptions", "RewriteResult", "analyze", "rewrite"]
