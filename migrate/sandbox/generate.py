"""Generate large org description files for benchmarks and scale tests.

`generate_org(projects, seed, keys)` returns an org-file mapping (docs/sandbox.md) with the
projects spread over nested groups (top-level groups → subgroups → sub-subgroups) and a mix that
resembles a real estate: about 40% plain CI without Google, 30% key activation variants (file
variable, base64, raw JSON, GOOGLE_APPLICATION_CREDENTIALS, docker `_json_key`, Terraform), 10%
including a shared template from the group's templates project, 8% already federated, 5% archived
with a key, 5% with no CI file, 2% using the group's inherited key variable. RSA key generation is
slow, so only `keys` distinct keys exist and they are reused across many projects. Pure and fast:
10,000 projects build in well under a second.
"""

from __future__ import annotations

import random
from typing import Any

PLAIN = """stages: [build, test]

build:
  stage: build
  image: {image}
  script:
    - make build

test:
  stage: test
  image: {image}
  script:
    - make test
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
"""

KEY_FILE = """stages: [test, deploy]

test:
  stage: test
  image: {image}
  script: [make test]

deploy:
  stage: deploy
  image: google/cloud-sdk:slim
  script:
    - gcloud auth activate-service-account --key-file "${var}"
    - gcloud run deploy {name} --image gcr.io/{gproject}/{name} --region europe-west1
  environment: production
  only: [main]
"""

KEY_BASE64 = """stages: [deploy]

.gcp-login:
  before_script:
    - echo "${var}" | base64 -d > /tmp/key.json
    - gcloud auth activate-service-account --key-file /tmp/key.json

deploy:
  extends: .gcp-login
  stage: deploy
  image: google/cloud-sdk:alpine
  script:
    - gsutil -m rsync -r build gs://{gproject}-{name}
  rules:
    - if: $CI_COMMIT_BRANCH == "main"
"""

KEY_GAC = """stages: [deploy]

deploy:
  stage: deploy
  image: python:3.12
  before_script:
    - echo "${var}" > "$CI_PROJECT_DIR/sa.json"
    - export GOOGLE_APPLICATION_CREDENTIALS="$CI_PROJECT_DIR/sa.json"
  script:
    - python deploy.py --project {gproject}
"""

KEY_DOCKER = """stages: [publish]

publish:
  stage: publish
  image: docker:24
  services: [docker:24-dind]
  script:
    - cat "${var}" | docker login -u _json_key --password-stdin https://gcr.io
    - docker build -t gcr.io/{gproject}/{name}:$CI_COMMIT_SHORT_SHA .
    - docker push gcr.io/{gproject}/{name}:$CI_COMMIT_SHORT_SHA
"""

KEY_TERRAFORM = """image:
  name: hashicorp/terraform:1.7
  entrypoint: [""]

stages: [plan, apply]

plan:
  stage: plan
  variables:
    GOOGLE_CREDENTIALS: ${var}
  script:
    - terraform init -input=false
    - terraform plan -out plan.tfplan

apply:
  stage: apply
  variables:
    GOOGLE_APPLICATION_CREDENTIALS: ${var}
  script:
    - terraform apply -input=false plan.tfplan
  when: manual
"""

TEMPLATE_USER = """include:
  - project: {templates}
    file: templates/gcp.yml

stages: [deploy]

deploy:
  extends: .gcp-auth
  stage: deploy
  script:
    - gcloud app deploy --quiet
"""

TEMPLATE = """.gcp-auth:
  image: google/cloud-sdk:slim
  before_script:
    - echo "$GROUP_GCP_KEY" | base64 -d > /tmp/key.json
    - gcloud auth activate-service-account --key-file /tmp/key.json
"""

FEDERATED = """stages: [deploy]

deploy:
  stage: deploy
  image: google/cloud-sdk:slim
  id_tokens:
    GCP_ID_TOKEN:
      aud: https://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/gitlab/providers/gitlab
  script:
    - echo "$GCP_ID_TOKEN" > .token
    - gcloud iam workload-identity-pools create-cred-config projects/{number}/locations/global/workloadIdentityPools/gitlab/providers/gitlab --credential-source-file=.token --output-file=creds.json
    - gcloud auth login --cred-file=creds.json
"""

INHERITED = """deploy:
  stage: deploy
  image: google/cloud-sdk:slim
  script:
    - echo "$GROUP_GCP_KEY" | base64 -d > key.json
    - gcloud auth activate-service-account --key-file key.json
    - gcloud functions deploy {name} --region europe-west1
"""

IMAGES = ("node:20", "python:3.12", "golang:1.22", "maven:3.9", "ruby:3.3", "rust:1.77")
# (template, variable type, encoding, share of projects)
KEY_VARIANTS = ((KEY_FILE, "file", "json"), (KEY_BASE64, "env_var", "base64"),
                (KEY_GAC, "env_var", "json"), (KEY_DOCKER, "file", "json"),
                (KEY_TERRAFORM, "file", "json"))


