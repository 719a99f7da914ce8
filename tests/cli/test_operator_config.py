"""Config paths resolve against the config file's folder; reads create nothing; `init` writes the
commented starter that ships in the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.cli.init import starter_text
from migrate.cli.verbs import main
from migrate.core.config import load_config

ROOT = Path(__file__).parents[2]


def _config(folder: Path, **extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "wif-migrate.yaml"
    path.write_text(json.dumps({"gitlab": {"url": "https://gitlab.example.com"}, "scope": {"groups": ["acme"]},
                                "google": {"identity_project": "acme-identity", **extra}}))
    return path


def test_relative_paths_are_next_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path / "proj", credentials_file="keys/adc.json")
    (tmp_path / "proj" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "proj" / "sub")
    config = load_config("../wif-migrate.yaml")
    assert Path(config.state_dir) == (tmp_path / "proj" / ".wif-migrate").absolute()
    assert Path(config.reports.out) == (tmp_path / "proj" / "reports").absolute()
    assert config.google.credentials_file == str((tmp_path / "proj" / "keys" / "adc.json").absolute())
    assert load_config(cfg).state_dir == config.state_dir  # same from anywhere


def test_verify_from_a_subfolder_names_the_state_and_leaves_nothing(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path / "proj")
    (tmp_path / "proj" / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "proj" / "sub")
    for argv in (["verify", "-c", "../wif-migrate.yaml"], ["plan", "-c", "../wif-migrate.yaml", "--offline",
                                                           "--project-number", "1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert str(tmp_path / "proj" / ".wif-migrate") in err
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == ["sub", "wif-migrate.yaml"]
    assert list((tmp_path / "proj" / "sub").iterdir()) == []


def test_init_writes_the_packaged_starter_and_never_overwrites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert starter_text() == (ROOT / "config.example.yaml").read_text(encoding="utf-8"), \
        "migrate/starter_config.yaml must stay identical to config.example.yaml"
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    written = tmp_path / "wif-migrate.yaml"
    assert written.read_text(encoding="utf-8") == starter_text() and "#" in starter_text()
    assert load_config(written).google.identity_project
    written.write_text("mine")
    assert main(["init"]) == 2 and written.read_text() == "mine"
    assert "pass --force" in capsys.readouterr().err
    assert main(["init", "-"]) == 0 and capsys.readouterr().out == starter_text()


def test_missing_config_points_at_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["verify"]) == 2
    err = capsys.readouterr().err
    assert "wif-migrate init" in err and "config.example.yaml" not in err
