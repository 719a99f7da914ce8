"""Just enough POSIX shell lexing to recognise authentication commands in CI scripts.

We never execute or fully parse shell. We split a command line into *segments* (separated by
top-level `;`, `&&`, `||`, `&` or newlines), each segment into pipeline *stages*, and each stage
into words and redirections, keeping every word's raw text so an edit can reuse the user's
quoting. Anything we do not understand (heredocs, subshell groups, control flow keywords) is
reported as such, so callers can refuse to edit it rather than guess.
"""

from __future__ import annotations

import dataclasses
import functools
import re

OPERATORS = ("&&", "||", ";;", ";", "&", "|")
REDIRECT = re.compile(r"^(\d*)(>>|>\||>&|<<<|<<|<&|<>|>|<)$")
VAR_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)
KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
                      "esac", "function", "{", "}", "(", ")", "!", "[[", "]]", "select", "time"})


@dataclasses.dataclass(frozen=True)
class Token:
    """A word or operator with its raw text and position in the command string."""

    text: str
    start: int
    end: int
    operator: bool = False


@dataclasses.dataclass(frozen=True)
class Redirect:
    op: str  # '>', '>>', '<', '<<<', ...
    target: str  # raw word ('' when missing)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One command of a pipeline: leading assignments, words, redirections."""

    assignments: tuple[str, ...]
    words: tuple[str, ...]
    redirects: tuple[Redirect, ...]

    @property
    def name(self) -> str:
        """Basename of the command word ('' for a bare assignment)."""
        return self.words[0].rsplit("/", 1)[-1] if self.words else ""

    @property
    def prefix(self) -> str:
        """The command word as written (e.g. `google-cloud-sdk/bin/gcloud`)."""
        return self.words[0] if self.words else ""


@dataclasses.dataclass(frozen=True)
class Segment:
    """A list element of a command line: `a | b` between `;`/`&&`/`||` separators."""

    text: str
    start: int
    end: int
    stages: tuple[Stage, ...]
    before: str  # the separator before this segment ('' at the start)


def tokenize(text: str) -> list[Token] | None:
    """Words and operators of `text`; None when quoting is unbalanced or a heredoc is used."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if text.startswith("\\\n", i):
            i += 2
            continue
        if ch == "\n":
            tokens.append(Token(";", i, i + 1, operator=True))
            i += 1
            continue
        if ch in " \t\r":
            i += 1
            continue
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        op = next((candidate for candidate in OPERATORS if text.startswith(candidate, i)), None)
        if op is not None and not text.startswith("&>", i):
            tokens.append(Token(op, i, i + len(op), operator=True))
            i += len(op)
            continue
        start = i
        i = _scan_word(text, i)
        if i < 0:
            return None
        if i == start:  # a lone character no rule consumed (`&>`): keep it as a word
            i = start + 1
        word = text[start:i]
        if word.startswith("<<") and not word.startswith("<<<"):
            return None  # heredoc: the body is not shell words
        tokens.append(Token(word, start, i))
    return tokens


def _scan_word(text: str, i: int) -> int:
    """End index of the word starting at `i` (-1 when a quote or substitution is unbalanced)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n;|":
            break
        if ch == "&":
            if i > 0 and text[i - 1] in "<>":
                i += 1
                continue
            break
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if ch == '"':
            i = _scan_double(text, i + 1)
            if i < 0:
                return -1
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if text.startswith("$(", i) or text.startswith("${", i):
            i = _scan_group(text, i + 2, ")" if text[i + 1] == "(" else "}")
            if i < 0:
                return -1
            continue
        i += 1
    return min(i, n)


def _scan_double(text: str, i: int) -> int:
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        if text.startswith("$(", i) or text.startswith("${", i):
            i = _scan_group(text, i + 2, ")" if text[i + 1] == "(" else "}")
            if i < 0:
                return -1
            continue
        i += 1
    return -1


