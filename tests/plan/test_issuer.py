"""The provider's issuer is what the tokens carry, not what discovery says (migrate/plan/issuer.py).

GitLab's discovery document always says `Gitlab.config.gitlab.url`; tokens carry the
`ci_id_tokens_issuer_url` setting when set, and up to 18.0 `Settings.gitlab.base_url` (no relative
URL root). The emulator's `issuer_url` makes its tokens carry another `iss` while discovery keeps
the base URL, as on GitLab.
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest
import requests
import yaml
from helpers.old_gitlab_org import ORG, run_demo

from migrate.cli.verbs import main
from migrate.core.errors import UsageError
from migrate.plan.issuer import choose_issuer, token_issuer
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

OVERRIDE = "https://oidc.acme.example/gitlab"


def _org(version: str = "17.5.0", issuer_url: str | None = OVERRIDE) -> str:
    data = yaml.safe_load(ORG)
    data["gitlab"]["version"] = version
    if issuer_url:
        data["gitlab"]["issuer_url"] = issuer_url
    return yaml.safe_dump(data, sort_keys=False)


def test_emulator_discovery_keeps_the_base_url_when_tokens_carry_an_override() -> None:
    with Sandbox(parse_org(yaml.safe_load(_org()))) as sb:
        disc = requests.get(sb.gitlab_url + "/.well-known/openid-configuration", timeout=10).json()
        token = sb.gitlab.mint_id_token("acme/api", ref="main", audience="x")
        assert disc["issuer"] == sb.gitlab_url.rstrip("/")
        assert jwt.decode(token, options={"verify_signature": False})["iss"] == OVERRIDE


def test_choose_issuer_rules() -> None:
    url = "https://git.example.com/gitlab"
    # explicit setting wins, and a mismatch with discovery is said
    c = choose_issuer(url, "17.5.0", url, configured=OVERRIDE)
    assert c.issuer == OVERRIDE and c.source == "gitlab.issuer" and any("differs" in w for w in c.warnings)
    # a real token's iss next
    c = choose_issuer(url, "17.5.0", url, token_iss=OVERRIDE + "/")
    assert c.issuer == OVERRIDE and c.source == "ID token" and c.warnings
    # discovery, with the base-URL rule up to 18.0 for a relative URL root
    c = choose_issuer(url, "17.5.0", url)
    assert c.issuer == "https://git.example.com" and c.warnings
    c = choose_issuer(url, "18.1.0", url)
    assert (c.issuer, c.warnings) == (url, ())
    assert choose_issuer("https://g.example", "16.0.0", "https://g.example").warnings == ()
    # nothing reachable: the configured URL
    assert choose_issuer(url + "/", None, None).issuer == url
    # configured and token disagree: configured is used and the conflict said
    c = choose_issuer(url, "17.5.0", url, configured=OVERRIDE, token_iss=url)
    assert c.issuer == OVERRIDE and any("ID token" in w for w in c.warnings)


def test_token_issuer_reads_iss_and_refuses_non_jwts() -> None:
    token = jwt.encode({"iss": OVERRIDE + "/", "sub": "x"}, "k" * 32, algorithm="HS256")
    assert token_issuer(token + "\n") == OVERRIDE
    for bad in ("", "a.b", "a.b.c", jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")):
        with pytest.raises(UsageError):
            token_issuer(bad)


def test_plan_takes_the_issuer_from_an_id_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(parse_org(yaml.safe_load(_org()))) as sb:
        config = sb.config_dict(state_dir=str(tmp_path / "state"))
        config["gitlab"].pop("issuer")  # the operator did not say: the token must
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
        token = tmp_path / "t.jwt"
        token.write_text(sb.gitlab.mint_id_token("acme/api", ref="main", audience="x") + "\n", encoding="utf-8")
        assert main(["scan", "-c", str(tmp_path / "c.yaml"), "-o", str(tmp_path / "inv.json"),
                     "--progress", "never"]) == 1  # 1: keys found
        argv = ["plan", "-c", str(tmp_path / "c.yaml"), "--inventory", str(tmp_path / "inv.json"), "--no-diff"]
        assert main([*argv, "-o", str(tmp_path / "without.json")]) == 0
        capsys.readouterr()
        assert main([*argv, "-o", str(tmp_path / "with.json"), "--id-token", str(token)]) == 0
        err = capsys.readouterr().err

        def issuer(name: str) -> str:
            plan = json.loads((tmp_path / name).read_text(encoding="utf-8"))
            provider = next(a for a in plan["actions"] if a["kind"] == "ensure_provider")
            return str(provider["params"]["desired"]["oidc"]["issuerUri"])

        assert issuer("without.json") == sb.gitlab_url.rstrip("/")  # what discovery says: wrong here
        assert issuer("with.json") == OVERRIDE
        assert "differs from the discovery document's issuer" in err
        assert token.read_text(encoding="utf-8").strip() not in err


@pytest.mark.slow
def test_issuer_override_org_migrates_end_to_end(tmp_path: Path) -> None:
    out = run_demo(tmp_path, _org())
    plan = json.loads((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    provider = next(a for a in plan["actions"] if a["kind"] == "ensure_provider")
    assert provider["params"]["desired"]["oidc"]["issuerUri"] == OVERRIDE
    verify = out.split("=== 5. verify")[1].split("=== 6.")[0]
    assert "1 verified, 0 failed, 0 pending" in verify, verify
