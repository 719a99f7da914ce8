"""Guards on a key variable: a command line whose only effect is to fail the job when the key is
missing (issue 21). After the rewrite nothing reads the key, and `keys delete` removes the variable,
so a guard left behind would fail every job once the key is gone: it is removed with the key.

Only the forms whose effect is "fail (or stop) when the key is empty" are guards — a test that acts
when the key is *present* would behave differently while the variable still exists:

- `if [ -z "$K" ]; then echo "missing"; exit 1; fi` (also `[[ … ]]`, `test -z`, `! [ -n … ]`);
- `[ -z "$K" ] && { echo missing >&2; exit 1; }`, `[ -n "$K" ] || exit 1`, `test -n "$K" || …`;
- `[ -n "$K" ]` / `test -n "$K"` alone (a failing test fails the job: GitLab runs scripts with `-e`);
- `: "${K:?message}"` / `: "${K?}"` (the shell stops with the message when K is unset or empty).

The body may only print (`echo`, `printf`, to stderr or not) and then `exit`/`return`/`false`; it
never names the key variable with a `$` (a guard that prints the key is not a guard).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = r"\"?\$(?:\{@K@\}|@K@(?![A-Za-z0-9_]))\"?"
_SINGLE = r"\[\s+{neg}-{op}\s+" + _WORD + r"\s+\]"
_DOUBLE = r"\[\[\s+{neg}-{op}\s+" + _WORD + r"\s+\]\]"
_TEST = r"test\s+{neg}-{op}\s+" + _WORD
_PRINT = r"(?:(?:>&2\s+|1>&2\s+)?(?:echo|printf)\b[^;&|`$]*?(?:\s+[12]?>&[12])?)"
_STOP = r"(?:exit|return)(?:\s+-?\d+)?|false"
_BODY = rf"(?:{_PRINT}\s*;\s*)*(?:{_STOP})"
_GROUP = rf"(?:{_BODY}|\{{\s*{_BODY}\s*;?\s*\}})"


def _tests(op: str, negated: bool = False) -> str:
    neg = r"!\s+" if negated else ""
    def fill(form: str, neg: str, op: str) -> str:
        return form.replace("{neg}", neg).replace("{op}", op)

    forms = [fill(form, neg, op) for form in (_SINGLE, _DOUBLE, _TEST)]
    if not negated:
        forms += [r"!\s+" + fill(form, "", "n" if op == "z" else "z") for form in (_SINGLE, _DOUBLE, _TEST)]
    return "(?:" + "|".join(forms) + ")"


_EMPTY = _tests("z")  # true when the key is empty
_PRESENT = _tests("n")  # true when the key is present
_FORMS = (
    rf"if\s+{_EMPTY}\s*;\s*then\s+{_BODY}\s*;?\s*fi",
    rf"{_EMPTY}\s*&&\s*{_GROUP}",
    rf"{_PRESENT}\s*\|\|\s*{_GROUP}",
    rf"{_PRESENT}",
    r":\s+\"?\$\{@K@:?\?[^}$`]*\}\"?",
)


def _pattern(name: str) -> re.Pattern[str]:
    body = "|".join(f"(?:{form})" for form in _FORMS).replace("@K@", re.escape(name))
    return re.compile(rf"^\s*(?:{body})\s*;?\s*$", re.S)


_CACHE: dict[str, re.Pattern[str]] = {}


def guarded(text: str, keys: Iterable[str]) -> str | None:
    """The key variable a whole command line only guards (None: the line is not such a guard)."""
    if "$" not in text:
        return None
    for name in keys:
        if name not in text:
            continue
        pattern = _CACHE.get(name)
        if pattern is None:
            pattern = _CACHE[name] = _pattern(name)
        if pattern.match(text):
            return name
    return None
