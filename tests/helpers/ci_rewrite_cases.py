"""The rewrite's before/after case table: literal text for every rewrite pattern (`CASES`, each
name -> (before, expected after with `@TOKENS@`/`@STS@` placeholders)) and `expected`, which expands
the placeholders. Shared by the pattern tests and the cost, cycle, construct and marker tests."""

from __future__ import annotations

import re

from helpers.ci import AUD, CREATE, dedent, printf, sts_lines, token_block, yaml_item

STS = "\n".join(f"    - {yaml_item(line)}" for line in sts_lines())
STS_BLOCK = "\n".join(f"  {line}" for line in sts_lines())
FILE_VAR = ('"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.jwt"', '"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}.json"')

CASES: dict[str, tuple[str, str]] = {
    "activate with a file variable": (
        """
        deploy:
          stage: deploy
          script:
            - gcloud auth activate-service-account --key-file=$DEPLOY_KEY_FILE --project=my-proj
            - gcloud run deploy app
        """,
        f"""
        deploy:
          @TOKENS@
          stage: deploy
          script:
            - echo "${{GCP_ID_TOKEN}}" > {FILE_VAR[0]}
            - {CREATE} --credential-source-file={FILE_VAR[0]} --output-file={FILE_VAR[1]}
            - gcloud auth login --cred-file={FILE_VAR[1]} --project=my-proj
            - gcloud auth print-access-token > /dev/null
            - gcloud run deploy app
        """),
    "base64 -d to a file, then activate (gcloud writes the config)": (
        """
        deploy:
          image: google/cloud-sdk:slim
          before_script:
            - echo "$GCP_KEY_B64" | base64 -d > key.json  # the key
            - gcloud auth activate-service-account --key-file key.json
          script:
            - gcloud storage ls
        """,
        f"""
        deploy:
          @TOKENS@
          image: google/cloud-sdk:slim
          before_script:
            - echo "${{GCP_ID_TOKEN}}" > "${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_key.json.jwt" # the key
            - {CREATE} --credential-source-file="${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_key.json.jwt" --output-file=key.json
            - gcloud auth login --cred-file=key.json
            - gcloud auth print-access-token > /dev/null
          script:
            - gcloud storage ls
        """),
    "GOOGLE_APPLICATION_CREDENTIALS set in variables:, terraform": (
        """
        variables:
          GOOGLE_APPLICATION_CREDENTIALS: ${CI_PROJECT_DIR}/creds/sa.json

        plan:
          image: hashicorp/terraform:1.9
          script:
            - mkdir -p $(dirname ${GOOGLE_APPLICATION_CREDENTIALS})
            - echo "${TF_KEY}" > ${GOOGLE_APPLICATION_CREDENTIALS}
            - terraform plan
        """,
        f"""
        variables:
          GOOGLE_APPLICATION_CREDENTIALS: ${{CI_PROJECT_DIR}}/creds/sa.json

        plan:
          @TOKENS@
          image: hashicorp/terraform:1.9
          script:
            - mkdir -p $(dirname ${{GOOGLE_APPLICATION_CREDENTIALS}})
            - echo "${{GCP_ID_TOKEN}}" > "${{GOOGLE_APPLICATION_CREDENTIALS}}.jwt"
            - {printf('"${GOOGLE_APPLICATION_CREDENTIALS}.jwt"', "${GOOGLE_APPLICATION_CREDENTIALS}")}
            - terraform plan
        """),
    "GOOGLE_APPLICATION_CREDENTIALS exported in the script, kaniko (no gcloud)": (
        """
        build:
          image:
            name: gcr.io/kaniko-project/executor:debug
            entrypoint: [""]
          script:
            - mkdir -p /kaniko/.gcr; echo $KANIKO_KEY | base64 -d > /kaniko/.gcr/sa.json
            - export GOOGLE_APPLICATION_CREDENTIALS=/kaniko/.gcr/sa.json
            - /kaniko/executor --context . --destination gcr.io/p/app:1
        """,
        f"""
        build:
          @TOKENS@
          image:
            name: gcr.io/kaniko-project/executor:debug
            entrypoint: [""]
          script:
            - mkdir -p /kaniko/.gcr; echo "${{GCP_ID_TOKEN}}" > "/kaniko/.gcr/sa.json.jwt" && {printf('"/kaniko/.gcr/sa.json.jwt"', "/kaniko/.gcr/sa.json")}
            - export GOOGLE_APPLICATION_CREDENTIALS=/kaniko/.gcr/sa.json
            - /kaniko/executor --context . --destination gcr.io/p/app:1
        """),
    "terraform in the top-level before_script: token in a new default:": (
        """
        image: hashicorp/terraform:1.9

        before_script:
          - echo $TF_SA | base64 -d > /tmp/sa.json
          - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json
          - terraform init

        plan:
          script:
            - terraform plan
        """,
        f"""
        image: hashicorp/terraform:1.9

        default:
          @TOKENS@
        before_script:
          - echo "${{GCP_ID_TOKEN}}" > "/tmp/sa.json.jwt"
          - {printf('"/tmp/sa.json.jwt"', "/tmp/sa.json")}
          - export GOOGLE_APPLICATION_CREDENTIALS=/tmp/sa.json
          - terraform init

        plan:
          script:
            - terraform plan
        """),
    "docker login with _json_key becomes an access-token login": (
        """
        push:
          image: google/cloud-sdk
          script:
            - echo "$REGISTRY_KEY" > /tmp/key.json
            - gcloud auth activate-service-account --key-file /tmp/key.json
            - cat /tmp/key.json | docker login -u _json_key --password-stdin https://europe-docker.pkg.dev
            - docker push europe-docker.pkg.dev/p/r/app:1
        """,
        f"""
        push:
          @TOKENS@
          image: google/cloud-sdk
          script:
            - echo "${{GCP_ID_TOKEN}}" > "/tmp/key.json.jwt"
            - {CREATE} --credential-source-file="/tmp/key.json.jwt" --output-file=/tmp/key.json
            - gcloud auth login --cred-file=/tmp/key.json
            - gcloud auth print-access-token > /dev/null
            - gcloud auth print-access-token | docker login -u oauth2accesstoken --password-stdin https://europe-docker.pkg.dev
            - docker push europe-docker.pkg.dev/p/r/app:1
        """),
    "docker login -u _json_key without gcloud: STS exchange + impersonation with curl or wget": (
        """
        push:
          image: docker:24
          services: [docker:dind]
          script:
            - echo "$REG_KEY" > key.json
            - docker login -u _json_key --password-stdin https://europe-docker.pkg.dev < key.json
            - docker push europe-docker.pkg.dev/p/r/app:1
        """,
        f"""
        push:
          @TOKENS@
          image: docker:24
          services: [docker:dind]
          script:
            - echo "${{GCP_ID_TOKEN}}" > "${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_key.json.jwt"
            - {printf('"${CI_BUILDS_DIR}/.gcp_wif_${CI_JOB_ID}_key.json.jwt"', "key.json")}
        @STS@
            - printf '%s' "${{GCP_ACCESS_TOKEN}}" | docker login -u oauth2accesstoken --password-stdin https://europe-docker.pkg.dev
            - docker push europe-docker.pkg.dev/p/r/app:1
        """),
    "docker login from a file variable in a before_script; a list left empty becomes []": (
        """
        push:
          image: docker:latest
          before_script:
            - chmod 400 $REG_KEY_FILE
            - cat $REG_KEY_FILE | docker login -u _json_key --password-stdin https://gcr.io
          script:
            - docker push gcr.io/p/app:1
        deploy:
          image: google/cloud-sdk:480.0.0
          before_script:
            - chmod 400 $REG_KEY_FILE
          script:
            - gcloud auth activate-service-account --key-file $REG_KEY_FILE
            - gcloud run deploy app
        """,
        f"""
        push:
          @TOKENS@
          image: docker:latest
          before_script:
        @STS@
            - printf '%s' "${{GCP_ACCESS_TOKEN}}" | docker login -u oauth2accesstoken --password-stdin https://gcr.io
          script:
            - docker push gcr.io/p/app:1
        deploy:
          @TOKENS@
          image: google/cloud-sdk:480.0.0
          before_script: []
          script:
            - echo "${{GCP_ID_TOKEN}}" > {FILE_VAR[0]}
            - {CREATE} --credential-source-file={FILE_VAR[0]} --output-file={FILE_VAR[1]}
            - gcloud auth login --cred-file={FILE_VAR[1]}
            - gcloud auth print-access-token > /dev/null
            - gcloud run deploy app
        """),
    "docker login in an anchored block scalar of a template (busybox wget image)": (
        """
        .login: &login |
          echo "${GCR_KEY}" | base64 -d > /tmp/key.json
          cat /tmp/key.json | docker login -u _json_key --password-stdin "https://${GCR_DOMAIN}"
        .build:
          image: docker
          before_script:
            - *login
          script:
            - docker build -t "$IMAGE" .
        """,
        f"""
        .login: &login |
          echo "${{GCP_ID_TOKEN}}" > "/tmp/key.json.jwt"
          {printf('"/tmp/key.json.jwt"', "/tmp/key.json")}
        @STSBLOCK@
          printf '%s' "${{GCP_ACCESS_TOKEN}}" | docker login -u oauth2accesstoken --password-stdin "https://${{GCR_DOMAIN}}"
        .build:
          @TOKENS@
          image: docker
          before_script:
            - *login
          script:
            - docker build -t "$IMAGE" .
        """),
    "anchored before_script is rewritten once, in the anchor": (
        """
        .auth: &auth
          - echo "$SA_KEY" > /tmp/sa.json
          - gcloud auth activate-service-account --key-file=/tmp/sa.json

        deploy-a:
          before_script: *auth
          script:
            - gcloud app deploy

        deploy-b:
          before_script:
            - *auth
            - echo ready
          script:
            - gcloud functions deploy f
        """,
        f"""
        .auth: &auth
          - echo "${{GCP_ID_TOKEN}}" > "/tmp/sa.json.jwt"
          - {CREATE} --credential-source-file="/tmp/sa.json.jwt" --output-file=/tmp/sa.json
          - gcloud auth login --cred-file=/tmp/sa.json
          - gcloud auth print-access-token > /dev/null

        deploy-a:
          @TOKENS@
          before_script: *auth
          script:
            - gcloud app deploy

        deploy-b:
          @TOKENS@
          before_script:
            - *auth
            - echo ready
          script:
            - gcloud functions deploy f
        """),
    "hidden job + extends: the token goes where the inheriting job sees it": (
        """
        .gcp:
          image: google/cloud-sdk
          before_script:
            - echo $GCLOUD_KEY | base64 -d > /tmp/k.json
            - gcloud auth activate-service-account --key-file=/tmp/k.json

        deploy:
          extends: .gcp
          script:
            - gsutil cp build/ gs://bucket/
        """,
        f"""
        .gcp:
          @TOKENS@
          image: google/cloud-sdk
          before_script:
            - echo "${{GCP_ID_TOKEN}}" > "/tmp/k.json.jwt"
            - {CREATE} --credential-source-file="/tmp/k.json.jwt" --output-file=/tmp/k.json
            - gcloud auth login --cred-file=/tmp/k.json
            - gcloud auth print-access-token > /dev/null

        deploy:
          extends: .gcp
          script:
            - gsutil cp build/ gs://bucket/
        """),
    "!reference: the referencing job gets its own token": (
        """
        .login:
          script:
            - echo "$SA_KEY" > sa.json
            - gcloud auth activate-service-account --key-file sa.json

        deploy:
          script:
            - !reference [.login, script]
            - gcloud run deploy app
        """,
        f"""
        .login:
          @TOKENS@
          script:
            - echo "${{GCP_ID_TOKEN}}" > "${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_sa.json.jwt"
            - {CREATE} --credential-source-file="${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_sa.json.jwt" --output-file=sa.json
            - gcloud auth login --cred-file=sa.json
            - gcloud auth print-access-token > /dev/null

        deploy:
          @TOKENS@
          script:
            - !reference [.login, script]
            - gcloud run deploy app
        """),
    "default: before_script gets default: id_tokens": (
        """
        default:
          image: google/cloud-sdk
          before_script:
            - echo "$SA_KEY" > /tmp/sa.json
            - gcloud auth activate-service-account --key-file=/tmp/sa.json

        a:
          script: gcloud projects list
        """,
        f"""
        default:
          @TOKENS@
          image: google/cloud-sdk
          before_script:
            - echo "${{GCP_ID_TOKEN}}" > "/tmp/sa.json.jwt"
            - {CREATE} --credential-source-file="/tmp/sa.json.jwt" --output-file=/tmp/sa.json
            - gcloud auth login --cred-file=/tmp/sa.json
            - gcloud auth print-access-token > /dev/null

        a:
          script: gcloud projects list
        """),
    "a job with its own id_tokens (which hide default:) gets ours too": (
        """
        default:
          before_script:
            - echo "$SA_KEY" > /tmp/sa.json
            - gcloud auth activate-service-account --key-file=/tmp/sa.json

        vault-job:
          id_tokens:
            VAULT_TOKEN:
              aud: https://vault.example.com
          script:
            - gcloud storage ls
        """,
        f"""
        default:
          @TOKENS@
          before_script:
            - echo "${{GCP_ID_TOKEN}}" > "/tmp/sa.json.jwt"
            - {CREATE} --credential-source-file="/tmp/sa.json.jwt" --output-file=/tmp/sa.json
            - gcloud auth login --cred-file=/tmp/sa.json
            - gcloud auth print-access-token > /dev/null

        vault-job:
          id_tokens:
            GCP_ID_TOKEN:
              aud: {AUD}
            VAULT_TOKEN:
              aud: https://vault.example.com
          script:
            - gcloud storage ls
        """),
    "cat of the key file (log leak) is removed": (
        """
        deploy:
          script:
            - echo $APP_KEY > /tmp/$CI_PIPELINE_ID.json
            - echo -n "using key " && cat /tmp/$CI_PIPELINE_ID.json
            - gcloud auth activate-service-account --key-file /tmp/$CI_PIPELINE_ID.json
        """,
        f"""
        deploy:
          @TOKENS@
          script:
            - echo "${{GCP_ID_TOKEN}}" > "/tmp/$CI_PIPELINE_ID.json.jwt"
            - {printf('"/tmp/$CI_PIPELINE_ID.json.jwt"', "/tmp/$CI_PIPELINE_ID.json")}
            - gcloud auth login --cred-file=/tmp/$CI_PIPELINE_ID.json
            - gcloud auth print-access-token > /dev/null
        """),
    "activation inside a shell function in an anchored block scalar": (
        """
        .functions: &functions |
          function login() {
            echo "${CLUSTER_KEY}" | base64 -d > /etc/sa.json
            gcloud auth activate-service-account --key-file /etc/sa.json --project="${P}"
          }

        deploy:
          script:
            - login

        before_script:
        - *functions
        """,
        f"""
        .functions: &functions |
          function login() {{
            echo "${{GCP_ID_TOKEN}}" > "/etc/sa.json.jwt"
            {CREATE} --credential-source-file="/etc/sa.json.jwt" --output-file=/etc/sa.json
            gcloud auth login --cred-file=/etc/sa.json --project="${{P}}"
            gcloud auth print-access-token > /dev/null
          }}

        deploy:
          script:
            - login

        default:
          @TOKENS@
        before_script:
        - *functions
        """),
}


def expected(text: str) -> str:
    """Dedent, then expand each `@TOKENS@` line into our id_tokens block at that indentation."""
    text = re.sub(r"^( *)@TOKENS@\n", lambda m: token_block(m.group(1)), dedent(text), flags=re.M)
    return text.replace("@STSBLOCK@", STS_BLOCK).replace("@STS@", STS)
