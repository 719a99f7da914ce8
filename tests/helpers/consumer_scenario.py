"""The consumer-check scenario both pure consumer-check test modules build on: a template project's
key-based `.gcp-auth` hidden job, the provider and account it migrates to, and the files of one
consumer pipeline (root file, a local include, the template)."""

from __future__ import annotations

from migrate.plan.consumer_check import FileId

NUMBER = "111111111111"
PROVIDER = f"projects/{NUMBER}/locations/global/workloadIdentityPools/gitlab/providers/gitlab"
AUD = f"https://iam.googleapis.com/{PROVIDER}"
SA = "deployer@acme-prod.iam.gserviceaccount.com"
TEMPLATE = """.gcp-auth:
  image: google/cloud-sdk:467.0.0-slim
  before_script:
    - gcloud auth activate-service-account --key-file "$GCP_SA_KEY"
"""
TPL: FileId = ("acme/templates", "gcp.yml", "main")
ROOT: FileId = ("acme/web", ".gitlab-ci.yml", "main")
LOCAL: FileId = ("acme/web", "ci/jobs.yml", "main")
