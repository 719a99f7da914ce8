"""The catalogue of tools' own credential variables (`credvars.yaml`), loaded once.

A key can reach Google without any `gcloud auth activate-service-account` step: a build cache, a
provider or a CLI reads a key file (or key JSON) from its *own* variable or flag. Detection treats
every catalogued name as a key sink; the rewrite points a name whose tool accepts an
`external_account` credential configuration at that configuration, and sends the job to manual
review, naming the tool, when the tool does not (or is not documented to). The data and its
sources live in the YAML file, not in code (docs/ci-rewrite.md prints the same table).
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources
from typing import Literal

import yaml

ExternalAccount = Literal["yes", "no", "unknown"]
_FIELDS = ("name", "kind", "tool", "takes", "source", "external_account", "external_account_source", "note")


class CatalogueError(ValueError):
    """credvars.yaml is malformed (a packaging bug: tests load it)."""


@dataclasses.dataclass(frozen=True)
class CredentialVariable:
    """One tool's credential variable or flag, with where its behaviour is documented."""

    name: str
    kind: Literal["variable", "flag"]
    tool: str
    takes: Literal["path", "path-or-json"]
    source: str
    external_account: ExternalAccount
    external_account_source: str
    note: str

    @property
    def rewritable(self) -> bool:
        return self.external_account == "yes"

    def manual_reason(self) -> str:
        """Why a key passed through this name cannot be rewritten automatically."""
        answer = "does not accept" if self.external_account == "no" else "is not documented to accept"
        reason = (f"{self.tool} reads the key through {self.name}, and {answer} an external_account credential "
                  f"configuration there ({self.external_account_source.split(';')[0].strip()})")
        return reason + (f"; {self.note}" if self.note else "")


_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str) -> tuple[CredentialVariable, ...]:
    """Entries of a catalogue text; every field is required and checked."""
    data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader: libyaml's when built (0.4 ms, not 6)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise CatalogueError("credvars: expected a mapping with an `entries` list")
    found: list[CredentialVariable] = []
    for index, entry in enumerate(data["entries"]):
        if not isinstance(entry, dict) or set(entry) != set(_FIELDS):
            raise CatalogueError(f"credvars: entry {index} must have exactly the fields {', '.join(_FIELDS)}")
        values = {key: str(entry[key] or "").strip() for key in _FIELDS}
        if values["kind"] not in ("variable", "flag") or values["takes"] not in ("path", "path-or-json") or \
                values["external_account"] not in ("yes", "no", "unknown"):
            raise CatalogueError(f"credvars: entry {values['name']!r} has an unknown kind, takes or external_account")
        if not values["source"] or not values["external_account_source"]:
            raise CatalogueError(f"credvars: entry {values['name']!r} needs its sources")
        found.append(CredentialVariable(**values))  # type: ignore[arg-type]
    names = [entry.name for entry in found]
    if len(set(names)) != len(names):
        raise CatalogueError("credvars: a name is listed twice")
    return tuple(found)


@functools.cache
def catalogue() -> tuple[CredentialVariable, ...]:
    return parse(resources.files("migrate.ci").joinpath("credvars.yaml").read_text(encoding="utf-8"))


@functools.cache
def variable_names() -> frozenset[str]:
    """Environment variables a tool reads a key file or key JSON from."""
    return frozenset(entry.name for entry in catalogue() if entry.kind == "variable")


@functools.cache
def flag_names() -> frozenset[str]:
    return frozenset(entry.name for entry in catalogue() if entry.kind == "flag")


def entry(name: str) -> CredentialVariable | None:
    return next((item for item in catalogue() if item.name == name), None)


def markdown_table() -> str:
    """The catalogue as the Markdown table docs/credential-variables.md shows (kept in sync by a test)."""
    rows = ["| name | kind | tool | takes | external_account | documented at | why that answer |",
            "|---|---|---|---|---|---|---|"]
    for item in catalogue():
        cells = [f"`{item.name}`", item.kind, item.tool, item.takes, item.external_account, item.source,
                 item.external_account_source + (f" — {item.note}" if item.note else "")]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"
