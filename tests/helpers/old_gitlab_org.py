"""The GitLab 14.7 seed organisation (`ORG`: the `CI_JOB_JWT_V2` era, one project whose file
variable holds a key, an identity project with an empty pool) and `run_demo`, which runs
`wif-migrate demo` on an org document in a subprocess (without the caller's GOOGLE_/WIF_SANDBOX_
environment) and returns its stdout. Used by the old-GitLab, issuer, STS token-type and
propagation tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ORG = """
seed: 3
gitlab:
  version: "14.7.0"
  users:
    - {username: migrator, token: sandbox-migrator-token, admin: true, name: WIF Migrator}
  groups:
    - path: acme
      id: 100
      projects:
        - path: api
          id: 1001
          variables:
            - key: GCP_SA_KEY
              sa_key: {service_account: deployer@acme-prod.iam.gserviceaccount.com, key: k1}
              variable_type: file
          files:
            .gitlab-ci.yml: |
              deploy:
                script:
                  - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
                  - gcloud run deploy api --region europe-west1
google:
  organization: {id: "123456789012", domain: acme.example}
  admin_token: sandbox-google-token
  projects:
    - project_id: acme-identity
      number: 499999999999
      workload_identity_pools: [{id: gitlab, state: ACTIVE, providers: []}]
    - project_id: acme-prod
      number: 411111111111
      service_accounts:
        - email: deployer@acme-prod.iam.gserviceaccount.com
          keys: [{label: k1, created: "2024-03-01T10:00:00Z", last_authenticated: "2026-11-20T07:00:00Z"}]
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "WIF_SANDBOX_"))}


def run_demo(tmp_path: Path, org_text: str) -> str:
    org = tmp_path / "org.yaml"
    org.write_text(org_text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "migrate", "demo", "--out", str(tmp_path / "out"),
                           "--org", str(org), "--now", "2026-11-25T09:00:00Z"],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout
