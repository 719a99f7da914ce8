"""Where an `include: component:` file lives, as GitLab resolves it (pure: no I/O).

GitLab (`lib/gitlab/ci/components/instance_path.rb`, `lib/gitlab/ci/config/external/file/
component.rb`, docs `ci/components/index.md`):

- the address is `<fqdn>/<project full path>/<component name>@<version>`; it must start with this
  instance's `server_fqdn` followed by `/` (`InstancePath.match?`), else "the component path is not
  supported"; the project path is everything between the fqdn and the LAST `/`, the name the rest;
- the version: `~latest` is the newest catalog release; a short semantic version (`1`, `1.2`,
  `SHORTHAND_SEMVER_PATTERN = /^\\d+(\\.\\d+)?$/`) is the newest catalog release matching it when the
  project is a catalog resource; otherwise a released tag, then any ref (`project.commit(version)`:
  a commit SHA, a tag or a branch);
- the file is `templates/<name>.yml`, else `templates/<name>/template.yml`, at that commit
  (`Ci::Catalog::ComponentsProject#fetch_component`: simple then complex template path).

This tool reads an exact ref at that ref. `~latest` and short semantic versions depend on the
catalog's releases, which the tool does not read: they are *unresolvable* (a reason, never a guess),
so a keyed job that depends on such a file goes to manual review. `$CI_SERVER_FQDN` (the variable
GitLab expands in include locations) stands for the instance's host; any other variable is
unresolvable.

A component's own `include: local:` files are read where GitLab reads them: `File::Component#
expand_context_attrs` gives the component file's includes the context `project:` the component's
project, `sha:` the commit its version resolved to (every other file keeps its includer's context,
`File::Base#expand_context_attrs`). Such a file is part of the released component too, so it stays
a file of the pseudo project `core.model.COMPONENT_FILES`, named `<address>::<path>` (`nested_address`;
a git ref holds no `:`, so the first `::` after the `@` ends the version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LATEST = "~latest"
SHORTHAND_SEMVER = re.compile(r"^\d+(\.\d+)?$")  # instance_path.rb SHORTHAND_SEMVER_PATTERN
FQDN_VARIABLE = re.compile(r"^\$(?:\{CI_SERVER_FQDN\}|CI_SERVER_FQDN)(?=/)")
NESTED = "::"  # `<address>::<path>`: a `local:` include of the component file at <address>


@dataclass(frozen=True)
class ComponentFile:
    """The component's project, the ref it is read at and the two candidate paths (in order)."""

    project: str
    name: str
    ref: str
    local: str = ""  # a `local:` include of the component file: that path, in the component's project

    @property
    def paths(self) -> tuple[str, ...]:
        if self.local:
            return (self.local,)
        return (f"templates/{self.name}.yml", f"templates/{self.name}/template.yml")


def nested_address(parent: str, location: str) -> str:
    """The pseudo path of a `local:` include written in the component file (or a file it includes
    locally) at `parent`: the same component's project and version, another path."""
    head, at, version = parent.partition("@")
    return f"{head}{at}{version.partition(NESTED)[0]}{NESTED}{location.strip().lstrip('/')}"


def nested_file(address: str) -> tuple[str, str, str] | None:
    """(component project, version, path) of a `nested_address`, None for anything else. Needs no
    host: the address was read already, so its first segment is the instance's."""
    head, _, version = address.strip().partition("@")
    version, nested, local = version.partition(NESTED)
    if not nested or "/" not in head:
        return None
    project = head.split("/", 1)[1].rpartition("/")[0]
    return (project, version, local) if project and version and local else None


def locate(address: str, host: str) -> ComponentFile | str:
    """The file an address names on the instance at `host` (its `host[:port]`), or why it cannot
    be read exactly."""
    text = FQDN_VARIABLE.sub(host, address.strip())
    if "@" not in text:
        return f"component {address} has no @version (GitLab refuses it)"
    path, version = text.split("@", 1)
    version, _, local = version.partition(NESTED)
    if not path.startswith(f"{host}/"):
        return (f"component {address} is not on this instance ({host}); GitLab reads components only "
                "from its own server (the component path is not supported)")
    rest = path.removeprefix(f"{host}/")
    if "$" in rest or "$" in version:
        return f"component {address} uses variables; not resolved"
    if rest.startswith("/") or "/" not in rest:
        return f"component {address} names no project (GitLab refuses it)"
    project, name = rest.rsplit("/", 1)
    if not name or not version:
        return f"component {address} names no component or version (GitLab refuses it)"
    if version == LATEST or SHORTHAND_SEMVER.match(version):
        return (f"component {address}: version {version} resolves through the CI/CD catalog's releases "
                "(~latest or a short semantic version), which this tool does not read; pin an exact "
                "tag, branch or commit SHA")
    return ComponentFile(project, name, version, local.lstrip("/"))
