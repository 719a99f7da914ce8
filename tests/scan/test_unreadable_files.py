"""An unreadable, non-UTF-8, binary or absurd plan or inventory is exit 2 with a message, never
an internal error (issue 16 §7: a binary plan file made `apply` exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.cli.verbs import main

BODIES = {
    "binary": bytes(range(256)) * 4,
    "utf16": "{\"kind\": \"wif-migrate/plan\"}".encode("utf-16"),
    "nul": b"{\"kind\": \"wif-migrate/plan\"\x00}",
    "nested": b"[" * 100000 + b"]" * 100000,
    "wrong-shape": json.dumps({"kind": "wif-migrate/plan", "version": 1, "actions": [1, "x"]}).encode(),
}
VERBS = {
    "apply": lambda f: ["apply", f, "--dry-run"],
    "verify": lambda f: ["verify", "--plan", f],
    "keys retire": lambda f: ["keys", "retire", "--plan", f, "--dry-run"],
    "plan --inventory": lambda f: ["plan", "--inventory", f, "--offline", "--project-number", "1"],
    "report --inventory": lambda f: ["report", "--inventory", f],
}


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_bad_files_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, verb: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"gitlab": {"url": "https://gitlab.example"}, "scope": {"groups": ["acme"]},
                               "google": {"identity_project": "acme-identity"}, "state_dir": str(tmp_path / "s")}))
    bad = tmp_path / "bad.json"
    bad.write_bytes(BODIES[body])
    code = main([*VERBS[verb](str(bad)), "-c", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err and "bad.json" in err
