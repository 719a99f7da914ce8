"""Text we add to a CI file: YAML scalars that round-trip, credential commands, splicing.

Edits are line-based: `Replace(first, last, lines)` swaps whole physical lines and `Insert(before,
lines)` adds lines; everything else in the file stays byte for byte, including CRLF line ends.
"""

from __future__ import annotations

import dataclasses
import json
import re

import yaml

from migrate.ci.yamlnodes import GitLabLoader

STS_URL = "https://sts.googleapis.com/v1/token"
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
PROVIDER_RE = re.compile(
    r"^projects/\d+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$")
EMAIL_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$")
_PLAIN_BAD_START = tuple("-?:,[]{}#&*!|>'\"%@`")
# Lines the rewritten step prints into the job log (RewriteOptions.verify_marker), which `verify`
# reads back through the jobs trace API (docs/verify.md). After a gcloud sign-in the step mints an
# access token first, so the line shows the federated path really produced a token; a job that
# hands the credential configuration to client libraries or Terraform prints the second once the
# configuration is in place (its tool mints the token; the job's success is that evidence).
MARKER = "wif-migrate: federated sign-in ok"
MARKER_CONFIGURED = "wif-migrate: federated credential configuration ready"


@dataclasses.dataclass(frozen=True)
class Replace:
    first: int  # 0-based physical lines, inclusive
    last: int
    lines: tuple[str, ...]  # without line ends


@dataclasses.dataclass(frozen=True)
class Insert:
    before: int  # 0-based line the new lines go before
    lines: tuple[str, ...]


def yaml_scalar(value: str) -> str:
    """`value` written as a one-line YAML scalar that loads back to exactly `value`."""
    candidates = []
    if value and value == value.strip() and not value.startswith(_PLAIN_BAD_START) \
            and ": " not in value and " #" not in value and not value.endswith(":"):
        candidates.append(value)
    candidates.append("'" + value.replace("'", "''") + "'")
    candidates.append(json.dumps(value))
    for candidate in candidates:
        if "\n" in candidate:
            continue
        try:
            loaded = yaml.load(f"- {candidate}\n", Loader=GitLabLoader)  # noqa: S506 - safe loader subclass
        except yaml.YAMLError:
            continue
        if loaded == [value]:
            return candidate
    raise ValueError("no one-line YAML form for this value")


def cred_config(provider: str, service_account: str | None) -> dict[str, object]:
    """What `gcloud iam workload-identity-pools create-cred-config` writes (token file left as %s)."""
    config: dict[str, object] = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": f"//iam.googleapis.com/{provider}",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": STS_URL,
    }
    if service_account:
        config["service_account_impersonation_url"] = IAM_CREDENTIALS.format(email=service_account)
    config["credential_source"] = {"file": "%s", "format": {"type": "text"}}
    return config


def printf_cred_config(provider: str, service_account: str, token_path: str, output: str) -> str:
    """A shell command that writes the credential configuration without gcloud."""
    body = json.dumps(cred_config(provider, service_account), separators=(",", ":"))
    return f"printf '{body}' {token_path} > {output}"


def mint(gcloud: str) -> str:
    """Mint an access token with the federated login (fail at the sign-in step, not later)."""
    return f"{gcloud} auth print-access-token > /dev/null"


def marker_after_login(gcloud: str) -> str:
    """Mint an access token with the federated login, then print the marker `verify` looks for."""
    return f'{gcloud} auth print-access-token > /dev/null && echo "{MARKER}"'


def marker_configured() -> str:
    return f'echo "{MARKER_CONFIGURED}"'


def create_cred_config(gcloud: str, provider: str, service_account: str, token_path: str, output: str) -> str:
    return (f"{gcloud} iam workload-identity-pools create-cred-config {provider} "
            f"--service-account={service_account} --credential-source-file={token_path} --output-file={output}")


