"""Request-body validation against the discovery documents shipped in google-api-python-client.

The real APIs parse JSON bodies with the protobuf JSON parser: an unknown field or a value of the
wrong type is a 400 INVALID_ARGUMENT naming the field by its proto (snake_case) path, e.g.
`Invalid JSON payload received. Unknown name "x" at 'workload_identity_pool': Cannot find field.`
Both the JSON (camelCase) and the proto (snake_case) spelling of a field are accepted; `null`
means "unset". We load the same schemas the client uses (`discovery_cache/documents/*.json`), so a
field the tool sends that the real API would reject is rejected here too.

`validate()` returns a normalised copy of the body (camelCase keys, nulls dropped) so handlers
never see the snake_case spelling.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from migrate.sandbox.google.errors import GoogleApiError, bad_request

_PROTO_TYPE: dict[tuple[Any, Any], str] = {
    ("string", None): "TYPE_STRING", ("boolean", None): "TYPE_BOOL", ("integer", "int32"): "TYPE_INT32",
    ("integer", "uint32"): "TYPE_UINT32", ("string", "int64"): "TYPE_INT64",
    ("string", "uint64"): "TYPE_UINT64", ("number", "double"): "TYPE_DOUBLE",
    ("number", "float"): "TYPE_FLOAT",
}


@functools.cache
def document(api: str, version: str) -> dict[str, Any]:
    """The discovery document bundled with the installed google-api-python-client."""
    path = resources.files("googleapiclient") / "discovery_cache" / "documents" / f"{api}.{version}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class _Violations:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.items.append((field, message))


def validate(api: str, version: str, schema: str, body: Any, at: str = "") -> dict[str, Any]:
    """Check `body` against `schema`; `at` is the proto name of the body field ('' = root).

    Raises GoogleApiError(400 INVALID_ARGUMENT) listing every violation, as the real API does.
    """
    doc = document(api, version)
    violations = _Violations()
    if not isinstance(body, dict):
        msg = f"Invalid JSON payload received. Expected an object{_at(at)}."
        raise GoogleApiError(400, msg, "INVALID_ARGUMENT", [bad_request([(at, msg)])])
    out = _object(doc, doc["schemas"][schema], body, at, violations)
    if violations.items:
        message = "\n".join(m for _, m in violations.items)
        raise GoogleApiError(400, message, "INVALID_ARGUMENT", [bad_request(violations.items)])
    return out


def _at(path: str) -> str:
    return f" at '{path}'" if path else ""


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object(doc: dict[str, Any], schema: dict[str, Any], value: dict[str, Any], path: str,
            v: _Violations) -> dict[str, Any]:
    props: dict[str, Any] = schema.get("properties", {})
    by_name = {k: k for k in props}
    by_name.update({snake(k): k for k in props})
    out: dict[str, Any] = {}
    for key, item in value.items():
        json_name = by_name.get(key)
        if json_name is None:
            v.add(path, f'Invalid JSON payload received. Unknown name "{key}"{_at(path)}: Cannot find field.')
            continue
        if item is None:
            continue
        out[json_name] = _value(doc, props[json_name], item, _join(path, snake(json_name)), v)
    return out


def _value(doc: dict[str, Any], schema: dict[str, Any], item: Any, path: str, v: _Violations) -> Any:
    ref = schema.get("$ref")
    if ref:
        target = doc["schemas"][ref]
        if not isinstance(item, dict):
            v.add(path, f"Invalid value at '{path}' ({ref}), {json.dumps(item)}")
            return item
        if target.get("type") == "any" or ref == "Empty":
            return item
        return _object(doc, target, item, path, v)
    kind = schema.get("type")
    if kind == "array":
        if not isinstance(item, list):
            item = [item]  # the proto JSON parser accepts a single value for a repeated field
        return [_value(doc, schema.get("items", {}), x, f"{path}[{i}]", v) for i, x in enumerate(item)]
    if kind == "object":
        if not isinstance(item, dict):
            v.add(path, f"Invalid value at '{path}' (TYPE_MESSAGE), {json.dumps(item)}")
            return item
        extra = schema.get("additionalProperties")
        if extra is None:
            return item
        return {k: _value(doc, extra, x, f"{path}[{k}]", v) for k, x in item.items()}
    return _scalar(schema, item, path, v)


def _scalar(schema: dict[str, Any], item: Any, path: str, v: _Violations) -> Any:
    kind, fmt = schema.get("type"), schema.get("format")
    proto = _PROTO_TYPE.get((kind, fmt)) or _PROTO_TYPE.get((kind, None), "TYPE_STRING")
    ok = True
    if kind == "boolean":
        ok = isinstance(item, bool)
    elif kind == "integer" or fmt in ("int64", "uint64"):
        ok = (isinstance(item, int) and not isinstance(item, bool)) or (
            isinstance(item, str) and re.fullmatch(r"-?\d+", item) is not None)
    elif kind == "number":
        ok = isinstance(item, int | float) and not isinstance(item, bool)
    elif kind == "string":
        ok = isinstance(item, str) or (bool(schema.get("enum")) and isinstance(item, int)
                                       and not isinstance(item, bool))  # enum-encoding=int
        if ok and isinstance(item, str) and schema.get("enum"):
            ok = item in schema["enum"]
            if not ok:
                v.add(path, f"Invalid value at '{path}' (type.googleapis.com/enum), \"{item}\"")
                return item
    elif kind == "any":
        return item
    if not ok:
        v.add(path, f"Invalid value at '{path}' ({proto}), {json.dumps(item)}")
    return item
