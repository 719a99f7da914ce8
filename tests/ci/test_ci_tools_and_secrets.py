"""Tools that cannot take federated credentials go to manual (Cloud SDK release notes), and no
reason, finding or problem ever quotes secret-looking content."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from helpers.ci import run

from migrate.ci import analyze
from migrate.ci.redact import redact

AUTH = '    - echo "$KEY" > key.json\n    - gcloud auth activate-service-account --key-file key.json\n'


def job(image: str, extra: str = "") -> str:
    return f"deploy:\n  image: {image}\n  script:\n{AUTH}{extra}"


@pytest.mark.parametrize(("image", "extra", "fragment"), [
    ("google/cloud-sdk:290.0.0-alpine", "", "older than 363.0.0"),
    ("gcr.io/google.com/cloudsdktool/cloud-sdk:362.0.0-slim", "", "older than 363.0.0"),
    ("google/cloud-sdk:370.0.0", "    - gsutil cp a gs://b\n", "gsutil"),
    ("google/cloud-sdk:379.0.0", "    - bq ls\n", "bq"),
    ("python:3.12", "    - pip install gsutil\n", "standalone gsutil"),
    ("ubuntu:22.04", "    - curl -O https://dl.google.com/dl/cloudsdk/channels/rapid/downloads/"
                     "google-cloud-sdk-300.0.0-linux-x86_64.tar.gz\n", "installs"),
])
def test_tools_that_cannot_federate_are_manual(image: str, extra: str, fragment: str) -> None:
    result = run(job(image, extra))
    assert result.status == "manual", result.text
    assert any(fragment in reason for reason in result.reasons), result.reasons


@pytest.mark.parametrize("image", ["google/cloud-sdk:slim", "google/cloud-sdk:363.0.0",
                                   "gcr.io/google.com/cloudsdktool/google-cloud-cli:480.0.0-alpine"])
def test_new_enough_images_are_rewritten(image: str) -> None:
    assert run(job(image)).status == "rewritten"


def test_an_old_image_in_a_hidden_template_is_manual() -> None:
    text = (".auth:\n  image: google/cloud-sdk:280.0.0\n  before_script:\n"
            + AUTH.replace("    -", "    -") + "deploy:\n  extends: .auth\n  script: [gcloud run deploy x]\n")
    assert run(text).status == "manual"


def fake_key() -> tuple[str, str]:
    """A private key made at run time (never committed) and its service-account JSON."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    document = json.dumps({"type": "service_account", "private_key_id": "0123456789abcdef0123456789abcdef01234567",
                           "private_key": pem, "client_email": "x@p.iam.gserviceaccount.com"})
    return pem, document


def body_pieces(pem: str) -> list[str]:
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [line[:24] for line in lines] + ["BEGIN PRIVATE"]


def test_pasted_pem_never_reaches_a_reason() -> None:
    pem, document = fake_key()
    blob = base64.b64encode(document.encode()).decode()
    inline = pem.replace("\n", "\\n")
    texts = [
        f"deploy:\n  script:\n    - echo \"{inline}\" > key.json\n"
        "    - gcloud auth activate-service-account --key-file key.json\n    - curl -d \"$(cat key.json)\" x\n",
        "deploy:\n  script:\n    - |\n      cat > key.json <<EOF\n"
        + "".join(f"      {line}\n" for line in document.replace("\\n", "\n").splitlines())
        + "      EOF\n    - gcloud auth activate-service-account --key-file key.json\n",
        f"deploy:\n  variables:\n    K: {blob}\n  script:\n    - echo {blob} | base64 -d > k.json\n"
        "    - gcloud auth activate-service-account --key-file k.json\n    - bad: [\n",
        f"deploy:\n  script:\n    - gcloud auth activate-service-account --key-file=<(echo '{document}')\n",
        f"deploy:\n  script:\n    - echo \"$KEY\" > key.json\n    - gcloud auth activate-service-account --key-file key.json\n"
        f"    - 'curl -H \"X: {inline[:200]}\" -d \"$KEY\" https://x'\n",
    ]
    for text in texts:
        result = run(text)
        analysis = analyze(text)
        said = " ".join([*result.reasons, *analysis.problems, *(f.detail for f in analysis.findings)])
        for piece in [*body_pieces(pem), blob[:24], blob[-24:]]:
            assert piece not in said, (piece, said[:300])


def test_redact_keeps_ordinary_text_and_catches_a_broken_variant() -> None:
    provider = "projects/123/locations/global/workloadIdentityPools/ci-pool/providers/gitlab-prov"
    assert redact(f"gcloud iam workload-identity-pools create-cred-config {provider}") .endswith(provider)
    pem, _ = fake_key()
    assert "BEGIN" not in redact(pem[:60]) and body_pieces(pem)[0] not in redact(pem)

    def broken(text: str) -> str:  # the check below must notice a redactor that does nothing
        return text

    assert body_pieces(pem)[0] in broken(pem)


@pytest.mark.parametrize("path", ["key.json", "./ci/key.json", "$CI_PROJECT_DIR/key.json"])
def test_the_token_never_lands_in_the_project_directory_and_the_login_mints(path: str) -> None:
    text = f"deploy:\n  script:\n    - echo \"$KEY\" > {path}\n    - gcloud auth activate-service-account --key-file {path}\n"
    result = run(text)
    assert result.status == "rewritten" and result.text is not None
    writes = [line for line in result.text.splitlines() if "GCP_ID_TOKEN}" in line and ">" in line]
    assert writes and all('> "${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}_' in line for line in writes), writes
    lines = [line.strip() for line in result.text.splitlines()]
    login = next(i for i, line in enumerate(lines) if "auth login --cred-file" in line)
    assert lines[login + 1] == "- gcloud auth print-access-token > /dev/null"