def token_path_for(raw_path: str, unquoted: str) -> str | None:
    """Where the ID token goes when the credential configuration is written to `raw_path`.

    The token is the secret: it never goes inside `$CI_PROJECT_DIR`, where `artifacts:` and `cache:`
    would pick it up. A path in the project directory (relative, `$CI_PROJECT_DIR/…`, `$PWD/…`) gets
    its token under `$CI_BUILDS_DIR` (outside the project, unique per job); any other path gets it
    next to the file the job already relies on (so it survives wherever that file survives, e.g.
    kaniko's /kaniko). None when the path is too clever to reuse safely (substitution, globs, quotes).
    """
    text = unquoted
    if not text or any(mark in text for mark in ('"', "`", "\\", "$(", "*", "?", "[", "'", "\n", " ")):
        return None
    if text.startswith("~/"):
        text = "$HOME/" + text[2:]
    inside = re.match(r"^(?:\$\{?(?:CI_PROJECT_DIR|PWD)\}?/)?(.*)$", text)
    if inside is not None and (not text.startswith(("/", "$")) or inside.group(1) != text):
        name = re.sub(r"[^A-Za-z0-9._-]", "_", inside.group(1).lstrip("./")) or "key"
        return f'"${{CI_BUILDS_DIR}}/.gcp_wif_${{CI_JOB_ID}}_{name}.jwt"'
    return f'"{text}.jwt"'


def splice(lines: list[str], edits: list[Replace | Insert], newline: str) -> str:
    """Apply non-overlapping edits to the file's lines (which keep their own line ends)."""
    out: list[str] = []
    replaces: dict[int, Replace] = {edit.first: edit for edit in edits if isinstance(edit, Replace)}
    inserts: dict[int, list[str]] = {}
    for edit in edits:
        if isinstance(edit, Insert):
            inserts.setdefault(edit.before, []).extend(edit.lines)
    index = 0
    while index <= len(lines):
        for new in inserts.get(index, []):
            out.append(new + newline)
        if index == len(lines):
            break
        replace = replaces.get(index)
        if replace is not None:
            ending = _ending(lines[replace.last], newline)
            out.extend(new + newline for new in replace.lines[:-1])
            if replace.lines:
                out.append(replace.lines[-1] + ending)
            index = replace.last + 1
            continue
        out.append(lines[index])
        index += 1
    if out and inserts.get(len(lines)) and lines and not lines[-1].endswith(("\n", "\r")):
        pass
    return "".join(out)


