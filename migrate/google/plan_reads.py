"""The Google side of `plan` (migrate.plan.ports.PlanGoogle), read-only: the identity project's
number (Resource Manager), the pool and provider as they are, and service accounts' IAM policies."""

from __future__ import annotations

from typing import Any

from migrate.google.clients import GoogleClients
from migrate.google.iam_policy import PolicyEditor
from migrate.google.projects import project_number
from migrate.google.workload_identity import WifAdmin


class GooglePlanReads:
    def __init__(self, clients: GoogleClients) -> None:
        self.clients = clients
        self._admin = WifAdmin(clients)
        self._policies = PolicyEditor(clients)

    def project_number(self, project: str) -> str:
        return project_number(self.clients, project)

    def federation_resource(self, name: str) -> dict[str, Any] | None:
        return self._admin.get(name)

    def iam_policy(self, resource: str) -> dict[str, Any]:
        return self._policies.read(resource)
