"""The plan's inputs are a typed contract (`core.model.PlanInputs`) with the JSON and digest of old.

`apply` and `keys retire` trust the plan's inputs only under `inputs_digest`, and a plan on disk
carries the digest main computed from a dict. So the typed inputs must encode to exactly that dict
for every inventory — same keys (`policy_members_other` only when a size was read), same values,
same order where order is data — and a plan file must load back into the same inputs. A hand edit
that does not fit the type is refused when the plan is read, naming the field, where main loaded it
and left every reader to guess (`inputs.get(...) or ()`).

The oracle is main's dict builder (tests/helpers/old_inputs.py) on generated inventories; two
plausible slips in the encoder (writing the empty policy sizes, losing a project's default branch)
are shown to be caught by the same comparison.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.old_inputs import main_digest, main_inputs
from helpers.plan_fixtures import config
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.cli.verbs import main
from migrate.core.codec import CodecError
from migrate.core.errors import UsageError
from migrate.core.model import (
    CIFinding,
    GroupRecord,
    Inventory,
    KeyFacts,
    KeyIdentity,
    KeyUsage,
    KeyVariable,
    OutsideReader,
    PlanInputs,
    ProjectRecord,
    UsageRun,
    from_dict,
    to_dict,
)
from migrate.plan import plan_io
from migrate.plan.planner import PlanFacts, inputs_digest, plan_inputs

FROM_MAIN = Path(__file__).resolve().parents[1] / "core" / "from_main" / "plan.json.gz"
SAS = ("a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com")
NAMES = ("GCP_KEY", "SA_KEY", "TF_KEY")
PATHS = ("acme/api", "acme/web", "acme/sub/infra", "other/x")

opt_bool = st.none() | st.booleans()
opt_text = st.none() | st.sampled_from(["", "denied", "EXPOSED", "USER_MANAGED", "SYSTEM_MANAGED"])
key = st.builds(KeyIdentity, st.sampled_from(SAS), st.sampled_from(["", "k1" * 20, "k2" * 20]),
                st.sampled_from(["", "p"]), st.sampled_from(["", "f1", "f2"]))
variable = st.builds(
    KeyVariable, st.sampled_from(["instance", "group", "project"]), st.sampled_from(["", "acme", *PATHS]),
    st.none() | st.integers(1, 2000), st.sampled_from(NAMES), variable_type=st.sampled_from(["env_var", "file"]),
    protected=st.booleans(), masked=st.booleans(), hidden=st.booleans(),
    environment_scope=st.sampled_from(["*", "production", "review/*"]),
    encoding=st.sampled_from(["json", "base64", "unknown"]), key=st.none() | key,
    suspected_reason=st.none() | st.just("hidden value named like a key"))
project = st.builds(
    ProjectRecord, st.integers(1, 2000), st.sampled_from(PATHS), st.integers(0, 300), st.sampled_from(["acme", "other"]),
    ancestor_ids=st.lists(st.integers(1, 300), max_size=3).map(tuple), default_branch=st.none() | st.just("main"),
    status=st.sampled_from(["scanned", "error", "skipped"]))
run = st.builds(UsageRun, st.sampled_from(PATHS), st.sampled_from(["deploy", "test"]),
                st.none() | st.sampled_from(["production", "review/$CI_COMMIT_REF_SLUG"]), st.booleans())
usage = st.builds(
    KeyUsage, st.sampled_from(PATHS), st.sampled_from([".gitlab-ci.yml", "ci/gcp.yml"]), st.sampled_from(["main", ""]),
    st.builds(CIFinding, st.integers(1, 90), st.integers(1, 90), st.just("activate"), st.none() | st.sampled_from(NAMES),
              st.just(("deploy",)), st.just("")),
    st.lists(st.sampled_from(PATHS), max_size=3).map(tuple),
    variables=st.lists(st.sampled_from([f"project:{p}:{n}" for p in PATHS for n in NAMES]), max_size=2).map(tuple),
    runs=st.lists(run, max_size=3).map(tuple))
facts = st.builds(KeyFacts, key, service_account_exists=opt_bool, service_account_disabled=opt_bool, key_exists=opt_bool,
                  disabled=opt_bool, unknown_reason=opt_text, key_type=opt_text, key_matches=opt_bool,
                  disable_reason=opt_text)
reader = st.builds(OutsideReader, st.sampled_from([f"group:acme:{n}" for n in NAMES]), st.sampled_from(["", *PATHS]),
                   st.none() | st.integers(1, 9), st.sampled_from(["", "archived"]))
inventory = st.builds(
    Inventory, st.just("https://gitlab.acme.example"), st.sampled_from(["15.6.2", "17.5.0", ""]), st.just("2026-01-01T00:00:00Z"),
    projects=st.lists(project, max_size=5).map(tuple), variables=st.lists(variable, max_size=5).map(tuple),
    usages=st.lists(usage, max_size=5).map(tuple), key_facts=st.lists(facts, max_size=4).map(tuple),
    groups=st.lists(st.builds(GroupRecord, st.integers(1, 300), st.sampled_from(["acme", "acme/sub"])),
                    max_size=3).map(tuple),
    outside_readers=st.lists(reader, max_size=3).map(tuple), other_variables=st.lists(variable, max_size=3).map(tuple))
live = st.tuples(st.sampled_from(["111111111111", "42"]), st.none() | st.just("https://issuer.example/"),
                 st.none() | st.just('{"keys":[]}'),
                 st.dictionaries(st.sampled_from(SAS), st.integers(0, 1500), max_size=2))


def mismatch(inv: Inventory, fact: tuple[str, str | None, str | None, dict[str, int]],
             encoder: Callable[[PlanInputs], Any] = to_dict) -> str | None:
    """Why the typed inputs of `inv` are not main's (encoded by `encoder`), or None."""
    number, issuer, jwks, sizes = fact
    typed = plan_inputs(inv, config(), PlanFacts(number, issuer=issuer, jwks_json=jwks, policy_members_other=sizes))
    old = main_inputs(inv, config(), number, issuer, jwks, sizes)
    got = encoder(typed)
    if got != old:
        differing = sorted(k for k in {*got, *old} if got.get(k) != old.get(k))
        return f"JSON differs in {differing}"
    if json.dumps(got, sort_keys=True) != json.dumps(old, sort_keys=True):
        return "JSON text differs"
    if encoder is to_dict and inputs_digest(typed) != main_digest(old):
        return "digest differs"
    back = from_dict(PlanInputs, json.loads(json.dumps(got)))  # the plan file, read again
    if back != typed or inputs_digest(back) != main_digest(old):
        return "does not load back into the same inputs"
    return None


