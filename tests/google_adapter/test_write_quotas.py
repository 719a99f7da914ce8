"""Google write quotas (issue 18): the client paces each quota, waits out 429 RESOURCE_EXHAUSTED
(Retry-After when given), and the emulator refuses the excess with Google's error body. One
read-modify-write per service account, whatever the number of members."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from migrate.core.config import GoogleConfig, parse_config
from migrate.google.clients import GoogleClients
from migrate.google.iam_policy import PolicyEditor
from migrate.google.quota import IAM_POLICY_WRITES, WIF_WRITES, WriteQuotas, is_quota_error, pacer
from migrate.sandbox.google.quota import classify
from migrate.sandbox.http import Fault
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import load_org

SA = "deployer@acme-prod.iam.gserviceaccount.com"
RESOURCE = f"projects/acme-prod/serviceAccounts/{SA}"
POOL = "projects/1/locations/global/workloadIdentityPools/gitlab"


def member(i: int) -> str:
    return f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/{1000 + i}"


@pytest.fixture(scope="module")
def module_sb() -> Any:
    with Sandbox(load_org("demo")) as sandbox:
        yield sandbox


@pytest.fixture()
def sb(module_sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Any:
    """One demo sandbox for the module; each test starts without quotas or faults."""
    for name, value in module_sb.env().items():
        monkeypatch.setenv(name, value)
    assert module_sb.google is not None
    module_sb.google.quotas = None
    module_sb.google.faults.clear()
    yield module_sb
    module_sb.google.quotas = None
    module_sb.google.faults.clear()


def clients(sb: Sandbox) -> GoogleClients:
    return GoogleClients(parse_config(sb.config_dict()).google)


def set_policy_writes(sb: Sandbox) -> list[dict[str, Any]]:
    assert sb.google is not None
    return [e for e in sb.google.requests_log() if e["method"] == "POST" and e["path"].endswith(":setIamPolicy")]


def test_defaults_are_googles_documented_quotas() -> None:
    cfg = parse_config({"gitlab": {"url": "https://g.example"}, "scope": {"groups": ["a"]},
                        "google": {"identity_project": "p"}}).google
    assert cfg.quotas == {"iam_policy_writes_per_minute": 600, "wif_writes_per_minute": 60}
    q = WriteQuotas()
    assert q.rates == {IAM_POLICY_WRITES: 600, WIF_WRITES: 60}
    off = parse_config({"gitlab": {"url": "https://g.example"}, "scope": {"groups": ["a"]},
                        "google": {"identity_project": "p", "quotas": {"wif_writes_per_minute": 0}}}).google
    assert off.quotas["wif_writes_per_minute"] is None


def _starts(limiter: Any, n: int) -> list[float]:
    """Start times of `n` back-to-back writes on a fake clock, after an idle period (full burst)."""
    now = [100.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter._clock = lambda: now[0]
    limiter._sleep = sleep
    limiter._next = 0.0
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(now[0])
    return out


def _worst_minute(starts: list[float]) -> int:
    import bisect

    return max(bisect.bisect_left(starts, t + 60.0) - i for i, t in enumerate(starts))


@pytest.mark.parametrize("quota", [600, 60, 40])
def test_pacer_never_starts_more_than_the_quota_in_any_minute(quota: int) -> None:
    starts = _starts(pacer(quota), quota * 3)
    assert _worst_minute(starts) <= quota
    steady = (len(starts) - 1) / (starts[-1] - starts[0]) * 60.0
    assert steady >= 0.9 * quota, steady
    # A pacer at the full quota with the same burst (no headroom) is caught by the same count.
    from migrate.gitlab.ratelimit import RateLimiter

    broken = _starts(RateLimiter(quota, burst=max(2, quota // 20)), quota * 2)
    assert _worst_minute(broken) > quota


def test_emulator_refuses_the_excess_with_googles_quota_error(sb: Sandbox) -> None:
    assert sb.google is not None
    sb.google.set_quotas({"iam_writes": 3, "wif_writes": 1}, window_s=30)
    editor = PolicyEditor(clients(sb), quotas=WriteQuotas({IAM_POLICY_WRITES: None, WIF_WRITES: None}, max_retries=0))
    for i in range(3):
        editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", [member(i)], dry_run=False)
    with pytest.raises(Exception) as info:
        editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", [member(9)], dry_run=False)
    assert "429" in str(info.value) and "RESOURCE_EXHAUSTED" in str(info.value)
    raw = sb.google.quotas
    assert raw is not None and raw.refused == {"iam_writes": 1}
    # Google's body: status, ErrorInfo RATE_LIMIT_EXCEEDED naming service, metric and limit.
    sa = clients(sb).iam().projects().serviceAccounts()
    with pytest.raises(HttpError) as http:
        sa.setIamPolicy(resource=RESOURCE, body={"policy": {"bindings": []}}).execute()
    assert is_quota_error(http.value)
    body = json.loads(http.value.content)["error"]
    assert body["code"] == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    info_detail = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))
    assert info_detail["reason"] == "RATE_LIMIT_EXCEEDED" and info_detail["metadata"]["service"] == "iam.googleapis.com"
    # reads are not charged
    assert classify("POST", f"/v1/{RESOURCE}:getIamPolicy") is None
    assert classify("POST", f"/v1/projects/-/serviceAccounts/{SA}:generateAccessToken") is None
    assert classify("POST", "/v1/projects/p/locations/global/workloadIdentityPools") == ("wif_writes", "p")
    assert classify("GET", "/v1/projects/p/locations/global/workloadIdentityPools/x/operations/o") is None


def test_paced_client_makes_no_quota_error_and_an_unpaced_one_recovers(sb: Sandbox) -> None:
    assert sb.google is not None
    quotas = sb.google.set_quotas({"iam_writes": 10, "wif_writes": 5}, window_s=1.0)
    paced = WriteQuotas({IAM_POLICY_WRITES: 10, WIF_WRITES: 5}, window_s=1.0)
    editor = PolicyEditor(clients(sb), quotas=paced)
    for i in range(25):
        editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", [member(i)], dry_run=False)
    assert quotas.refused == {} and paced.stats.quota_errors == {}
    assert quotas.max_in_window("iam_writes") <= 10
    # Without pacing the emulator refuses some writes; the client waits and every member lands.
    unpaced = WriteQuotas({IAM_POLICY_WRITES: None, WIF_WRITES: None}, backoff_s=0.5)
    editor = PolicyEditor(clients(sb), quotas=unpaced)
    for i in range(100, 115):
        editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", [member(i)], dry_run=False)
    assert quotas.refused.get("iam_writes", 0) > 0 and unpaced.stats.quota_errors[IAM_POLICY_WRITES] > 0
    policy = editor.read(RESOURCE)
    bound = {m for b in policy["bindings"] if b["role"] == "roles/iam.workloadIdentityUser" for m in b["members"]}
    assert {member(i) for i in [*range(25), *range(100, 115)]} <= bound


def test_retry_after_is_honoured_by_every_writer() -> None:
    class Resp(dict):  # httplib2.Response is a dict of lower-cased headers with .status
        status = 429
        reason = "Too Many Requests"

    slept: list[float] = []
    q = WriteQuotas({IAM_POLICY_WRITES: None, WIF_WRITES: None}, sleep=slept.append)
    calls = {"n": 0}

    def write() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise HttpError(Resp({"retry-after": "7"}), b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}')
        return "ok"

    assert q.call(IAM_POLICY_WRITES, write) == "ok"
    assert slept == [7.0, 7.0] and q.stats.quota_errors[IAM_POLICY_WRITES] == 2

    def denied() -> str:
        raise HttpError(type("R", (dict,), {"status": 403, "reason": "Forbidden"})(), b'{"error": {"code": 403}}')

    with pytest.raises(HttpError):  # not a quota error: not retried
        q.call(IAM_POLICY_WRITES, denied)


def test_a_429_fault_on_set_iam_policy_is_waited_out(sb: Sandbox) -> None:
    assert sb.google is not None
    sb.google.add_fault(Fault("POST", r":setIamPolicy$", status=429, count=2, retry_after=0))
    editor = PolicyEditor(clients(sb))
    change = editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", [member(999)], dry_run=False)
    assert change.added == (member(999),)
    assert editor.quotas.stats.quota_errors[IAM_POLICY_WRITES] == 2


def test_one_read_modify_write_per_service_account_whatever_the_members(sb: Sandbox) -> None:
    editor = PolicyEditor(clients(sb))
    members = [member(i) for i in range(500, 800)]
    before = len(set_policy_writes(sb))
    change = editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", members, dry_run=False)
    assert len(change.added) == 300 and change.attempts == 1
    assert len(set_policy_writes(sb)) == before + 1
    # a re-run writes nothing
    again = editor.ensure_members(RESOURCE, "roles/iam.workloadIdentityUser", members, dry_run=False)
    assert again.added == () and len(set_policy_writes(sb)) == before + 1


def test_google_config_without_quotas_still_paces_at_googles_defaults() -> None:
    editor = PolicyEditor(GoogleClients(GoogleConfig(identity_project="p")))
    assert editor.quotas.rates[IAM_POLICY_WRITES] == 600
