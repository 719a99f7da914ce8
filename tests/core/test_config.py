"""Config loading: the example is valid, and every malformed input names the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.core.config import load_config, parse_config
from migrate.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"gitlab": {"url": "https://gitlab.example.com"}, "scope": {"groups": ["acme"]},
        "google": {"identity_project": "acme-identity"}}


def with_(path: str, value: object) -> dict:
    data = {k: dict(v) for k, v in BASE.items()}
    section, _, key = path.partition(".")
    if key:
        data.setdefault(section, {})[key] = value
    else:
        data[section] = value  # type: ignore[assignment]
    return data


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.yaml")
    assert config.gitlab.url == "https://gitlab.example.com"
    assert config.scope.groups == ("acme",)
    assert config.keys.grace_days == 14
    assert config.google.pool_id == "gitlab"


def test_defaults_and_trailing_slash() -> None:
    config = parse_config(with_("gitlab.url", "https://gitlab.example.com/"))
    assert config.gitlab.url == "https://gitlab.example.com"
    assert config.concurrency == 8
    assert config.state_dir == ".wif-migrate"


@pytest.mark.parametrize(
    ("path", "value", "key", "words"),
    [
        ("gitlab.url", "gitlab.example.com", "gitlab.url", "http(s) URL"),
        ("gitlab.token_env", "glpat-abc def", "gitlab.token_env", "environment variable name"),
        ("gitlab.version", "latest", "gitlab.version", "MAJOR.MINOR"),
        ("scope.groups", "acme", "scope.groups", "must be list"),
        ("scope.exclude", ["ok", 3], "scope.exclude[1]", "non-empty string"),
        ("scope.exlude", ["x"], "scope.exlude", "unknown key"),
        ("google.pool_id", "gcp-pool", "google.pool_id", "gcp-"),
        ("google.pool_id", "abc", "google.pool_id", "4-32"),
        ("google.endpoints", {"iam": "not a url"}, "google.endpoints.iam", "URL"),
        ("google.endpoints", {"storage": "http://x"}, "google.endpoints.storage", "unknown endpoint"),
        ("concurrency", 0, "concurrency", "positive"),
        ("concurrency", True, "concurrency", "must be int"),
        ("reports.formats", ["pdf"], "reports.formats", "unknown format"),
        ("keys.grace_days", -1, "keys.grace_days", "positive"),
        ("rate_limit_rpm", -5, "rate_limit_rpm", "0/null for no limit"),
        ("rate_limit_rpm", "fast", "rate_limit_rpm", "must be int"),
        ("google.operation_poll_interval", 0, "google.operation_poll_interval", "seconds"),
        ("google.operation_poll_interval", True, "google.operation_poll_interval", "seconds"),
    ],
)
def test_errors_name_the_key(path: str, value: object, key: str, words: str) -> None:
    data = with_(path, value) if "." in path else {**BASE, path: value}
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.key == key
    assert words in str(info.value)


def test_missing_required_keys() -> None:
    with pytest.raises(ConfigError, match="gitlab.url: is required"):
        parse_config({"gitlab": {}, "scope": {"groups": ["a"]}, "google": {"identity_project": "p"}})
    with pytest.raises(ConfigError, match="google.identity_project: is required"):
        parse_config({**BASE, "google": {}})
    with pytest.raises(ConfigError, match="scope"):
        parse_config({**BASE, "scope": {}})


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("gitlab:\n  url: [unclosed\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(p)


def test_token_is_read_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(with_("gitlab.token_env", "MY_TOKEN"))
    monkeypatch.delenv("MY_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="MY_TOKEN is not set"):
        config.gitlab.token()
    monkeypatch.setenv("MY_TOKEN", "t0k")
    assert config.gitlab.token() == "t0k"


@pytest.mark.parametrize(("value", "expected"), [(1800, 1800), (120, 120), (0, None), (None, None)])
def test_rate_limit_zero_or_null_means_no_client_side_limit(value: object, expected: int | None) -> None:
    from migrate.gitlab.client import GitLabClients

    config = parse_config({**BASE, "rate_limit_rpm": value})
    assert config.rate_limit_rpm == expected
    limiter = GitLabClients.from_config(config).limiter
    assert (limiter is None) == (expected is None)


def test_rate_limit_and_poll_interval_defaults() -> None:
    config = parse_config(BASE)
    assert config.rate_limit_rpm == 1800 and config.google.operation_poll_interval == 1.0
    assert parse_config(with_("google.operation_poll_interval", 0.05)).google.operation_poll_interval == 0.05
