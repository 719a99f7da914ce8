"""`merge_request` params through the one codec: a round trip for every shape the planner writes
(one file at the top level, several under `files`, a consumer's ID-token change, a template that
waits for its consumers), and a hand edit — an alias the old lenient reader took, a missing field, a
value of the wrong type, deep inside the consumer check — refused with the field's path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers.plan_fixtures import mr_params
from hypothesis import given, settings
from hypothesis import strategies as st

from migrate.core.codec import CodecError, decode, encode
from migrate.core.model import (
    BindingRefs,
    CheckedFile,
    CheckedPipeline,
    ConsumerCheckInputs,
    ConsumerTokens,
    MergeRequestParams,
    MRFile,
    MRRewriteOptions,
    RetiredKey,
)

text = st.text(max_size=10)
names = st.lists(text, max_size=3).map(tuple)
file_id = st.tuples(text, text, text)
file_ids = st.lists(file_id, max_size=3).map(tuple)
accounts = st.dictionaries(text, text, max_size=2)
options = st.builds(
    MRRewriteOptions, text, st.none() | text, st.none() | accounts,
    st.none() | st.dictionaries(text, accounts, max_size=2),
    st.none() | st.dictionaries(text, st.dictionaries(text, accounts, max_size=2), max_size=2),
    st.none() | file_ids, st.none() | names)
check = st.builds(ConsumerCheckInputs,
                  st.lists(st.builds(CheckedPipeline, text, text,
                                     st.lists(st.builds(CheckedFile, file_id, file_ids), max_size=2).map(tuple)),
                           max_size=2).map(tuple),
                  names, st.sampled_from(["id_tokens", "jwt_v2"]),
                  st.dictionaries(text, st.dictionaries(text, st.dictionaries(text, accounts, max_size=2),
                                                        max_size=2), max_size=2))
tokens = st.builds(ConsumerTokens, text, text, st.dictionaries(text, names, max_size=2),
                   st.dictionaries(text, file_ids, max_size=2))
mr_file = st.builds(MRFile, text, text, text, names, st.none() | text, st.none() | text)


@st.composite
def merge_requests(draw: st.DrawFn) -> MergeRequestParams:
    several = draw(st.booleans())
    return MergeRequestParams(
        project=draw(text), project_id=draw(st.none() | st.integers(0, 10**6)), ref=draw(text),
        file_path=draw(text), diff=draw(text), status="rewritten", reasons=draw(names), jobs=draw(names),
        consumers=draw(names), effective_jobs=draw(st.dictionaries(text, names, max_size=2)),
        provider=draw(text), audience=draw(text),
        keys=draw(st.lists(st.builds(RetiredKey, text, text, names), max_size=2).map(tuple)),
        binding=BindingRefs(draw(names)), rewrite_options=draw(options),
        new_content=None if several else draw(text),
        base_blob_id=None if several else draw(st.none() | text),
        base_commit_id=None if several else draw(st.none() | text),
        files=draw(st.lists(mr_file, min_size=1, max_size=3).map(tuple)) if several else (),
        service_accounts=draw(st.none() | accounts), consumer_check=draw(st.none() | check),
        after_merged=draw(names), consumer_tokens=draw(st.none() | tokens))


@settings(max_examples=80, deadline=None)
@given(merge_requests())
def test_merge_request_params_round_trip(params: MergeRequestParams) -> None:
    data = json.loads(json.dumps(encode(params)))
    back = decode(MergeRequestParams, data)
    assert back == params and encode(back) == data
    assert [f.file_path for f in back.changes] == ([f.file_path for f in params.files] or [params.file_path])


def _planned() -> dict[str, Any]:
    """A file's own MR as the planner writes it, with a consumer check of one pipeline."""
    pipeline = CheckedPipeline("acme/web", "", (CheckedFile(("acme/web", ".gitlab-ci.yml", "main"),
                                                            (("acme/tpl", "gcp.yml", ""),)),))
    return encode(mr_params(
        "acme/tpl", "gcp.yml", keys=(RetiredKey("sa@p.iam.gserviceaccount.com", "ab" * 20, ("group:acme:K",)),),
        service_accounts={"K": "sa@p.iam.gserviceaccount.com"},
        consumer_check=ConsumerCheckInputs((pipeline,), ("K",), "id_tokens", {"acme/web": {}})))


@pytest.mark.parametrize(("edit", "path", "problem"), [
    # aliases the lenient reader of old accepted and the planner never wrote
    (lambda d: d.update(file_project=d.pop("project")), "file_project", "unknown field"),
    (lambda d: d.update(target_branch=d.pop("ref")), "target_branch", "unknown field"),
    (lambda d: d.update(retires=d.pop("keys")), "retires", "unknown field"),
    (lambda d: d.update(content=d.pop("new_content")), "content", "unknown field"),
    (lambda d: d["keys"][0].update(variable="group:acme:K"), "keys[0].variable", "unknown field"),
    (lambda d: d.update(bindings=["ensure_binding:x"]), "bindings", "unknown field"),
    # missing
    (lambda d: d.pop("ref"), "ref", "missing"),
    (lambda d: d.pop("new_content"), "new_content", "missing"),
    (lambda d: d["keys"][0].pop("key_id"), "keys[0].key_id", "missing"),
    # ill-typed
    (lambda d: d.update(jobs="deploy"), "jobs", "expected a list"),
    (lambda d: d.update(project_id="1001"), "project_id", "expected an integer"),
    (lambda d: d.update(status="manual"), "status", "'manual' is not one of"),
    (lambda d: d["binding"].update(bindings="ensure_binding:x"), "binding.bindings", "expected a list"),
    (lambda d: d["consumer_check"]["pipelines"][0]["files"][0].update(id=["acme/web", ".gitlab-ci.yml"]),
     "consumer_check.pipelines[0].files[0].id", "expected 3 items"),
    (lambda d: d["consumer_check"].update(token_mode="jwt"), "consumer_check.token_mode", "'jwt' is not one of"),
    (lambda d: d["rewrite_options"].update(included=[["a", "b"]]), "rewrite_options.included[0]",
     "expected 3 items"),
])
def test_a_hand_edited_merge_request_is_refused_with_the_path(edit: Any, path: str, problem: str) -> None:
    data = _planned()
    decode(MergeRequestParams, data)  # as planned: fine
    edit(data)
    with pytest.raises(CodecError) as err:
        decode(MergeRequestParams, data)
    assert err.value.path == path and problem in err.value.problem, err.value


def test_the_lenient_reader_of_old_took_what_is_now_refused() -> None:
    """The refusals above can fail: a reader that takes aliases and fills gaps (as `parse_params`
    did) reads the edited file as if nothing were wrong."""
    def lenient_project(p: dict[str, Any]) -> str:
        return str(p.get("project") or p.get("file_project") or "")

    data = _planned()
    data["file_project"] = data.pop("project")
    assert lenient_project(data) == "acme/tpl"  # silently accepted
    with pytest.raises(CodecError, match="file_project: unknown field"):
        decode(MergeRequestParams, data)
