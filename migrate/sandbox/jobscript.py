"""The sandbox runner's shell: executes a job's *authentication steps* for real, nothing else.

A sandbox pipeline must fail exactly when a real one would fail to reach Google: a disabled or
deleted key, a missing binding, a wrong audience. So the steps that move credentials around are
interpreted faithfully, against an in-memory file system, and the sign-ins are done for real
(through google-auth, against the Google sandbox):

- variables: `export A=B`, `A=B`, `$A`/`${A}`/`${A:-x}`, `$(pwd)`, `$(dirname X)`, `$(cat F)`;
- files: `echo [-n] … > F` / `>> F`, `printf '%s' … > F`, `cat F > G`, `cp F G`, `tee F`,
  `base64 -d|--decode|-D` in a pipe, from a file or from `<<<`, `rm -f F` (other commands no-op);
- `gcloud auth activate-service-account [ACCOUNT] --key-file F` → a key-signed JWT sign-in
  (google.oauth2.service_account) at the sandbox's `/token`; refused for a disabled/deleted key;
- `gcloud iam workload-identity-pools create-cred-config PROVIDER --service-account …
  --credential-source-file … --output-file …` → writes the external_account JSON gcloud writes;
- `gcloud auth login --cred-file F` → external_account: STS exchange + generateAccessToken through
  google-auth's `identity_pool.Credentials`; service_account: key sign-in;
- `sccache` with `SCCACHE_GCS_BUCKET` → signs in with the file at `SCCACHE_GCS_KEY_PATH` (else
  GOOGLE_APPLICATION_CREDENTIALS), key or external_account (mozilla/sccache docs/Gcs.md);
- `GOOGLE_APPLICATION_CREDENTIALS` → when the job sets it (or mentions it) and still holds it at
  the end of the script, the file it names is used to sign in the same way (client libraries,
  Terraform).

- `case WORD in PATTERN) … ;; esac` (on one line or over several lines of an entry) → evaluated
  with POSIX semantics (`migrate/sandbox/shellcase.py`), `exit N` inside its arms ends the job; a
  `case` outside what that module reads fails the job (never skipped).

Every other command is listed in the trace as not executed. A failing command ends the job
(GitLab runs scripts with errexit) unless it is an `if`/`while` condition or is followed by `||`.
The trace never carries a variable's value: only commands as written, service accounts, key ids.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
from google.auth import identity_pool
from google.oauth2 import service_account

from migrate.sandbox import shellcase

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
STS_TOKEN_URL = "https://sts.googleapis.com/v1/token"
IMPERSONATION_URL = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateAccessToken"
_GOOGLE_TOOLS = {"gcloud", "gsutil", "bq", "terraform", "terragrunt", "python", "python3", "node",
                 "npm", "go", "java", "mvn", "gradle", "firebase", "kubectl", "helm", "pulumi"}
_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}


class _JobExit(Exception):
    """`exit N` in a `case` arm: the script ends here with status N."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class AuthFailed(Exception):
    """A sign-in was refused; the message is what gcloud / the client library would print."""


@dataclass(frozen=True)
class AuthAttempt:
    """One sign-in the job made: how, as whom, and whether Google accepted it."""

    method: str  # "key" | "federated"
    service_account: str
    key_id: str | None
    ok: bool
    detail: str


@dataclass(frozen=True)
class GoogleEndpoints:
    """Where the job's Google calls go (the sandbox stands in for *.googleapis.com)."""

    oauth2_token: str  # key-signed JWT sign-in (…/token)
    sts: str  # base URL; `/v1/token` is appended
    iamcredentials: str  # base URL; `/v1/projects/-/serviceAccounts/…` appended

    @classmethod
    def single(cls, base_url: str) -> GoogleEndpoints:
        base = base_url.rstrip("/")
        return cls(f"{base}/token", base, base)

    def remap(self, url: str) -> str:
        """Point a googleapis.com URL from a credential file at the sandbox."""
        url = re.sub(r"^https://sts\.googleapis\.com", self.sts.rstrip("/"), url)
        return re.sub(r"^https://iamcredentials\.googleapis\.com", self.iamcredentials.rstrip("/"), url)


