"""One way for an adapter to turn its library's exceptions into the tool's typed errors.

Both adapters (GitLab, Google) promise the same thing: inside any public method, a failure of the
transport or of the credentials becomes a typed, expected per-item error naming the call, never a
bare library exception that the CLI would have to call a bug (exit 3). What differs is only the
conversion, so each adapter passes its own `convert(name, exc)`; the wrapping of every public method
lives here once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C", bound=type)

Converter = Callable[[str, BaseException], BaseException | None]


def wrap_public_methods(cls: C, convert: Converter) -> C:
    """Wrap every public plain method of `cls`: an exception for which `convert(name, exc)` returns
    an error is re-raised as that error (without the library's chain, which can carry request data);
    any other exception propagates unchanged."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or isinstance(member, (staticmethod, classmethod, property)) or not callable(member):
            continue
        setattr(cls, name, _converting(name, member, convert))
    return cls


def _converting(name: str, method: Callable[..., Any], convert: Converter) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised unchanged unless the adapter converts it
            converted = convert(name, exc)
            if converted is None:
                raise
            raise converted from None
    return wrapper
