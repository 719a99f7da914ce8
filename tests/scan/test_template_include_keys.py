"""`include: template:` names a file of the instance's own templates (scan side, issue 15 item 1)."""

from __future__ import annotations

from migrate.ci.analysis import Include
from migrate.core.model import COMPONENT_FILES, GITLAB_TEMPLATES, REMOTE_FILES
from migrate.scan.ci_files import FileKey, resolve_include

PARENT = FileKey("acme/app", ".gitlab-ci.yml", "main")


def test_a_template_include_is_a_file_of_the_templates_pseudo_project() -> None:
    assert resolve_include(PARENT, Include("template", "Jobs/SAST.gitlab-ci.yml")) == \
        [FileKey(GITLAB_TEMPLATES, "Jobs/SAST.gitlab-ci.yml", None)]


def test_a_template_location_gitlab_rejects_is_a_warning_not_a_fetch() -> None:
    """template.rb `validate_location!`: the location must end in `.gitlab-ci.yml`."""
    (reason,) = resolve_include(PARENT, Include("template", "Jobs/SAST.yml"))
    assert isinstance(reason, str) and "not a valid location" in reason
    (reason,) = resolve_include(PARENT, Include("template", "$TEMPLATE.gitlab-ci.yml"))
    assert isinstance(reason, str) and "variable" in reason


def test_a_remote_include_is_a_file_of_the_remote_pseudo_project() -> None:
    assert resolve_include(PARENT, Include("remote", "https://example.com/ci/base.yml")) == \
        [FileKey(REMOTE_FILES, "https://example.com/ci/base.yml", None)]
    (reason,) = resolve_include(PARENT, Include("remote", "https://$HOST/ci/base.yml"))
    assert isinstance(reason, str) and "not scanned" in reason


def test_a_component_include_is_a_file_of_the_component_pseudo_project() -> None:
    """The reader resolves the address (migrate.core.components.locate); an address it cannot
    resolve exactly is an unreadable file with the reason (tests/plan/test_component_includes_e2e.py)."""
    assert resolve_include(PARENT, Include("component", "gitlab.example.com/acme/c/deploy@1.0")) == \
        [FileKey(COMPONENT_FILES, "gitlab.example.com/acme/c/deploy@1.0", None)]
    (reason,) = resolve_include(PARENT, Include("component", ""))
    assert isinstance(reason, str) and "not scanned" in reason