class GoogleSignIn:
    """Real sign-ins through google-auth: key-signed JWT, or external_account federation."""

    def __init__(self, endpoints: GoogleEndpoints) -> None:
        self.endpoints = endpoints

    def _request(self) -> google.auth.transport.requests.Request:
        return google.auth.transport.requests.Request()

    def key(self, info: Mapping[str, Any]) -> AuthAttempt:
        sa = str(info.get("client_email", "?"))
        key_id = str(info.get("private_key_id", "")) or None
        try:
            creds = service_account.Credentials.from_service_account_info(dict(info), scopes=SCOPES)
            creds = creds.with_token_uri(self.endpoints.oauth2_token)
            creds.refresh(self._request())
        except google.auth.exceptions.GoogleAuthError as exc:
            raise AuthFailed(f"sign-in with key {key_id} of {sa} refused: {_error_text(exc)}") from None
        except ValueError as exc:  # malformed key file; never echo its content
            raise AuthFailed(f"the key file of {sa} is not usable ({type(exc).__name__})") from None
        return AuthAttempt("key", sa, key_id, True, f"key-signed JWT sign-in as {sa} (key id {key_id})")

    def federated(self, config: Mapping[str, Any], read: Callable[[str], str | None]) -> AuthAttempt:
        source = dict(config.get("credential_source") or {})
        url = str(config.get("service_account_impersonation_url") or "")
        sa = url.rsplit("/", 1)[-1].split(":", 1)[0] if url else "(federated principal)"
        path = source.get("file")
        if not path:
            raise AuthFailed("the credential configuration has no credential_source.file "
                             "(the sandbox interprets file sources only)")
        content = read(str(path))
        if content is None:
            raise AuthFailed(f"File '{path}' was not found.")
        with tempfile.TemporaryDirectory(prefix="wif-sandbox-job-") as tmp:
            real = os.path.join(tmp, "subject_token")
            with open(real, "w", encoding="utf-8") as fh:
                fh.write(content)
            info = dict(config)
            info["credential_source"] = {**source, "file": real}
            info["token_url"] = self.endpoints.remap(str(config.get("token_url") or STS_TOKEN_URL))
            if url:
                info["service_account_impersonation_url"] = self.endpoints.remap(url)
            try:
                creds = identity_pool.Credentials.from_info(info, scopes=list(SCOPES))
                creds.refresh(self._request())
            except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
                raise AuthFailed(f"federated sign-in as {sa} refused: {_error_text(exc)}") from None
        how = "STS token exchange + generateAccessToken" if url else "STS token exchange (direct access)"
        return AuthAttempt("federated", sa, None, True, f"federated sign-in as {sa} ({how})")


def _error_text(exc: BaseException) -> str:
    """The error's message, without the response body repr google-auth appends."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    text = str(args[0]) if args else type(exc).__name__
    if len(args) > 1 and isinstance(args[1], (str, bytes)):
        body = args[1].decode() if isinstance(args[1], bytes) else args[1]
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                text += f": {err.get('status', '')} {err.get('message', '')}".rstrip()
            elif err:
                text += f": {data.get('error_description', err)}" if data.get("error_description") \
                    and str(data["error_description"]) not in text else ""
    return text


# --- the mini shell ----------------------------------------------------------------------------

@dataclass
class Word:
    """A shell word as (text, quoted?) segments, so unquoted expansions can be split."""

    parts: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): lit|sq|dq|bare


def split_commands(line: str) -> list[tuple[str, str]]:
    """Split one logical line on unquoted `;`, `&&`, `||` → [(command, connector-after)]."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    quote = ""
    depth = 0
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\" and quote == '"' and i + 1 < len(line):
                buf.append(line[i:i + 2])
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c == "$" and line[i + 1:i + 2] == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif depth == 0 and (line.startswith("&&", i) or line.startswith("||", i)):
            out.append(("".join(buf).strip(), line[i:i + 2]))
            buf = []
            i += 2
            continue
        elif depth == 0 and c == ";":
            out.append(("".join(buf).strip(), ";"))
            buf = []
            i += 1
            continue
        elif c == "#" and not quote and (i == 0 or line[i - 1].isspace()):
            break
        buf.append(c)
        i += 1
    out.append(("".join(buf).strip(), ""))
    return [(cmd, conn) for cmd, conn in out if cmd]


