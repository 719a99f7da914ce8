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

firebase-tools reads Application Default Credentials, but 9.23.0 refused a workload identity
federation configuration in `GOOGLE_APPLICATION_CREDENTIALS` (firebase/firebase-tools issue 3926);
10.1.0 was confirmed to accept it (w9jds/firebase-action issue 123). A keyed job that installs or
runs a firebase-tools release pinned below 10.1.0 (`npm install -g firebase-tools@9.23.0`,
`npx firebase-tools@9 deploy`) goes to manual review; an unpinned install gets the current release.
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
FIRST_FIREBASE_TOOLS = (10, 1)  # firebase-tools accepting external_account in GOOGLE_APPLICATION_CREDENTIALS
# `firebase-tools@9.23.0`, `@9`, `@9.x`, `@^9.1.0`, `@~10.0.3`: the newest release the pin allows
FIREBASE_TOOLS_PIN = re.compile(r"(?<![\w@/.-])firebase-tools@([~^]?)(\d+)(?:\.(\d+|x|\*))?")
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
    for match in FIREBASE_TOOLS_PIN.finditer(text):
        if _newest_allowed(*match.groups()) < FIRST_FIREBASE_TOOLS:
            found.append(f"job {name}: uses firebase-tools {match.group(0).split('@', 1)[1]}, older than 10.1.0, which "
                         "refused a workload identity federation credential configuration in "
                         "GOOGLE_APPLICATION_CREDENTIALS (firebase/firebase-tools issue 3926); pin 10.1.0 or later, "
                         "then rewrite")
            break
    if STANDALONE_GSUTIL.search(text):
        found.append(f"job {name}: uses standalone gsutil (pip-installed, boto configuration), which cannot take "
                     "external_account credentials; use the Cloud SDK's gsutil or gcloud storage")
    return found


def _newest_allowed(op: str, major: str, minor: str | None) -> tuple[int, float]:
    """(major, minor) of the newest release an npm pin can install: `9`, `9.x` and `^9.1` allow
    any 9.*; `9.23.0` and `~9.23.0` only 9.23.*."""
    if minor is None or not minor.isdigit() or op == "^":
        return int(major), float("inf")
    return int(major), int(minor)


# -- HTTP clients in well-known images (for the token exchange without gcloud) ------------------
#
# Which of curl / wget an image ships, from the images' own Dockerfiles. An image not listed here
# (a private registry, a `$VARIABLE`, no image at all: the runner's default) is unknown, and a job
# that would need an HTTP client in it goes to manual review.
#
# - docker (docker-library/docker, every Linux tag: `FROM alpine`): busybox `wget` (the Dockerfile
#   itself downloads with it); curl only in releases before 18.x, so it is not relied on;
# - alpine (Alpine's minirootfs): busybox `wget` with `ssl_client` for HTTPS;
# - google/cloud-sdk, gcr.io/google.com/cloudsdktool/*, google-cloud-cli
#   (GoogleCloudPlatform/cloud-sdk-docker Dockerfiles, debian, slim and alpine): `curl`;
# - curlimages/curl: `curl`;
# - buildpack-deps and the language images built on it (node, python, ruby, golang, openjdk,
#   maven, gradle without `-slim`/`-alpine`): `curl` and `wget`; their `-alpine` variants: busybox
#   `wget`; `-slim` variants: neither.
_WINDOWS = re.compile(r"windows|nanoserver|servercore", re.I)
_HTTP_IMAGES: tuple[tuple[re.Pattern[str], frozenset[str]], ...] = (
    (re.compile(r"^(?:docker\.io/)?(?:library/)?docker(?::[\w.-]+)?$"), frozenset({"wget"})),
    (re.compile(r"^(?:docker\.io/)?(?:library/)?alpine(?::[\w.-]+)?$"), frozenset({"wget"})),
    (re.compile(r"^(?:docker\.io/)?(?:google/cloud-sdk|(?:[a-z0-9.-]+\.)?gcr\.io/google\.com/cloudsdktool/"
                r"(?:google-)?cloud-(?:sdk|cli)|google-cloud-cli)(?::[\w.-]+)?$"), frozenset({"curl"})),
    (re.compile(r"^(?:docker\.io/)?curlimages/curl(?::[\w.-]+)?$"), frozenset({"curl"})),
    (re.compile(r"^(?:docker\.io/)?(?:library/)?(?:node|python|ruby|golang|openjdk|maven|gradle|buildpack-deps)"
                r":[\w.-]*alpine[\w.-]*$"), frozenset({"wget"})),
    (re.compile(r"^(?:docker\.io/)?(?:library/)?(?:node|python|ruby|golang|openjdk|maven|gradle|buildpack-deps)"
                r":[\w.-]*slim[\w.-]*$"), frozenset()),
    (re.compile(r"^(?:docker\.io/)?(?:library/)?(?:node|python|ruby|golang|buildpack-deps)(?::[\w.-]+)?$"),
     frozenset({"curl", "wget"})),
)


def http_clients(image: str) -> frozenset[str] | None:
    """The HTTP clients (`curl`, `wget`) an image is known to ship; None when the image is unknown."""
    if not image or "$" in image or _WINDOWS.search(image):
        return None
    for pattern, clients in _HTTP_IMAGES:
        if pattern.match(image):
            return clients
    return None