def _scan_group(text: str, i: int, close: str) -> int:
    """Index after the `close` that ends a `$(`/`${` group starting at `i` (-1 when unbalanced)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == close:
            return i + 1
        if ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                return -1
            i = end + 1
            continue
        if ch == '"':
            i = _scan_double(text, i + 1)
            if i < 0:
                return -1
            continue
        if text.startswith("$(", i) or text.startswith("${", i):
            i = _scan_group(text, i + 2, ")" if text[i + 1] == "(" else "}")
            if i < 0:
                return -1
            continue
        if ch == "(" and close == ")":
            i = _scan_group(text, i + 1, ")")
            if i < 0:
                return -1
            continue
        i += 1
    return -1


def split_redirect(word: str) -> tuple[str, str] | None:
    """(`>`, target) for a redirection word such as `>file`, `2>/dev/null`, `>` (target '')."""
    match = re.match(r"^(\d*)(>>|>&|<<<|<&|>|<)(.*)$", word, re.S)
    if match is None or (match.group(1) and not match.group(2)):
        return None
    return match.group(2), match.group(3)


def segments(text: str) -> list[Segment] | None:
    """Split a command line into segments; None when it cannot be lexed.

    Memoised: a 1 MiB file repeats the same command lines many times, and detection, planning and
    the self-check all lex them (the segments are frozen, so sharing them is safe)."""
    found = _segments_cached(text)
    return None if found is None else list(found)


@functools.lru_cache(maxsize=32768)
def _segments_cached(text: str) -> tuple[Segment, ...] | None:
    parts = _segments(text)
    return None if parts is None else tuple(parts)


def _segments(text: str) -> list[Segment] | None:
    tokens = tokenize(text)
    if tokens is None:
        return None
    result: list[Segment] = []
    current: list[Token] = []
    before = ""

    def flush(separator: str) -> None:
        nonlocal before, current
        if current:
            stages = _stages(current)
            result.append(Segment(text[current[0].start:current[-1].end], current[0].start,
                                  current[-1].end, stages, before))
            before = separator
        elif separator and separator != ";":
            before = separator
        current = []

    for token in tokens:
        if token.operator and token.text != "|":
            flush(token.text)
        else:
            current.append(token)
    flush("")
    return result


def _stages(tokens: list[Token]) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    words: list[Token] = []
    for token in [*tokens, Token("|", 0, 0, operator=True)]:
        if token.operator:
            stages.append(_stage([word.text for word in words]))
            words = []
        else:
            words.append(token)
    return tuple(stages)


def _stage(raw: list[str]) -> Stage:
    assignments: list[str] = []
    words: list[str] = []
    redirects: list[Redirect] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        redirect = split_redirect(word)
        if redirect is not None and not word.startswith(("'", '"')):
            op, target = redirect
            if not target and op not in (">&", "<&") and i + 1 < len(raw):
                target = raw[i + 1]
                i += 1
            redirects.append(Redirect(op, target))
        elif not words and ASSIGNMENT.match(word):
            assignments.append(word)
        else:
            words.append(word)
        i += 1
    return Stage(tuple(assignments), tuple(words), tuple(redirects))


@functools.lru_cache(maxsize=65536)  # pure; big files repeat words (bounded cost)
def unquote(word: str) -> str:
    """The word with shell quotes removed but `$` expansions kept as text."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        ch = word[i]
        if ch == "\\" and i + 1 < n:
            out.append(word[i + 1])
            i += 2
        elif ch == "'":
            end = word.find("'", i + 1)
            end = n if end < 0 else end
            out.append(word[i + 1:end])
            i = end + 1
        elif ch == '"':
            i += 1
            while i < n and word[i] != '"':
                if word[i] == "\\" and i + 1 < n and word[i + 1] in '"\\$`':
                    out.append(word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=65536)  # pure; big files repeat words (bounded cost)
def normalize_path(word: str) -> str:
    """A comparable form of a path word: quotes removed, `${X}` → `$X`, leading `./` dropped."""
    text = unquote(word).strip()
    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", r"$\1", text)
    while text.startswith("./"):
        text = text[2:]
    return text


def var_refs(text: str) -> list[str]:
    """Names of variables referenced as `$NAME` or `${NAME...}` in `text`."""
    if "$" not in text:
        return []  # most command lines reference nothing: skip the regex engine (bounded cost)
    return [match.group(1) or match.group(2) for match in VAR_REF.finditer(text)]


@functools.lru_cache(maxsize=65536)  # pure; big files repeat words (bounded cost)
def single_var(word: str) -> str | None:
    """NAME when the word is exactly a reference to one variable (`$X`, `"${X}"`)."""
    text = unquote(word).strip()
    match = re.fullmatch(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))", text)
    return (match.group(1) or match.group(2)) if match else None


def has_control_flow(segment: Segment) -> bool:
    return any(stage.words and stage.words[0] in KEYWORDS for stage in segment.stages)
