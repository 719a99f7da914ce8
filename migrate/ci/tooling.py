"""Can the job's tools take federated credentials at all? The image and the commands decide.

Versions come from Google's Cloud SDK release notes (the `RELEASE_NOTES` file shipped with every
Cloud SDK, also https://cloud.google.com/sdk/docs/release-notes):

- 317.0.0 (2020-11-03): `gcloud beta iam workload-identity-pools create-cred-config` added;
- 331.0.0 (2021-03-09): `gcloud iam workload-identity-pools` (GA);
- 363.0.0 (2021-11-02): "`gcloud` command-line tool supports authentication using workload identity
  federation via `gcloud auth login --cred-file=...`" — the first release our snippet works with;
- 379.0.0 (2022-03-29): `gcloud auth login --cred-file` also authorizes the bundled gsutil;
- 380.0.0 (2022-04-05): ... and the bundled bq.

So a keyed job whose image pins a Cloud SDK release older than 363 (or older than 379/380 when it
runs gsutil/bq), or that installs such a release, goes to manual review. Standalone gsutil (`pip
install gsutil`, boto configuration) authenticates with its own `gs_service_key_file` and does not
read external-account credential configurations: manual too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

FIRST_CRED_FILE_LOGIN = 363  # gcloud auth login --cred-file with workload identity federation
FIRST_GSUTIL = 379  # bundled gsutil authorized by gcloud auth login --cred-file
FIRST_BQ = 380  # bundled bq likewise
SDK_IMAGE = re.compile(r"(?:^|/)(?:google/cloud-sdk|cloudsdktool/(?:google-)?cloud-(?:sdk|cli)|google-cloud-cli)"
                       r":(\d+)\.\d+")
SDK_DOWNLOAD = re.compile(r"google-cloud-(?:sdk|cli)-(\d+)\.\d+\.\d+")
STANDALONE_GSUTIL = re.compile(r"\bpip3?\s+install\b[^;&|]*\bgsutil\b|\bgsutil\s+config\s+-e\b")


def image_name(job: Mapping[str, Any]) -> str:
    image = job.get("image")
    if isinstance(image, dict):
        image = image.get("name")
    return image if isinstance(image, str) else ""


def problems(name: str, job: Mapping[str, Any]) -> list[str]:
    """Why this keyed job's tools cannot use a credential configuration (empty: they can)."""
    lines = [str(line) for key in ("before_script", "script", "after_script") for line in job.get(key) or ()]
    text = "\n".join(lines)
    found: list[str] = []
    versions = [(int(match.group(1)), f"image {image_name(job)}") for match in [SDK_IMAGE.search(image_name(job))]
                if match is not None]
    versions += [(int(match.group(1)), "the Cloud SDK it installs") for match in SDK_DOWNLOAD.finditer(text)]
    for version, where in versions:
        if version < FIRST_CRED_FILE_LOGIN:
            found.append(f"job {name}: {where} is Cloud SDK {version}, older than {FIRST_CRED_FILE_LOGIN}.0.0, the "
                         "first release whose `gcloud auth login --cred-file` accepts workload identity federation "
                         "(Cloud SDK release notes); move the job to a newer image, then rewrite")
        elif version < FIRST_GSUTIL and re.search(r"\bgsutil\b", text):
            found.append(f"job {name}: {where} is Cloud SDK {version}; its gsutil accepts federated credentials only "
                         f"from {FIRST_GSUTIL}.0.0 (Cloud SDK release notes)")
        elif version < FIRST_BQ and re.search(r"\bbq\b", text):
            found.append(f"job {name}: {where} is Cloud SDK {version}; its bq accepts federated credentials only "
                         f"from {FIRST_BQ}.0.0 (Cloud SDK release notes)")
    if STANDALONE_GSUTIL.search(text):
        found.append(f"job {name}: uses standalone gsutil (pip-installed, boto configuration), which cannot take "
                     "external_account credentials; use the Cloud SDK's gsutil or gcloud storage")
    return found