def _google(keys: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    projects: list[dict[str, Any]] = []
    pool: list[tuple[str, str]] = []
    for i in range(3):
        pid = f"gen-prod-{i}"
        projects.append({"project_id": pid, "number": 700000000000 + i, "service_accounts": []})
    projects.insert(0, {"project_id": "gen-identity", "number": 799999999999, "service_accounts": []})
    for k in range(keys):
        gp = projects[1 + k % 3]
        email = f"deployer-{k}@{gp['project_id']}.iam.gserviceaccount.com"
        gp["service_accounts"].append({
            "email": email, "display_name": f"Deployer {k}",
            "keys": [{"label": "k1", "created": f"2024-{1 + k % 12:02d}-01T10:00:00Z",
                      "last_authenticated": "2026-11-20T07:00:00Z"}]})
        pool.append((email, "k1"))
    return ({"organization": {"id": "900000000000", "domain": "gen.example"}, "projects": projects,
             "admin_token": "sandbox-google-token"}, pool)


def _leaf_groups(n_groups: int, rng: random.Random, next_id: list[int]) -> tuple[list[dict[str, Any]],
                                                                                  list[dict[str, Any]]]:
    """Top-level groups with two levels of subgroups; returns (top groups, leaf groups)."""
    tops, leaves = [], []
    for t in range(n_groups):
        top: dict[str, Any] = {"path": f"org{t}", "id": next_id[0], "subgroups": [], "projects": []}
        next_id[0] += 1
        tops.append(top)
        for s in range(rng.randint(2, 4)):
            sub: dict[str, Any] = {"path": f"team{s}", "id": next_id[0], "subgroups": [], "projects": []}
            next_id[0] += 1
            top["subgroups"].append(sub)
            leaves.append(sub)
            for a in range(rng.randint(0, 2)):
                leaf: dict[str, Any] = {"path": f"area{a}", "id": next_id[0], "projects": []}
                next_id[0] += 1
                sub["subgroups"].append(leaf)
                leaves.append(leaf)
    return tops, leaves


def generate_org(projects: int, seed: int = 0, keys: int = 20) -> dict[str, Any]:
    """An org-file mapping with `projects` projects and at most `keys` distinct keys."""
    rng = random.Random(seed)
    keys = max(1, keys)
    google, pool = _google(keys)
    n_tops = max(1, min(20, projects // 500 or 1))
    tops, leaves = _leaf_groups(n_tops, rng, [10])
    number = google["projects"][0]["number"]
    for top in tops:
        sa, label = pool[rng.randrange(len(pool))]
        top["variables"] = [{"key": "GROUP_GCP_KEY", "sa_key": {"service_account": sa, "key": label,
                                                               "encoding": "base64"}, "masked": True}]
        top["projects"].append({"path": "ci-templates", "files": {
            "templates/gcp.yml": TEMPLATE, ".gitlab-ci.yml": PLAIN.format(image="alpine:3.19")}})
    made = len(tops)
    top_of_leaf = {id(leaf): top for top in tops for sub in top["subgroups"]
                   for leaf in [sub, *sub["subgroups"]]}
    while made < projects:
        leaf = leaves[rng.randrange(len(leaves))]
        top = top_of_leaf[id(leaf)]
        name = f"svc-{made}"
        project: dict[str, Any] = {"path": name, "files": {}}
        roll = rng.random()
        sa, label = pool[rng.randrange(len(pool))]
        gproject = sa.split("@")[1].split(".")[0]
        if roll < 0.40:
            project["files"][".gitlab-ci.yml"] = PLAIN.format(image=rng.choice(IMAGES))
        elif roll < 0.70 or 0.90 <= roll < 0.95:
            template, var_type, encoding = KEY_VARIANTS[rng.randrange(len(KEY_VARIANTS))]
            var = rng.choice(("GCP_SA_KEY", "GOOGLE_KEY", "SERVICE_ACCOUNT_JSON", "GCLOUD_SERVICE_KEY"))
            project["files"][".gitlab-ci.yml"] = template.format(
                var=var, name=name, gproject=gproject, image=rng.choice(IMAGES))
            project["variables"] = [{"key": var, "variable_type": var_type, "protected": rng.random() < 0.3,
                                     "sa_key": {"service_account": sa, "key": label, "encoding": encoding}}]
            if roll >= 0.90:
                project["archived"] = True
        elif roll < 0.80:
            project["files"][".gitlab-ci.yml"] = TEMPLATE_USER.format(templates=f"{top['path']}/ci-templates")
        elif roll < 0.88:
            project["files"][".gitlab-ci.yml"] = FEDERATED.format(number=number)
        elif roll < 0.90:
            project["files"][".gitlab-ci.yml"] = INHERITED.format(name=name)
        else:
            project["files"]["README.md"] = f"# {name}\n"  # no CI at all
        leaf["projects"].append(project)
        made += 1
    return {
        "description": f"generated org: {projects} projects, {keys} keys, seed {seed}",
        "seed": seed,
        "gitlab": {"version": "17.5.0",
                   "users": [{"username": "migrator", "token": "sandbox-migrator-token", "admin": True},
                             {"username": "auditor", "token": "sandbox-reporter-token"}],
                   "groups": tops},
        "google": google,
    }
