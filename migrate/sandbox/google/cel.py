"""CEL for attribute mappings, attribute conditions and IAM conditions (cel-python).

Google evaluates a provider's `attributeMapping` values and `attributeCondition` as CEL over
`assertion` (the token's claims), `google` and `attribute`; IAM binding conditions see `request`
(`request.time`). Google adds the string method `extract('prefix{name}suffix')`, which returns the
part of the string matched by `{name}` ('' when the template does not match): we add it too.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import celpy
from celpy import celtypes

_IDENT = re.compile(r"\b(assertion|attribute|google)\b")
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


class CelError(Exception):
    """An expression that does not compile or cannot be evaluated."""


def _extract(value: Any, template: Any) -> celtypes.StringType:
    text, tmpl = str(value), str(template)
    m = re.fullmatch(r"(.*?)\{[a-zA-Z_][a-zA-Z0-9_]*\}(.*)", tmpl, flags=re.S)
    if m is None:
        return celtypes.StringType("")
    prefix, suffix = m.group(1), m.group(2)
    pattern = re.escape(prefix) + ("(.*?)" + re.escape(suffix) if suffix else "(.*)")
    found = re.search(pattern, text, flags=re.S)
    return celtypes.StringType(found.group(1) if found else "")


_FUNCTIONS: dict[str, Any] = {"extract": _extract}


@functools.lru_cache(maxsize=512)
def compile_expr(expr: str) -> Any:
    """A runnable program; raises CelError on a syntax error."""
    env = celpy.Environment()
    try:
        ast = env.compile(expr)
    except Exception as exc:  # celpy raises CELParseError and friends
        raise CelError(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None
    return env.program(ast, functions=_FUNCTIONS)


def evaluate(expr: str, activation: dict[str, Any]) -> Any:
    """Evaluate and convert the result to plain Python; raises CelError on evaluation errors."""
    program = compile_expr(expr)
    cel_activation = {k: v if isinstance(v, celtypes.TimestampType) else celpy.json_to_cel(v)
                      for k, v in activation.items()}
    try:
        result = program.evaluate(cel_activation)
    except Exception as exc:
        raise CelError(str(exc)) from None
    if isinstance(result, Exception):
        raise CelError(str(result))
    return to_python(result)


def to_python(value: Any) -> Any:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    return value


def references_claims(expr: str) -> bool:
    """Does the expression read `assertion`, `attribute` or `google` (outside string literals)?"""
    return _IDENT.search(_STRINGS.sub("''", expr)) is not None


def timestamp(t: datetime) -> celtypes.TimestampType:
    return celtypes.TimestampType(t)
