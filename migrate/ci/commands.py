"""Recognise the shell commands that authenticate with a service-account key.

Each segment of a command line is classified into one `Command`. The kinds:

- `activate`: `gcloud auth activate-service-account [ACCOUNT] --key-file=K [flags]`
- `docker`: `docker login -u _json_key ...` (password from stdin, `-p`, a file or a variable)
- `write`: the content of one variable written to a file: `echo "$V" | base64 -d > P`,
  `printf '%s' "$V" > P`, `cat $V > P`, `cp $V P`, `base64 -d <<< $V > P`
- `cat`: `cat P` alone (prints a file to the job log)
- `echo`: `echo $V` without redirection (prints a variable)
- `assign`: `[export] NAME=VALUE` (tracks GOOGLE_APPLICATION_CREDENTIALS and path aliases)
- `other`: anything else (its variable references and words are kept for safety checks)

Whether a `write` writes a *key* depends on where the file goes next; that is decided per job by
`migrate.ci.detect`.
"""

from __future__ import annotations

import dataclasses
import re

from migrate.ci import shell

WRITERS = frozenset({"echo", "printf", "base64", "cat", "tr", "openssl"})
ACTIVATE_KEEP = {"--project", "--quiet", "-q", "--verbosity", "--configuration", "--log-http",
                 "--no-user-output-enabled", "--user-output-enabled"}
JSON_KEY_USERS = ("_json_key", "_json_key_base64")


@dataclasses.dataclass(frozen=True)
class Command:
    """What one segment does, as far as key authentication is concerned."""

    kind: str
    segment: shell.Segment
    var: str | None = None  # the variable read (write/echo/docker/activate from a file variable)
    path: str | None = None  # raw path word read or written (write target, key file, cat arg)
    gcloud: str = "gcloud"  # the gcloud command word as written
    keep: tuple[str, ...] = ()  # activate: flags to keep on `gcloud auth login`
    unknown: tuple[str, ...] = ()  # activate/docker: arguments we do not understand
    host: str | None = None  # docker: the registry word
    name: str | None = None  # assign: variable name
    value: str | None = None  # assign: raw value word


def classify(segment: shell.Segment) -> Command:
    """The Command a segment performs (`other` when it is not an authentication step)."""
    stages = segment.stages
    if not stages or shell.has_control_flow(segment):
        return Command("other", segment)
    for index, stage in enumerate(stages):
        if stage.name == "gcloud" and _is_activation(stage.words):
            return _activate(segment, index)
        if stage.name == "docker" and len(stage.words) > 1 and stage.words[1] == "login" and _json_key(stage.words):
            return _docker(segment, index)
    written = _write(segment)
    if written is not None:
        return written
    if len(stages) == 1:
        stage = stages[0]
        if stage.name == "cat" and len(stage.words) == 2 and not stage.redirects:
            return Command("cat", segment, path=stage.words[1])
        if stage.name == "echo" and not stage.redirects:
            refs = [word for word in stage.words[1:] if not word.startswith("-")]
            if len(refs) == 1 and shell.single_var(refs[0]):
                return Command("echo", segment, var=shell.single_var(refs[0]))
        assigned = _assignment(stage)
        if assigned is not None:
            return Command("assign", segment, name=assigned[0], value=assigned[1])
    return Command("other", segment)


def _is_activation(words: tuple[str, ...]) -> bool:
    plain = [shell.unquote(word) for word in words]
    return "auth" in plain and "activate-service-account" in plain[plain.index("auth"):]


def _activate(segment: shell.Segment, index: int) -> Command:
    stage = segment.stages[index]
    words = list(stage.words)
    plain = [shell.unquote(word) for word in words]
    start = plain.index("activate-service-account") + 1
    key: str | None = None
    keep: list[str] = []
    unknown: list[str] = []
    i = start
    while i < len(words):
        word, text = words[i], plain[i]
        flag = text.split("=", 1)[0]
        if flag == "--key-file":
            if "=" in text:
                key = word.split("=", 1)[1]
            elif i + 1 < len(words):
                key = words[i + 1]
                i += 1
        elif flag in ACTIVATE_KEEP:
            keep.append(word)
            if "=" not in text and flag in ("--project", "--verbosity", "--configuration") and i + 1 < len(words):
                keep.append(words[i + 1])
                i += 1
        elif text.startswith("-"):
            unknown.append(word)
        # a positional word is the account name: the credential configuration names the account
        i += 1
    # global flags written before `auth` (gcloud --quiet auth ...) are kept too
    keep = [word for word in words[1:plain.index("auth")]] + keep
    var = None
    if key is not None and shell.unquote(key) in ("-", "/dev/stdin") and index > 0:
        var = _piped_var(segment.stages[:index])
        key = None
    elif key is not None:
        var = shell.single_var(key)
    if index > 0 and var is None:
        unknown.append("(piped input)")
    if stage.redirects or index != len(segment.stages) - 1:
        unknown.append("(redirection or pipe)")
    return Command("activate", segment, var=var, path=key, gcloud=stage.prefix, keep=tuple(keep),
                   unknown=tuple(unknown))


