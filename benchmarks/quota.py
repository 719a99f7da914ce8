"""Benchmark `ensure_binding` under Google's write quota (not a timed test).

    python benchmarks/quota.py [--bindings 1000] [--projects 10] [--json]

Serves a Google emulator holding `--bindings` service accounts spread over `--projects` projects
with Google's documented write quotas switched on (600 IAM v1 writes and 60 workload-identity
writes per project per minute, sliding 60 s window; migrate/sandbox/google/quota.py), and runs
apply's `ensure_binding` executor (read-modify-write of each service account's IAM policy, one
member each) with the tool's default pacing (`google.quotas`: Google's numbers). Reports
`writes`, `wall_s`, `achieved_per_minute` (writes between the first and the last accepted one,
per minute), `rate_over_configured` (target ≥ 0.9), `busiest_minute` (the most writes the emulator
accepted for one project in any 60 s; ≤ 600) and `busiest_minute_all_projects` (all projects
together: the client's single bucket keeps even that ≤ 600), `quota_errors_client` and `refused_by_emulator`
(target 0), and all bindings present afterwards.

The pacer is one bucket for the whole run (migrate/google/quota.py), so spreading the service
accounts over several projects does not raise the rate: the run stays under the quota whichever
project Google charges.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from migrate.apply.binding_executor import EnsureBindingExecutor
from migrate.apply.context import ApplyContext
from migrate.core.codec import EPOCH
from migrate.core.config import parse_config
from migrate.core.model import Action, BindingParams, Plan
from migrate.google.clients import GoogleClients
from migrate.google.iam_policy import PolicyEditor
from migrate.google.quota import IAM_POLICY_WRITES, quotas_from
from migrate.plan.federation_design import ROLE
from migrate.sandbox.launch import Sandbox
from migrate.sandbox.org import parse_org

POOL = "projects/799999999999/locations/global/workloadIdentityPools/gitlab"


def org(bindings: int, projects: int) -> dict[str, Any]:
    gprojects: list[dict[str, Any]] = [{"project_id": "q-identity", "number": 799999999999, "service_accounts": []}]
    for p in range(projects):
        gprojects.append({"project_id": f"q-prod-{p}", "number": 700000000000 + p, "service_accounts": []})
    for i in range(bindings):
        gp = gprojects[1 + i % projects]
        gp["service_accounts"].append({"email": f"sa-{i}@{gp['project_id']}.iam.gserviceaccount.com",
                                       "display_name": f"SA {i}", "keys": []})
    return {"seed": 1, "gitlab": {"groups": [{"path": "q", "projects": [{"path": "p"}]}]},
            "google": {"organization": {"id": "900000000000", "domain": "q.example"}, "projects": gprojects,
                       "admin_token": "sandbox-google-token"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bindings", type=int, default=1000)
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    spec = org(args.bindings, args.projects)
    with Sandbox(parse_org(spec)) as sb:
        assert sb.google is not None
        os.environ.update(sb.env())
        quotas = sb.google.set_quotas()  # Google's numbers, 60 s window
        data = sb.config_dict()
        data["google"].pop("quotas", None)  # the tool's defaults: Google's documented quotas
        config = parse_config(data)
        ctx = ApplyContext(Plan(gitlab_url=sb.gitlab_url, identity_project="q-identity", project_number="1",
                                pool_id="gitlab", provider_id="gitlab", generated_at=EPOCH, inventory_digest="",
                                actions=()), False, config)
        client = quotas_from(config.google)  # the run's pacer, as `apply` builds it
        executor = EnsureBindingExecutor(PolicyEditor(GoogleClients(config.google), quotas=client))
        accounts = [(gp["project_id"], sa["email"]) for gp in spec["google"]["projects"]
                    for sa in gp["service_accounts"]]
        outcomes: dict[str, int] = {}
        started = time.perf_counter()
        for i, (project, email) in enumerate(accounts):
            member = f"principalSet://iam.googleapis.com/{POOL}/attribute.project_id/{1000 + i}"
            action = Action(f"ensure_binding:{email}", "ensure_binding", email, "bench",
                            params=BindingParams(service_account=email,
                                                 resource=f"projects/{project}/serviceAccounts/{email}",
                                                 role=ROLE, members=(member,), already_present=(), scopes=(),
                                                 credential_configuration={}))
            result = executor.execute(action, ctx)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        wall = time.perf_counter() - started
        times = [t for t, q, _p in quotas.accepted if q == "iam_writes"]
        achieved = (len(times) - 1) / (times[-1] - times[0]) * 60.0 if len(times) > 1 else 0.0
        configured = client.rates[IAM_POLICY_WRITES] or 0
        bound = sum(1 for sa in sb.google.world.service_accounts.values()
                    if any(b.get("role") == ROLE for b in sa.policy.bindings))
        result = {
            "bindings": args.bindings, "projects": args.projects, "writes": len(times),
            "outcomes": outcomes, "wall_s": round(wall, 2),
            "configured_per_minute": configured, "achieved_per_minute": round(achieved, 1),
            "rate_over_configured": round(achieved / configured, 3) if configured else None,
            "busiest_minute": quotas.max_in_window("iam_writes"),
            "busiest_minute_all_projects": quotas.max_in_window("iam_writes", all_projects=True),
            "quota_errors_client": sum(client.stats.quota_errors.values()),
            "refused_by_emulator": sum(quotas.refused.values()),
            "client_waited_s": round(client.stats.waited_s.get(IAM_POLICY_WRITES, 0.0), 1),
            "service_accounts_with_binding": bound,
        }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for k, v in sorted(result.items()):
            print(f"{k:30} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