def _ending(line: str, newline: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n"):
        return "\n"
    return ""


def overlapping(edits: list[Replace | Insert]) -> bool:
    spans = sorted((edit.first, edit.last) for edit in edits if isinstance(edit, Replace))
    return any(b_first <= a_last for (_, a_last), (b_first, _) in zip(spans, spans[1:], strict=False))


def unified_diff(lines: list[str], edits: list[Replace | Insert], newline: str, path: str, context: int = 3) -> str:
    """The merge request diff, built from the edits in linear time (a line diff is quadratic on files
    with many repeated lines); the same text `difflib.unified_diff` would print for these edits."""
    changes = sorted(((e.first, e.last + 1, list(e.lines)) if isinstance(e, Replace) else (e.before, e.before,
                                                                                             list(e.lines))
                      for e in edits), key=lambda change: (change[0], change[1]))
    changes = [change for change in changes if change[2] != lines[change[0]:change[1]]]
    if not changes:
        return ""
    groups: list[list[tuple[int, int, list[str]]]] = [[changes[0]]]
    for change in changes[1:]:
        if change[0] - groups[-1][-1][1] <= 2 * context:
            groups[-1].append(change)
        else:
            groups.append([change])
    out = [f"--- a/{path}\n", f"+++ b/{path}\n"]
    offset = 0
    for group in groups:
        a_start, a_end = max(0, group[0][0] - context), min(len(lines), group[-1][1] + context)
        body: list[str] = []
        index = a_start
        delta = 0
        for start, end, new in group:
            body.extend(" " + line for line in lines[index:start])
            body.extend("-" + line for line in lines[start:end])
            body.extend("+" + line + newline for line in new)
            delta += len(new) - (end - start)
            index = end
        body.extend(" " + line for line in lines[index:a_end])
        b_start = a_start + offset
        out.append(f"@@ -{_range(a_start, a_end)} +{_range(b_start, b_start + (a_end - a_start) + delta)} @@\n")
        out.extend(body)
        offset += delta
    return "".join(out)


def _range(start: int, stop: int) -> str:
    """difflib's unified range format."""
    beginning, length = start + 1, stop - start
    if length == 1:
        return str(beginning)
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


# -- the token exchange without gcloud (docker login in an image with curl or wget) ------------
#
# The classic manual recipe (GitLab's "Configure OpenID Connect with GCP Workload Identity
# Federation", Google's STS and IAM Credentials references): POST the ID token to
# sts.googleapis.com/v1/token (token exchange, RFC 8693 field names as Google spells them), then
# impersonate the service account with iamcredentials generateAccessToken. Each step runs with
# whichever of curl and wget the image has (busybox wget takes --header and --post-data), fails on
# an HTTP error (`curl -f`, wget's non-zero exit), and the registry login is the documented
# `oauth2accesstoken` user with the access token on stdin.
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
STS_REQUEST_VAR = "GCP_STS_REQUEST"
STS_TOKEN_VAR = "GCP_STS_TOKEN"
ACCESS_TOKEN_VAR = "GCP_ACCESS_TOKEN"


def _http_post(url: str, body: str, headers: tuple[str, ...]) -> str:
    """`curl` when the image has it, else `wget`, POSTing JSON `body` (a shell word) to `url`."""
    curl_headers = "".join(f" -H {header}" for header in headers)
    wget_headers = "".join(f" --header {header}" for header in headers)
    return (f"if command -v curl > /dev/null; then curl -sSf{curl_headers} -d {body} {url}; "
            f"else wget -qO-{wget_headers} --post-data {body} {url}; fi")


def _field(name: str) -> str:
    return f"sed -n 's/.*\"{name}\": *\"\\([^\"]*\\)\".*/\\1/p'"


def sts_exchange(provider: str, service_account: str, token_var: str) -> list[str]:
    """Commands that leave a Google access token for `service_account` in $GCP_ACCESS_TOKEN."""
    request = json.dumps({
        "audience": f"//iam.googleapis.com/{provider}",
        "grantType": "urn:ietf:params:oauth:grant-type:token-exchange",
        "requestedTokenType": "urn:ietf:params:oauth:token-type:access_token",
        "scope": CLOUD_PLATFORM,
        "subjectTokenType": "urn:ietf:params:oauth:token-type:jwt",
        "subjectToken": "%s",
    }, separators=(",", ":"))
    json_type = "'Content-Type: application/json'"
    scope = json.dumps({"scope": [CLOUD_PLATFORM]}, separators=(",", ":"))
    impersonate = IAM_CREDENTIALS.format(email=service_account)
    request_word = '"${' + STS_REQUEST_VAR + '}"'
    bearer = '"Authorization: Bearer ${' + STS_TOKEN_VAR + '}"'
    exchange = _http_post(STS_URL, request_word, (json_type,))
    generate = _http_post(impersonate, repr_single(scope), (json_type, bearer))
    return [
        STS_REQUEST_VAR + "=\"$(printf '" + request + "' \"${" + token_var + "}\")\"",
        STS_TOKEN_VAR + "=\"$(" + exchange + " | " + _field("access_token") + ")\"",
        ACCESS_TOKEN_VAR + "=\"$(" + generate + " | " + _field("accessToken") + ")\"",
    ]


def repr_single(text: str) -> str:
    """`text` as one single-quoted shell word (it holds no single quote)."""
    if "'" in text:
        raise ValueError("single quote in a single-quoted word")
    return f"'{text}'"


def docker_login_with_access_token(host: str) -> str:
    return f'printf \'%s\' "${{{ACCESS_TOKEN_VAR}}}" | docker login -u oauth2accesstoken --password-stdin {host}'


# -- one line for several environments (an environment-scoped key variable, one template) ----------
ACCOUNT_VAR = "GCP_WIF_SERVICE_ACCOUNT"


def environment_accounts(choices: dict[str, str]) -> str:
    """`case` on $CI_ENVIRONMENT_NAME setting the service account of each environment's key; any
    other environment stops the job (it received no key this tool knows of)."""
    arms = " ".join(f'"{environment}") {ACCOUNT_VAR}={email};;' for environment, email in sorted(choices.items()))
    return (f'case "${{CI_ENVIRONMENT_NAME}}" in {arms} *) echo "wif-migrate: no service account for environment '
            f'${{CI_ENVIRONMENT_NAME}}" >&2; exit 1;; esac')


def with_account_variable(command: str) -> str:
    """A federation command whose account (written as NUL by the caller) is `$GCP_WIF_SERVICE_ACCOUNT`."""
    if command.startswith("printf '"):  # inside the single-quoted configuration: close, expand, reopen
        return command.replace("\0", f"'\"${{{ACCOUNT_VAR}}}\"'")
    return command.replace("\0", f'"${{{ACCOUNT_VAR}}}"')
