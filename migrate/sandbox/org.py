"""The org description file: one YAML document describing a GitLab instance and a Google org.

Top level: `seed` (int, key ids derive from it), `gitlab:` (parsed by the GitLab emulator) and
`google:` (parsed by the Google emulator). Keys are shared: a GitLab variable says
`sa_key: {service_account: EMAIL, key: LABEL, encoding: json|base64}` and the Google side lists the
same LABEL under that service account's `keys:`; both ask the `KeyStore` for (EMAIL, LABEL) and get
the same key. The full format is documented in docs/sandbox.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from migrate.sandbox.errors import OrgFileError


@dataclass(frozen=True)
class OrgFile:
    seed: int = 0
    gitlab: dict[str, Any] = field(default_factory=dict)
    google: dict[str, Any] = field(default_factory=dict)
    source: str = "org"


def parse_org(data: Any, source: str = "org") -> OrgFile:
    if not isinstance(data, dict):
        raise OrgFileError(f"{source}: the org description must be a mapping with gitlab: and google:")
    unknown = set(data) - {"seed", "gitlab", "google", "description"}
    if unknown:
        raise OrgFileError(f"{source}: {sorted(unknown)[0]}: unknown top-level key (seed, gitlab, google)")
    seed = data.get("seed", 0)
    if not isinstance(seed, int):
        raise OrgFileError(f"{source}: seed: must be an integer")
    for part in ("gitlab", "google"):
        if not isinstance(data.get(part) or {}, dict):
            raise OrgFileError(f"{source}: {part}: must be a mapping")
    return OrgFile(seed=seed, gitlab=data.get("gitlab") or {}, google=data.get("google") or {},
                   source=source)


def load_org(name_or_path: str) -> OrgFile:
    """`demo` (or another name shipped in migrate/sandbox/orgs/) or a path to a YAML file."""
    path = Path(name_or_path)
    if path.exists():
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        shipped = resources.files("migrate.sandbox") / "orgs" / f"{name_or_path}.yaml"
        if not shipped.is_file():
            raise OrgFileError(f"org {name_or_path!r}: no such file, and not a shipped org (try 'demo')")
        text, source = shipped.read_text(encoding="utf-8"), f"{name_or_path} (shipped)"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OrgFileError(f"{source}: not valid YAML: {exc}") from None
    return parse_org(data, source)
