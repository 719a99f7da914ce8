"""The version of the code that computes: a digest of this package's files and what they run on.

A result the tool journals to reuse later (a rewrite, `migrate.plan.rewrite_journal`) is only the
result the tool *would compute now* when the code computing it is the same. A version number
does not say that (a patched checkout keeps it), so the digest covers every file of the
`migrate` package (sources and the data files they read, such as `ci/credvars.yaml` and the
vendored schemas), the Python version and the versions of the libraries the CI code parses and
validates with (PyYAML, jsonschema). Any change to any of them gives another digest, and every
journaled result is then recomputed instead of reused. Computed once per process (~10 ms).
"""

from __future__ import annotations

import functools
import hashlib
import platform
from importlib import metadata
from pathlib import Path

LIBRARIES = ("PyYAML", "jsonschema")


@functools.cache
def code_version() -> str:
    """sha256 (hex) of the package's files, the Python version and LIBRARIES' versions."""
    h = hashlib.sha256()
    h.update(f"python {platform.python_implementation()} {platform.python_version()}\n".encode())
    for name in LIBRARIES:
        try:
            h.update(f"{name} {metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name} absent\n".encode())
    h.update(tree_digest(Path(__file__).resolve().parent.parent).encode())  # the `migrate` package
    return h.hexdigest()


def tree_digest(root: Path) -> str:
    """sha256 (hex) of every file under `root` by relative path and content, compiled caches
    (`__pycache__`, *.pyc) left out."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        rel = path.relative_to(root).as_posix().encode("utf-8")
        data = path.read_bytes()
        h.update(b"%d:%s%d:" % (len(rel), rel, len(data)))
        h.update(data)
    return h.hexdigest()