def _json_key(words: tuple[str, ...]) -> bool:
    plain = [shell.unquote(word) for word in words]
    for i, text in enumerate(plain):
        if text in JSON_KEY_USERS and i > 0 and plain[i - 1] in ("-u", "--username"):
            return True
        if any(text == f"{flag}{user}" for flag in ("-u", "--username=") for user in JSON_KEY_USERS):
            return True
    return False


def _docker(segment: shell.Segment, index: int) -> Command:
    stage = segment.stages[index]
    words = list(stage.words[2:])
    plain = [shell.unquote(word) for word in words]
    host: str | None = None
    var: str | None = None
    path: str | None = None
    unknown: list[str] = []
    i = 0
    while i < len(words):
        text = plain[i]
        flag = text.split("=", 1)[0]
        if flag in ("-u", "--username"):
            i += 1 if "=" in text else 2
            continue
        if text.startswith("-u") and len(text) > 2:
            i += 1
            continue
        if flag in ("-p", "--password"):
            value = words[i].split("=", 1)[1] if "=" in text else (words[i + 1] if i + 1 < len(words) else "")
            var, path = _password_source(value)
            if var is None and path is None:
                unknown.append(value)
            i += 1 if "=" in text else 2
            continue
        if text == "--password-stdin":
            stdin = next((r.target for r in stage.redirects if r.op == "<"), None)
            if stdin is not None:
                var = shell.single_var(stdin)
                path = None if var else stdin
            elif index > 0:
                previous = segment.stages[:index]
                if len(previous) == 1 and previous[0].name == "cat" and len(previous[0].words) == 2:
                    path = previous[0].words[1]
                else:
                    var = _piped_var(previous)
            if var is None and path is None:
                unknown.append("--password-stdin")
            i += 1
            continue
        if text.startswith("-"):
            unknown.append(words[i])
        else:
            host = words[i]
        i += 1
    return Command("docker", segment, var=var, path=path, host=host, unknown=tuple(unknown))


def _password_source(value: str) -> tuple[str | None, str | None]:
    """(variable, path) a `-p` value reads: `"$V"`, `"$(cat P)"`, `"$(echo $V | base64 -d)"`."""
    var = shell.single_var(value)
    if var is not None:
        return var, None
    inner = re.fullmatch(r"\$\((.*)\)", shell.unquote(value).strip(), re.S)
    if inner is None:
        return None, None
    parts = shell.segments(inner.group(1))
    if not parts or len(parts) != 1:
        return None, None
    stages = parts[0].stages
    if len(stages) == 1 and stages[0].name == "cat" and len(stages[0].words) == 2:
        return None, stages[0].words[1]
    return _piped_var(stages), None


def _piped_var(stages: tuple[shell.Stage, ...]) -> str | None:
    """The one variable whose content a writer pipeline (`echo $V | base64 -d`) emits."""
    found: list[str] = []
    for stage in stages:
        if stage.name not in WRITERS or stage.assignments:
            return None
        for word in stage.words[1:]:
            if word.startswith("-") or shell.unquote(word) in ("%s", "%s\\n"):
                continue
            var = shell.single_var(word)
            if var is None:
                return None
            found.append(var)
        for redirect in stage.redirects:
            if redirect.op in ("<", "<<<"):
                var = shell.single_var(redirect.target)
                if var is None:
                    return None
                found.append(var)
    return found[0] if len(found) == 1 else None


def _write(segment: shell.Segment) -> Command | None:
    """`... > P` where the pipeline only emits one variable's content; `cp $V P`."""
    stages = segment.stages
    last = stages[-1]
    if len(stages) == 1 and last.name == "cp" and len(last.words) == 3 and shell.single_var(last.words[1]):
        return Command("write", segment, var=shell.single_var(last.words[1]), path=last.words[2])
    outputs = [r for r in last.redirects if r.op in (">", ">>") and r.target]
    if len(outputs) != 1:
        return None
    bare = [dataclasses.replace(stage, redirects=tuple(r for r in stage.redirects if r.op in ("<", "<<<")))
            for stage in stages]
    var = _piped_var(tuple(bare))
    if var is None:
        return None
    return Command("write", segment, var=var, path=outputs[0].target)


def _assignment(stage: shell.Stage) -> tuple[str, str] | None:
    words = stage.words
    if not words and len(stage.assignments) == 1:
        name, value = stage.assignments[0].split("=", 1)
        return name, value
    if words and words[0] == "export" and len(words) == 2:
        match = shell.ASSIGNMENT.match(words[1])
        if match:
            return match.group(1), match.group(2)
    return None
