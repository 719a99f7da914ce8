"""`wif-migrate scan` end to end in-process: outputs, exit codes, and the private-key canary."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from migrate.cli.verbs import main
from migrate.core.codec import decode_time
from migrate.core.state import State
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org, parse_org


@pytest.fixture(scope="module")
def demo() -> Iterator[Sandbox]:
    with Sandbox(load_org("demo")) as sb:
        yield sb


def write_config(sb: Sandbox, tmp: Path) -> Path:
    path = tmp / "wif-migrate.yaml"
    path.write_text(yaml.safe_dump(sb.config_dict(state_dir=str(tmp / "state"))))
    os.environ.update(sb.env())
    return path


def secret_fragments(sb: Sandbox) -> list[str]:
    """Every 16-character window of every issued private key body and of every stored value."""
    texts = []
    for issued in sb.keys.all():
        texts += [line for line in issued.private_pem.splitlines() if "PRIVATE KEY" not in line]
        texts.append(issued.key_file_base64(sb.gitlab.key_token_uri))
        texts.append(issued.key_file_base64())
    return sorted({t[i:i + 16] for t in texts for i in range(0, max(1, len(t) - 15))})


def test_scan_with_keys_exits_1_and_leaks_no_key_material(
        demo: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(demo, tmp_path)
    code = main(["-vv", "scan", "--config", str(config), "--output", str(tmp_path / "inv.json")])
    out, err = capsys.readouterr()
    assert code == 1
    assert "deployer@acme-prod.iam.gserviceaccount.com" in out  # the summary names the key
    assert "labs/data-pipeline" in out and "ERROR" in out
    assert "DEBUG" in err  # -vv really logged
    inventory_text = (tmp_path / "inv.json").read_text()
    db = (tmp_path / "state" / "state.db").read_bytes()
    for wal in (tmp_path / "state").glob("state.db-wal"):
        db += wal.read_bytes()
    haystacks = {"stdout": out, "stderr": err, "inventory": inventory_text, "state": db.decode("latin-1")}
    fragments = secret_fragments(demo)
    assert len(fragments) > 1000
    planted = demo.keys.all()[0].key_file_json()
    assert any(f in planted for f in fragments)  # the canary does see key material when present
    for name, text in haystacks.items():
        leaked = [f for f in fragments if f in text]
        assert not leaked, f"{name} contains key material"
    assert "PRIVATE KEY" not in inventory_text and "private_key" not in inventory_text
    snapshot = State(tmp_path / "state").latest_snapshot("inventory")
    assert snapshot is not None and snapshot["gitlab_url"] == demo.gitlab_url


def test_json_format_prints_the_envelope(demo: Sandbox, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(demo, tmp_path)
    code = main(["scan", "--config", str(config), "--format", "json", "--no-google"])
    out = capsys.readouterr().out
    data = json.loads(out)
    assert code == 1
    assert data["command"] == "scan" and data["exit_code"] == 1 and data["summary"]["key_variables"] > 0
    assert (tmp_path / "state" / "inventory.json").exists()  # default output under state_dir


def test_keyless_org_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = parse_org({"seed": 1, "gitlab": {"groups": [{"path": "calm", "variables": [
        {"key": "REGION", "value": "europe-west1"}], "projects": [
        {"path": "svc", "files": {".gitlab-ci.yml": "test:\n  script: [make test]\n"}},
        {"path": "empty"}]}]}, "google": {}})
    with Sandbox(org) as sb:
        config = write_config(sb, tmp_path)
        code = main(["scan", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert "projects: 2 (2 scanned, 0 ERROR, 0 skipped)" in out


@pytest.mark.parametrize(("projects", "problems", "strict", "expected"), [
    (["scanned"], [], False, 0),
    (["scanned", "error"], [], False, 0),
    (["scanned", "error"], [], True, 1),
    (["scanned"], ["group:acme/secret"], False, 0),
    (["scanned"], ["group:acme/secret"], True, 1),  # a whole unreadable group counts under --strict
    ([], ["group:acme", "group:labs"], False, 1),  # nothing could be read: not a clean org
    (["error"], [], False, 1),
])
def test_scan_exit_code_counts_unreadable_groups(projects: list[str], problems: list[str], strict: bool,
                                                 expected: int, capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.cli.scan import exit_code
    from migrate.core.model import Inventory, Problem, ProjectRecord

    inv = Inventory("https://gitlab.example", "17.5.0", decode_time("2026-11-25T00:00:00Z"),
                    projects=tuple(ProjectRecord(id=i, path=f"acme/p{i}", namespace_id=1, namespace_path="acme",
                                                 status=s)  # type: ignore[arg-type]
                                   for i, s in enumerate(projects)),
                    problems=tuple(Problem(s, "group not readable: 403 Forbidden") for s in problems))
    assert exit_code(inv, strict) == expected
    if "error" in projects or problems:
        assert "could not be read" in capsys.readouterr().err
