"""Project id → project number through Resource Manager v3 (principal identifiers and the provider
audience need the NUMBER, never the id; gcp.md §0.4)."""

from __future__ import annotations

import logging

from google.api_core import exceptions as api_exceptions

from migrate.core.errors import GoogleError
from migrate.google.clients import GoogleClients

log = logging.getLogger(__name__)


def project_number(clients: GoogleClients, project: str) -> str:
    """The number of `project` (an id or a number); a GoogleError that says what to grant."""
    try:
        found = clients.projects().get_project(name=f"projects/{project}")
    except api_exceptions.NotFound:
        raise GoogleError(f"Resource Manager: project {project!r} not found; check google.identity_project") from None
    except api_exceptions.Forbidden:  # REST answers Forbidden (PermissionDenied is its gRPC subclass)
        raise GoogleError(f"Resource Manager: permission denied reading project {project!r}; grant the "
                          "operator resourcemanager.projects.get (e.g. roles/browser) on it") from None
    except api_exceptions.GoogleAPICallError as exc:
        raise GoogleError(f"Resource Manager: reading project {project!r} failed: {exc.message}") from None
    number = str(found.name).split("/", 1)[-1]
    if not number.isdigit():
        raise GoogleError(f"Resource Manager answered an unexpected project name {found.name!r}")
    log.debug("project %s has number %s", project, number)
    return number
