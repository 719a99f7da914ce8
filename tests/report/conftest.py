"""Fixtures of the report tests; their data lives in helpers.report_fixtures."""

from __future__ import annotations

import pytest
from helpers.report_fixtures import NOW_AT, inventory, journal, plan, snapshots

from migrate.report.findings import FindingsDocument, build_findings


@pytest.fixture
def doc() -> FindingsDocument:
    return build_findings(inventory(), plan(), journal(), NOW_AT, snapshots(), tool_version="0.1.0")