@settings(max_examples=150, deadline=None)
@given(inventory, live)
def test_typed_inputs_are_mains_dict_and_digest_for_generated_inventories(inv: Inventory, fact: Any) -> None:
    assert mismatch(inv, fact) is None


def _empty_sizes_written(inputs: PlanInputs) -> Any:
    return {**to_dict(inputs), "policy_members_other": dict(inputs.policy_members_other)}


def _default_branch_lost(inputs: PlanInputs) -> Any:
    data = to_dict(inputs)
    for p in data["projects"]:
        p.pop("default_branch")
    return data


@pytest.mark.parametrize("slip", [_empty_sizes_written, _default_branch_lost])
def test_a_slip_in_the_encoding_is_caught(slip: Callable[[PlanInputs], Any]) -> None:
    caught: list[str] = []

    @settings(max_examples=60, deadline=None)
    @given(inventory, live)
    def check(inv: Inventory, fact: Any) -> None:
        why = mismatch(inv, fact, slip)
        if why is not None:
            caught.append(why)

    check()
    assert caught, f"{slip.__name__} was not caught"


def _mains_plan() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(FROM_MAIN.read_bytes()))
    return data


def test_mains_plan_keeps_its_inputs_digest() -> None:
    data = _mains_plan()
    plan = plan_io.from_data(data)
    assert isinstance(plan.inputs, PlanInputs)
    assert inputs_digest(plan.inputs) == data["inputs_digest"] == main_digest(data["inputs"])
    assert to_dict(plan.inputs) == data["inputs"]


@pytest.mark.parametrize(("edit", "path"), [
    (lambda i: i["projects"][0].update(id=str(i["projects"][0]["id"])), "inputs.projects[0].id"),
    (lambda i: i["usages"][0].update(line=None), "inputs.usages[0].line"),
    (lambda i: i.update(namespace_ids="12"), "inputs.namespace_ids"),
    (lambda i: i["keys"][0].update(key_exists="yes"), "inputs.keys[0].key_exists"),
    (lambda i: i.update(extra_projects=[]), "inputs"),
    (lambda i: i.pop("usages"), "inputs"),
], ids=["project id as text", "line null", "ids as text", "fact as text", "unknown field", "usages missing"])
def test_a_hand_edited_input_is_refused_when_the_plan_is_read(
        edit: Callable[[dict[str, Any]], Any], path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """main read these plans (inputs were any JSON) and each reader guessed; now the plan is refused
    at the door, naming the field, and `apply` exits 2 before anything is read or written."""
    data = _mains_plan()
    edit(data["inputs"])
    with pytest.raises(UsageError, match=rf"malformed plan: {re.escape(path)}\b"):
        plan_io.from_data(data)
    target = tmp_path / "plan.json"
    target.write_text(json.dumps(data))
    monkeypatch.setenv("T_GOOGLE", "token")
    monkeypatch.setenv("T_GITLAB", "token")
    nowhere = "http://127.0.0.1:9"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "version": 1, "gitlab": {"url": nowhere, "token_env": "T_GITLAB"}, "scope": {"groups": ["acme"]},
        "state_dir": str(tmp_path / "state"),
        "google": {"identity_project": "acme-id", "access_token_env": "T_GOOGLE",
                   "endpoints": {"iam": nowhere, "policyanalyzer": nowhere}}}))
    assert main(["apply", "--dry-run", str(target), "--config", str(cfg)]) == 2
    assert f"malformed plan: {path}" in capsys.readouterr().err


def test_a_plan_written_without_inputs_loads_as_none() -> None:
    """Builds before the inputs were typed wrote `"inputs": {}` for a plan without them."""
    data = {**_mains_plan(), "inputs": {}, "inputs_digest": ""}
    assert plan_io.from_data(data).inputs is None
    with pytest.raises(CodecError):
        from_dict(PlanInputs, {})
