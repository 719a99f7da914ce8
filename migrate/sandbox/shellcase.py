"""`case WORD in PATTERN) LIST ;; … esac` for the sandbox runner's shell (POSIX semantics).

The rewrite of a line shared by jobs of several environments chooses the service account with
`case "${CI_ENVIRONMENT_NAME}" in "production") …;; *) echo … >&2; exit 1;; esac`, so the runner
must evaluate it as a real shell does, or a sandbox pipeline would pass where a real one fails.
The grammar is POSIX's (Shell Command Language, 2.9.4.3 "Case Conditional Construct"): the word
is expanded without field splitting, the arms are tried in order, the first whose pattern matches
runs (patterns are globs, 2.13 "Pattern Matching Notation": `*`, `?`, `[…]`, `[!…]`; quoted
characters match themselves; `|` separates alternatives), no match is success. Everything outside
that subset (bash's `;&` / `;;&`, a nested `case`, an expansion in an unquoted pattern, a `case`
left open) is `NotUnderstood`: the runner fails the job rather than skip what it cannot read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class NotUnderstood(Exception):
    """A `case` the sandbox cannot interpret faithfully; the message says what."""


class Incomplete(NotUnderstood):
    """No closing `esac` yet (a case spread over more lines of the script entry)."""


@dataclass(frozen=True)
class Arm:
    patterns: tuple[str, ...]  # raw pattern words as written
    body: str  # the command list, raw


@dataclass(frozen=True)
class Case:
    word: str  # raw
    arms: tuple[Arm, ...]
    rest: str  # what follows `esac` on the line (after `;`), raw


def starts_case(line: str) -> bool:
    return re.match(r"^\s*case(\s|$)", line) is not None


def parse(text: str) -> Case:
    """Parse a `case … esac` at the start of `text` (newlines allowed between its parts)."""
    m = re.match(r"\s*case\s+", text)
    if m is None:
        raise NotUnderstood("not a case command")
    i = m.end()
    end = _scan_word(text, i)
    word = text[i:end]
    i = _skip_space(text, end)
    if not text.startswith("in", i) or not _word_ends(text, i + 2):
        raise Incomplete("`case WORD` without `in`") if i >= len(text) else NotUnderstood("`case WORD` without `in`")
    i += 2
    arms: list[Arm] = []
    while True:
        i = _skip_space(text, i, newlines=True)
        if i >= len(text):
            raise Incomplete("no `esac`")
        if text.startswith("esac", i) and _word_ends(text, i + 4):
            return Case(word, tuple(arms), _rest(text[i + 4:]))
        if text[i] == "(":
            i += 1
        patterns, i = _patterns(text, i)
        body, i, closed = _body(text, i)
        arms.append(Arm(patterns, body))
        if not closed:  # the last arm may omit `;;` before `esac`
            i = _skip_space(text, i, newlines=True)
            if not (text.startswith("esac", i) and _word_ends(text, i + 4)):
                raise Incomplete("no `esac`")


def _rest(tail: str) -> str:
    tail = tail.strip()
    if not tail:
        return ""
    if tail.startswith(";") and not tail.startswith(";;"):
        return tail[1:].strip()
    raise NotUnderstood(f"`esac` followed by {tail[:20]!r}")


def _skip_space(text: str, i: int, newlines: bool = False) -> int:
    while i < len(text) and (text[i] in " \t" or (newlines and text[i] == "\n")):
        i += 1
    return i


def _word_ends(text: str, i: int) -> bool:
    return i >= len(text) or text[i] in " \t\n;)"


def _scan_word(text: str, i: int, stop: str = " \t\n;|)(") -> int:
    """End of the shell word at i (quotes, `$(…)`, `${…}` and backquotes kept whole)."""
    while i < len(text) and text[i] not in stop:
        c = text[i]
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise Incomplete("unterminated quote")
            i = j + 1
        elif c == '"':
            i = _close_double(text, i + 1)
        elif c == "\\":
            i += 2
        elif c == "$" and text.startswith("(", i + 1):
            i = _close_paren(text, i + 2)
        elif c == "$" and text.startswith("{", i + 1):
            j = text.find("}", i + 2)
            if j < 0:
                raise Incomplete("unterminated ${")
            i = j + 1
        elif c == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise Incomplete("unterminated backquote")
            i = j + 1
        else:
            i += 1
    return i


def _close_double(text: str, i: int) -> int:
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"':
            return i + 1
        elif text[i] == "$" and text.startswith("(", i + 1):
            i = _close_paren(text, i + 2)
        else:
            i += 1
    raise Incomplete("unterminated quote")


def _close_paren(text: str, i: int) -> int:
    depth = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            i = _close_double(text, i + 1)
            continue
        if c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise Incomplete("unterminated quote")
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise Incomplete("unterminated $(")


def _patterns(text: str, i: int) -> tuple[tuple[str, ...], int]:
    out: list[str] = []
    while True:
        i = _skip_space(text, i)
        end = _scan_word(text, i)
        if end == i:
            raise NotUnderstood("an empty case pattern")
        out.append(text[i:end])
        i = _skip_space(text, end)
        if i < len(text) and text[i] == "|":
            i += 1
            continue
        if i < len(text) and text[i] == ")":
            return tuple(out), i + 1
        raise NotUnderstood("a case pattern without `)`")


def _body(text: str, i: int) -> tuple[str, int, bool]:
    """The command list of an arm, up to its unquoted `;;` (True) or the `esac` that ends it (False)."""
    start = i
    at_command = True
    while i < len(text):
        c = text[i]
        if text.startswith(";;&", i) or (text.startswith(";&", i)):
            raise NotUnderstood("bash's `;&` / `;;&` case terminators")
        if text.startswith(";;", i):
            return text[start:i].strip(), i + 2, True
        if c in " \t":
            i += 1
            continue
        if c in ";\n|&":
            at_command = True
            i += 1
            continue
        if at_command and re.match(r"(case|esac)(\s|;|$)", text[i:]):
            if text.startswith("esac", i):
                return text[start:i].strip(), i, False
            raise NotUnderstood("a nested case")
        at_command = False
        end = _scan_word(text, i, stop=" \t\n;|&")
        i = max(end, i + 1)
    raise Incomplete("no `;;` or `esac`")


def pattern_regex(pattern: str, expand: object) -> re.Pattern[str]:
    """A POSIX case pattern as a regex: quoted parts (after expansion in double quotes) match
    literally; unquoted `*`, `?`, `[…]` are globs; `\\c` is c. `expand` is the shell's expansion of
    double-quoted text. An unquoted `$` (its expansion would be a pattern) is not understood."""
    assert callable(expand)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "'":
            j = pattern.index("'", i + 1)
            out.append(re.escape(pattern[i + 1:j]))
            i = j + 1
        elif c == '"':
            j = _close_double(pattern, i + 1)
            out.append(re.escape(str(expand(pattern[i + 1:j - 1]))))
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "*":
            out.append(".*")
            i += 1
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 2)
            body = pattern[i + 1:j] if j > 0 else ""
            if j < 0 or not re.fullmatch(r"!?[A-Za-z0-9_./-]+", body):
                raise NotUnderstood(f"the bracket expression in case pattern {pattern!r}")
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + re.sub(r"([\\\]^])", r"\\\1", body) + "]")
            i = j + 1
        elif c in "$`":
            raise NotUnderstood(f"an expansion in the unquoted case pattern {pattern!r}")
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.S)
