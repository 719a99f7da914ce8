"""The one wrapper both adapters use to turn library exceptions into typed errors."""

from __future__ import annotations

import pytest

from migrate.core.adapter_errors import wrap_public_methods


class Typed(Exception):
    pass


def convert(name: str, exc: BaseException) -> BaseException | None:
    return Typed(f"{name}: {type(exc).__name__}") if isinstance(exc, ConnectionError) else None


class Adapter:
    def read(self, fail: BaseException | None = None) -> str:
        if fail is not None:
            raise fail
        return "ok"

    def _private(self) -> None:
        raise ConnectionError("inside")

    @staticmethod
    def helper() -> None:
        raise ConnectionError("static")


wrap_public_methods(Adapter, convert)


def test_a_converted_failure_becomes_the_typed_error_naming_the_call_without_the_library_chain() -> None:
    with pytest.raises(Typed, match="^read: ConnectionError$") as caught:
        Adapter().read(ConnectionError("secret request data"))
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_anything_else_propagates_unchanged_so_the_cli_can_call_it_a_bug() -> None:
    bug = KeyError("bug")
    with pytest.raises(KeyError) as caught:
        Adapter().read(bug)
    assert caught.value is bug
    assert Adapter().read() == "ok"


def test_private_and_static_members_are_left_alone() -> None:
    with pytest.raises(ConnectionError):
        Adapter()._private()
    with pytest.raises(ConnectionError):
        Adapter.helper()