def logical_lines(item: str) -> list[str]:
    """A script entry → lines, with backslash-newline continuations joined."""
    return [ln for ln in re.sub(r"\\\n\s*", " ", item).split("\n") if ln.strip()]


_TOKEN_RE = re.compile(r"""(?P<ws>\s+)|(?P<op>\|\||&&|<<<|2>&1|[12]?>>|[12]?>|\||<)|(?P<sq>'[^']*')|(?P<dq>"(?:[^"\\$]|\\.|\$\((?:[^()]|\([^()]*\))*\)|\$)*")|(?P<bq>`[^`]*`)|(?P<sub>\$\((?:[^()]|\([^()]*\))*\))|(?P<bare>(?:[^\s'"`|<>;&$]|\$(?!\())+|&)""")


def tokenize(command: str) -> list[Word | str]:
    """Words (with quoting kept) and redirection/pipe operators (plain strings)."""
    out: list[Word | str] = []
    word: Word | None = None
    for m in _TOKEN_RE.finditer(command):
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "ws":
            word = None
            continue
        if kind == "op":
            out.append(text)
            word = None
            continue
        if word is None:
            word = Word()
            out.append(word)
        word.parts.append((kind, text))
    return out


class Shell:
    """Environment + in-memory files + a trace; runs commands, signing in where a job would."""

    def __init__(self, env: dict[str, str], files: dict[str, str], signin: GoogleSignIn,
                 cwd: str, emit: Callable[[str], None]) -> None:
        self.env = env
        self.files = files
        self.signin = signin
        self.cwd = cwd
        self.emit = emit
        self.attempts: list[AuthAttempt] = []
        self.gac_explicit = False
        self.used_files: set[str] = set()
        self.google_tools = False
        self.gcloud_account: AuthAttempt | None = None  # gcloud's active credentials, when signed in
        self.case_depth = 0  # inside a `case` arm: `exit` is interpreted there (see builtin)

    # --- expansion -----------------------------------------------------------------------
    def _var(self, expr: str) -> str:
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-=])(.*))?$", expr, re.S)
        if m is None:
            return ""
        name, op, default = m.groups()
        value = self.env.get(name)
        if op in (":-", ":="):
            return value if value else self.expand(default)
        if op in ("-", "="):
            return self.expand(default) if value is None else value
        return value or ""

    def expand(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group("sub") is not None:
                return self.substitute(m.group("sub"))
            return self._var(m.group("braced") or m.group("plain") or "")
        return re.sub(r"\$\{(?P<braced>[^}]+)\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)|(?P<sub>\$\((?:[^()]|\([^()]*\))*\)|`[^`]*`)",
                      repl, text)

    def substitute(self, sub: str) -> str:
        inner = sub[2:-1] if sub.startswith("$(") else sub[1:-1]
        argv = self.words(tokenize(inner.strip()))
        if argv[:1] == ["pwd"]:
            return self.cwd
        if argv[:1] == ["dirname"] and len(argv) > 1:
            return posixpath.dirname(argv[1]) or "."
        if argv[:1] == ["basename"] and len(argv) > 1:
            return posixpath.basename(argv[1])
        if argv[:1] == ["cat"] and len(argv) > 1:
            return self.files.get(self.path(argv[1]), "").rstrip("\n")
        if argv[:1] == ["echo"]:
            return " ".join(a for a in argv[1:] if a not in ("-n", "-e"))
        return ""

    def word(self, w: Word) -> list[str]:
        """Expand a word; unquoted expansions are split on whitespace (bash word splitting)."""
        fields: list[str] = [""]
        quoted_any = False
        for kind, text in w.parts:
            if kind == "sq":
                fields[-1] += text[1:-1]
                quoted_any = True
            elif kind == "dq":
                fields[-1] += self.expand(re.sub(r"\\([\"\\$`])", r"\1", text[1:-1]))
                quoted_any = True
            else:
                value = self.substitute(text) if kind in ("bq", "sub") else self.expand(text)
                expanded = kind in ("bq", "sub") or "$" in text
                pieces = value.split() if expanded else [value]
                if not pieces:
                    continue
                fields[-1] += pieces[0]
                fields.extend(pieces[1:])
        return [f for f in fields if f or quoted_any]

    def words(self, tokens: Sequence[Word | str]) -> list[str]:
        out: list[str] = []
        for t in tokens:
            out.extend(self.word(t) if isinstance(t, Word) else [t])
        return out

    def path(self, p: str) -> str:
        if p.startswith("~"):
            p = self.env.get("HOME", "/root") + p[1:]
        return posixpath.normpath(p if p.startswith("/") else posixpath.join(self.cwd, p))

    # --- execution -----------------------------------------------------------------------
    def run_script(self, items: Sequence[str]) -> bool:
        """Run script entries; False when a command failed in a way that ends the job."""
        try:
            for item in items:
                self.emit(f"$ {item.strip()}" if "\n" not in item.strip() else "$ " + item.strip().split("\n")[0]
                          + " # collapsed multi-line command")
                if not self.run_lines(logical_lines(item)):
                    return False
        except _JobExit as done:
            if done.code != 0:
                return False
        except shellcase.NotUnderstood as exc:
            self.emit(f"(sandbox: `case` not understood: {exc}; the job fails rather than skip it)")
            return False
        return self.finish()

    def run_lines(self, lines: Sequence[str]) -> bool:
        """The lines of one script entry; a `case` may span several of them (up to its `esac`)."""
        i = 0
        while i < len(lines):
            line = lines[i]
            if not shellcase.starts_case(line):
                if not self.run_line(line):
                    return False
                i += 1
                continue
            text = line
            while True:
                try:
                    case = shellcase.parse(text)
                    break
                except shellcase.Incomplete:
                    i += 1
                    if i >= len(lines):
                        raise
                    text += "\n" + lines[i]
            i += 1
            if not self.run_case(case) or (case.rest and not self.run_line(case.rest)):
                return False
        return True

    def run_case(self, case: shellcase.Case) -> bool:
        """POSIX `case`: the word expanded without field splitting, the first arm whose pattern
        matches runs, no match is success (migrate/sandbox/shellcase.py)."""
        value = "".join(part for w in tokenize(case.word) if isinstance(w, Word) for part in self.word(w))
        for arm in case.arms:
            if any(shellcase.pattern_regex(p, self._expand_quoted).fullmatch(value) for p in arm.patterns):
                self.case_depth += 1
                try:
                    return self.run_lines([ln for ln in arm.body.split("\n") if ln.strip()])
                finally:
                    self.case_depth -= 1
        return True

    def _expand_quoted(self, text: str) -> str:
        return self.expand(re.sub(r"\\([\"\\$`])", r"\1", text))

    def run_line(self, line: str) -> bool:
        """One line of `a && b || c; d`, with bash's errexit rule: only a failing command that
        ends a list (not an `if`/`while` condition, not followed by && or ||) ends the job."""
        commands = split_commands(line)
        status = True
        for n, (cmd, conn) in enumerate(commands):
            prev = commands[n - 1][1] if n else ";"
            if (prev == "&&" and not status) or (prev == "||" and status):
                continue
            head = cmd.split(None, 1)
            condition = bool(head) and head[0] in ("if", "elif", "while", "until")
            while head and head[0] in _KEYWORDS:
                cmd = head[1] if len(head) > 1 else ""
                head = cmd.split(None, 1)
            if not cmd:
                continue
            status = self.run_command(cmd)
            if not status and not condition and conn not in ("&&", "||"):
                return False
        return True

    def run_command(self, command: str) -> bool:
        tokens = tokenize(command)
        stages: list[list[Word | str]] = [[]]
        for t in tokens:
            if t == "|":
                stages.append([])
            else:
                stages[-1].append(t)
        data: str | None = None
        for stage in stages:
            ok, data = self.run_simple(stage, data)
            if not ok:
                return False
        if data and data.startswith("wif-migrate:"):
            # What the job prints to its log: only our own marker lines are reproduced (the trace
            # never carries other output, which could be a variable's value).
            self.emit(data.rstrip("\n"))
        return True

    def run_simple(self, tokens: list[Word | str], stdin: str | None) -> tuple[bool, str | None]:
        argv: list[str] = []
        redirect: tuple[str, str] | None = None
        here: str | None = None
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if isinstance(t, str) and t in (">", "1>", ">>", "1>>", "2>", "2>>", "<", "<<<"):
                target = tokens[i + 1] if i + 1 < len(tokens) else None
                value = " ".join(self.word(target)) if isinstance(target, Word) else ""
                if t in (">", "1>", ">>", "1>>"):
                    redirect = (">>" if ">>" in t else ">", value)
                elif t == "<":
                    stdin = self.files.get(self.path(value))
                elif t == "<<<":
                    here = value + "\n"
                i += 2
                continue
            if isinstance(t, str):
                i += 1
                continue
            argv.extend(self.word(t))
            i += 1
        if here is not None:
            stdin = here
        if not argv:
            return True, stdin
        ok, out = self.builtin(argv, stdin)
        if redirect is not None and out is not None and ok:
            target = redirect[1]
            if target in ("&2", "/dev/stderr") and out.startswith("wif-migrate:"):
                self.emit(out.rstrip("\n"))  # our own marker line, as the job log shows stderr
            if target in ("/dev/null", "/dev/stderr", "/dev/stdout", "&1", "&2"):
                return ok, None
            path = self.path(target)
            self.files[path] = (self.files.get(path, "") if redirect[0] == ">>" else "") + out
            return ok, None
        return ok, out

    def builtin(self, argv: list[str], stdin: str | None) -> tuple[bool, str | None]:
        name = posixpath.basename(argv[0])
        if "=" in argv[0] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]) or name == "export":
            for a in argv[1:] if name == "export" else argv:
                if "=" in a:
                    key, value = a.split("=", 1)
                    self.env[key] = value
                    if key == "GOOGLE_APPLICATION_CREDENTIALS":
                        self.gac_explicit = True
            return True, None
        if name == "echo":
            args = argv[1:]
            newline = True
            while args and args[0] in ("-n", "-e", "-ne", "-en", "-E"):
                newline = newline and "n" not in args[0]
                args = args[1:]
            return True, " ".join(args) + ("\n" if newline else "")
        if name == "printf":
            fmt, args = (argv[1] if len(argv) > 1 else ""), argv[2:]
            return True, _printf(fmt, args)
        if name == "base64":
            if not any(a in ("-d", "--decode", "-D", "-di", "-id") for a in argv[1:]):
                return True, base64.b64encode((stdin or "").encode()).decode() + "\n"
            files = [a for a in argv[1:] if not a.startswith("-")]
            src = self.files.get(self.path(files[0])) if files else stdin
            try:
                return True, base64.b64decode("".join((src or "").split()), validate=True).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                self.emit("base64: invalid input")
                return False, None
        if name == "cat":
            paths = [a for a in argv[1:] if not a.startswith("-")]
            if not paths:
                return True, stdin
            missing = [p for p in paths if self.path(p) not in self.files]
            if missing:
                self.emit(f"cat: {missing[0]}: No such file or directory")
                return False, None
            return True, "".join(self.files[self.path(p)] for p in paths)
        if name == "tee":
            for p in (a for a in argv[1:] if not a.startswith("-")):
                self.files[self.path(p)] = stdin or ""
            return True, stdin
        if name == "cp" and len(argv) >= 3:
            src, dst = self.path(argv[-2]), self.path(argv[-1])
            if src not in self.files:
                self.emit(f"cp: cannot stat '{argv[-2]}': No such file or directory")
                return False, None
            self.files[dst] = self.files[src]
            return True, None
        if name == "rm":
            for p in (a for a in argv[1:] if not a.startswith("-")):
                self.files.pop(self.path(p), None)
            return True, None
        if name == "cd" and len(argv) > 1:
            self.cwd = self.path(argv[1])
            return True, None
        if name in ("true", ":", "mkdir", "chmod", "set", "touch", "source", ".", "shopt", "unset"):
            if name == "unset":
                for a in argv[1:]:
                    self.env.pop(a, None)
            return True, None
        if name == "false":
            return False, None
        if name in ("case", "esac", "in"):
            raise shellcase.NotUnderstood(f"`{name}` where the sandbox does not read a case command")
        if name == "exit" and self.case_depth:
            # Only inside a `case` arm, whose choice the runner evaluates: elsewhere `if`/`[ ]` are
            # not evaluated, so an `exit` in a guard's body must stay a no-op (see the docstring).
            code = argv[1] if len(argv) > 1 else "0"
            if not code.isdigit():
                raise shellcase.NotUnderstood(f"exit {code}")
            raise _JobExit(int(code))
        if name == "gcloud" and [a for a in argv[1:] if a not in ("--quiet", "-q")][:2] == \
                ["auth", "print-access-token"]:
            return self.print_access_token()
        if name == "gcloud":
            return self.gcloud(argv), None
        if name == "docker" and argv[1:2] == ["login"] and self._flag(argv, "-u") in ("_json_key",
                                                                                    "_json_key_base64"):
            return self.docker_login(argv, stdin), None
        if name == "sccache" and self.env.get("SCCACHE_GCS_BUCKET"):
            return self.sccache_gcs(), None
        if name in _GOOGLE_TOOLS:
            self.google_tools = True
        self.emit(f"  (sandbox: `{name}` not executed: only authentication steps are interpreted)")
        return True, stdin

    # --- gcloud --------------------------------------------------------------------------
    @staticmethod
    def _flag(argv: Sequence[str], name: str) -> str | None:
        for i, a in enumerate(argv):
            if a == name and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(name + "="):
                return a.split("=", 1)[1]
        return None

    def gcloud(self, argv: list[str]) -> bool:
        args = [a for a in argv[1:] if a not in ("--quiet", "-q")]
        if args[:2] == ["auth", "activate-service-account"]:
            return self.activate(args)
        if args[:3] == ["iam", "workload-identity-pools", "create-cred-config"]:
            return self.create_cred_config(args)
        if args[:2] == ["auth", "login"] and self._flag(args, "--cred-file") is not None:
            return self.login_cred_file(args)
        self.google_tools = True
        self.emit(f"  (sandbox: `gcloud {' '.join(args[:3])}` not executed: not an authentication step)")
        return True

    def print_access_token(self) -> tuple[bool, str | None]:
        """`gcloud auth print-access-token`: a token from the active credentials (the sign-in the
        login did is the mint here); fails like gcloud without an active account."""
        if self.gcloud_account is None or not self.gcloud_account.ok:
            self.emit("ERROR: (gcloud.auth.print-access-token) You do not currently have an active account "
                      "selected.")
            return False, None
        return True, "ya29.sandbox-access-token\n"

    def _read_json(self, command: str, path: str) -> dict[str, Any] | None:
        real = self.path(path)
        if real not in self.files:
            self.emit(f"ERROR: ({command}) Unable to read file [{path}]: [Errno 2] No such file or directory")
            return None
        try:
            data = json.loads(self.files[real])
        except ValueError:
            self.emit(f"ERROR: ({command}) Could not read json file {path}: not valid JSON")
            return None
        if not isinstance(data, dict):
            self.emit(f"ERROR: ({command}) {path} is not a credential file")
            return None
        self.used_files.add(real)
        return data

    def _sign_in(self, command: str, data: Mapping[str, Any]) -> bool:
        try:
            if data.get("type") == "service_account":
                attempt = self.signin.key(data)
            elif data.get("type") == "external_account":
                attempt = self.signin.federated(data, lambda p: self.files.get(self.path(p)))
            else:
                self.emit(f"ERROR: ({command}) unsupported credential type {data.get('type')!r}")
                return False
        except AuthFailed as exc:
            sa = str(data.get("client_email") or "")
            method = "key" if data.get("type") == "service_account" else "federated"
            key_id = str(data.get("private_key_id") or "") or None
            self.attempts.append(AuthAttempt(method, sa, key_id, False, str(exc)))
            self.emit(f"ERROR: ({command}) {exc}")
            return False
        self.attempts.append(attempt)
        self.emit(f"  {attempt.detail}")
        return True

    def activate(self, args: list[str]) -> bool:
        path = self._flag(args, "--key-file")
        if path is None:
            self.emit("ERROR: (gcloud.auth.activate-service-account) --key-file is required")
            return False
        data = self._read_json("gcloud.auth.activate-service-account", path)
        if data is None:
            return False
        if data.get("type") != "service_account":
            self.emit("ERROR: (gcloud.auth.activate-service-account) the file is not a service account key")
            return False
        ok = self._sign_in("gcloud.auth.activate-service-account", data)
        self.gcloud_account = self.attempts[-1] if self.attempts else None
        if ok:
            self.emit(f"Activated service account credentials for: [{data.get('client_email')}]")
        return ok

    def login_cred_file(self, args: list[str]) -> bool:
        path = self._flag(args, "--cred-file") or ""
        data = self._read_json("gcloud.auth.login", path)
        if data is None:
            return False
        ok = self._sign_in("gcloud.auth.login", data)
        self.gcloud_account = self.attempts[-1] if self.attempts else None
        if ok:
            who = data.get("client_email") or str(data.get("service_account_impersonation_url", "")) \
                .rsplit("/", 1)[-1].split(":")[0] or "the federated principal"
            self.emit(f"Authenticated with external account credentials for: [{who}].")
        return ok

    def create_cred_config(self, args: list[str]) -> bool:
        cmd = "gcloud.iam.workload-identity-pools.create-cred-config"
        positional = [a for a in args[3:] if not a.startswith("-")]
        # Drop values of flags given as "--flag value".
        flags_with_values = {self._flag(args, f) for f in (
            "--service-account", "--credential-source-file", "--output-file", "--credential-source-type",
            "--credential-source-field-name", "--service-account-token-lifetime-seconds",
            "--credential-source-url", "--subject-token-type")}
        positional = [p for p in positional if p not in flags_with_values]
        out = self._flag(args, "--output-file")
        source = self._flag(args, "--credential-source-file")
        if not positional or out is None:
            self.emit(f"ERROR: ({cmd}) a provider and --output-file are required")
            return False
        if source is None:
            self.emit(f"ERROR: ({cmd}) the sandbox interprets --credential-source-file only")
            return False
        provider = positional[0]
        # What gcloud writes (googlecloudsdk/command_lib/iam/byoid_utilities/cred_config.py, checked
        # against the real CLI in tests/google_adapter/test_real_gcloud.py): `format` only when
        # --credential-source-type is given; `token_info_url` when nothing is impersonated.
        audience = "//iam.googleapis.com/" + provider
        source_type = self._flag(args, "--credential-source-type")
        credential_source: dict[str, Any] = {"file": self.path(source)}
        if source_type:
            source_type = source_type.lower()
            problem = None
            if source_type not in ("json", "text"):
                problem = '--credential-source-type must be either "json" or "text"'
            field_name = self._flag(args, "--credential-source-field-name")
            if source_type == "json" and not field_name:
                problem = "--credential-source-field-name required for JSON formatted tokens"
            if problem:  # gcloud logs the failure and writes no file
                self.emit(f"Failed to create credential configuration file [{out}]: {problem}")
                return True
            fmt: dict[str, str] = {"type": source_type}
            if source_type == "json":
                fmt["subject_token_field_name"] = str(field_name)
            credential_source["format"] = fmt
        config: dict[str, Any] = {
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": audience,
            "subject_token_type": self._flag(args, "--subject-token-type") or "urn:ietf:params:oauth:token-type:jwt",
            "token_url": STS_TOKEN_URL,
            "credential_source": credential_source,
        }
        sa = self._flag(args, "--service-account")
        if sa:
            config["service_account_impersonation_url"] = IMPERSONATION_URL.format(sa)
            lifetime = self._flag(args, "--service-account-token-lifetime-seconds")
            if lifetime:
                config["service_account_impersonation"] = {"token_lifetime_seconds": int(lifetime)}
        else:
            config["token_info_url"] = STS_TOKEN_URL.rsplit("/", 1)[0] + "/introspect"
        self.files[self.path(out)] = json.dumps(config, indent=2)
        self.emit(f"Created credential configuration file [{out}].")
        return True

    def docker_login(self, argv: list[str], stdin: str | None) -> bool:
        """`docker login -u _json_key[_base64] -p KEY|--password-stdin REGISTRY`: the registry
        exchanges the JSON key for a Google token, so this is a key sign-in."""
        secret = self._flag(argv, "-p") or self._flag(argv, "--password")
        if secret is None:
            secret = stdin if "--password-stdin" in argv else None
        if not secret:
            self.emit("Error: Cannot perform an interactive login from a non TTY device")
            return False
        if self._flag(argv, "-u") == "_json_key_base64":
            try:
                secret = base64.b64decode("".join(secret.split())).decode("utf-8")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                self.emit("Error response from daemon: Get \"https://gcr.io/v2/\": unauthorized")
                return False
        try:
            data = json.loads(secret)
        except ValueError:
            self.emit("Error response from daemon: Get \"https://gcr.io/v2/\": unauthorized: not a JSON key")
            return False
        ok = self._sign_in("docker.login", data) if isinstance(data, dict) else False
        self.emit("Login Succeeded" if ok else "Error response from daemon: unauthorized")
        return ok

    def sccache_gcs(self) -> bool:
        """sccache with a GCS cache (`SCCACHE_GCS_BUCKET`) signs in from the first credential source
        its docs list: the file at `SCCACHE_GCS_KEY_PATH` ("Service accounts JSONs, External
        accounts JSONs"), else `GOOGLE_APPLICATION_CREDENTIALS` (mozilla/sccache docs/Gcs.md,
        Credentials). `SCCACHE_GCS_CREDENTIALS_URL` and metadata tokens are not modelled."""
        path = self.env.get("SCCACHE_GCS_KEY_PATH") or self.env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not path:
            self.emit("  (sandbox: sccache has no GCS credentials the sandbox models; not executed)")
            return True
        self.emit(f"(sandbox: sccache reads GCS credentials from {path})")
        data = self._read_json("sccache", path)
        return data is not None and self._sign_in("sccache", data)

    def finish(self) -> bool:
        """GOOGLE_APPLICATION_CREDENTIALS (or Terraform's GOOGLE_CREDENTIALS) still set at the end:
        what client libraries and Terraform would sign in with."""
        tf_creds = self.env.get("GOOGLE_CREDENTIALS")
        if tf_creds and self.google_tools:
            self.emit("(sandbox: Terraform's google provider reads GOOGLE_CREDENTIALS)")
            text = tf_creds if tf_creds.lstrip().startswith("{") else self.files.get(self.path(tf_creds))
            try:
                data = json.loads(text or "")
            except ValueError:
                self.emit("ERROR: google: GOOGLE_CREDENTIALS is neither a readable file nor JSON credentials")
                return False
            if not isinstance(data, dict) or not self._sign_in("terraform.google", data):
                return False
        gac = self.env.get("GOOGLE_APPLICATION_CREDENTIALS")
        if not gac or not (self.gac_explicit or self.google_tools):
            return True
        path = self.path(gac)
        if path in self.used_files:
            return True
        self.emit(f"(sandbox: client libraries read GOOGLE_APPLICATION_CREDENTIALS={gac})")
        data = self._read_json("google.auth", gac)
        if data is None:
            return False
        return self._sign_in("google.auth", data)


def _printf(fmt: str, args: list[str]) -> str:
    """Shell `printf` for `%s`, `%%` and `\\n`: the format is reused while arguments remain.
    (Not str.format: credential JSON in a format string is full of braces.)"""
    out: list[str] = []
    remaining = list(args)
    while True:
        parts = re.split(r"(%%|%s|\\n)", fmt)
        used = False
        for part in parts:
            if part == "%s":
                out.append(remaining.pop(0) if remaining else "")
                used = True
            elif part == "%%":
                out.append("%")
            elif part == "\\n":
                out.append("\n")
            else:
                out.append(part)
        if not remaining or not used:
            return "".join(out)
