"""The who-can-impersonate simulation as it was before token classes, kept as the reference the
class-based `migrate.plan.impersonation.simulate` must agree with: `reference_simulate` evaluates
every CEL program with cel-python on every token and parses every member for every token. Used by
the token-class tests and the plan-equivalence test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import celpy

from migrate.plan import token_classes
from migrate.plan.federation_design import SUBJECT_MAX_BYTES, ProviderDesign, parse_member
from migrate.plan.impersonation import (
    Exposure,
    Impersonation,
    Mapped,
    TokenCase,
    Verdict,
    _audience_ok,
    exposure_admits,
)

_COMPILED: dict[tuple[str, ...], tuple[dict[str, Any], Any]] = {}


def reference_mapped(design: ProviderDesign, claims: Mapping[str, Any]) -> Mapped:
    key = (design.attribute_condition, *sorted(design.attribute_mapping.items()))  # type: ignore[arg-type]
    if key not in _COMPILED:
        env = celpy.Environment()
        _COMPILED[key] = ({k: env.program(env.compile(v)) for k, v in design.attribute_mapping.items()},
                          env.program(env.compile(design.attribute_condition)))
    mapping, condition = _COMPILED[key]
    assertion = celpy.json_to_cel(dict(claims))
    attributes: dict[str, Any] = {}
    subject: str | None = None
    for key, program in mapping.items():
        try:
            value = token_classes.plain(program.evaluate({"assertion": assertion}))
        except Exception as exc:  # noqa: BLE001
            return Mapped(False, f"mapping {key} does not evaluate: {str(exc.args[0])[:120] if exc.args else exc}")
        if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            return Mapped(False, f"mapped attribute {key} is a {type(value).__name__}, not a string: "
                                 "STS refuses the token")
        if key == "google.subject":
            subject = str(value)
        elif key.startswith("attribute."):
            attributes[key[len("attribute."):]] = value
    if subject is None:
        return Mapped(False, "the mapping has no google.subject")
    if len(subject.encode("utf-8")) > SUBJECT_MAX_BYTES:
        return Mapped(False, f"google.subject is {len(subject.encode())} bytes (limit {SUBJECT_MAX_BYTES})",
                      subject, attributes)
    ok = bool(condition.evaluate({"assertion": assertion, "attribute": celpy.json_to_cel(attributes),
                                  "google": celpy.json_to_cel({"subject": subject})}))
    if not ok:
        return Mapped(False, "rejected by the attribute condition", subject, attributes)
    return Mapped(True, "accepted", subject, attributes)


def reference_admit(pool: str, members: Sequence[str], mapped: Mapped) -> str | None:
    if not mapped.accepted:
        return None
    for text in members:
        p = parse_member(text)
        if p.kind == "other" or p.pool != pool:
            continue
        if p.kind == "pool":
            return text
        if p.kind == "subject" and mapped.subject == p.value:
            return text
        if p.kind == "attribute":
            value = mapped.attributes.get(p.name)
            values = value if isinstance(value, list) else [value]
            if p.value in [str(v) for v in values if v is not None]:
                return text
    return None


def reference_simulate(design: ProviderDesign, bindings: Mapping[str, Sequence[str]],
                       exposures: Mapping[str, Sequence[Exposure]],
                       cases: Sequence[TokenCase], definitions: Sequence[Any] = ()) -> tuple[Impersonation, ...]:
    from migrate.ci.variables import Place

    allowed = set(design.allowed_audiences)
    mapped = [reference_mapped(design, c.claims) if _audience_ok(c.claims, allowed)
              else Mapped(False, f"audience {c.claims.get('aud')!r} is not allowed by the provider") for c in cases]
    out = []
    for sa in sorted(set(bindings) | set(exposures)):
        verdicts = []
        for case, m in zip(cases, mapped, strict=True):
            exp = next((e for e in exposures.get(sa, ()) if exposure_admits(e, case, _for_place(
                definitions, e.name, Place(int(case.claims.get("project_id") or 0), case.project,
                                           case.ancestor_ids)))), None)
            admitted = reference_admit(design.pool_name, bindings.get(sa, ()), m)
            verdicts.append(Verdict(case.label, exp is not None, admitted is not None,
                                    why_before=f"reads {exp.variable}" if exp else "",
                                    why_after=f"admitted by {admitted}" if admitted else m.reason
                                    if not m.accepted else "no binding admits it", adversarial=case.adversarial))
        out.append(Impersonation(sa, tuple(verdicts)))
    return tuple(out)


def _for_place(definitions: Sequence[Any], name: str, place: Any) -> list[Any]:
    from migrate.ci.variables import DefinitionIndex

    return DefinitionIndex(definitions).for_place(name, place) if definitions else []
