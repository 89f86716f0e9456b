"""Validate resources with fhir.resources (R4B models), after reading older forms.

The R4B models of fhir.resources are the R4 models for the resources cdss reads
(docs/fhir.md); the only leniency is for two older forms EMRs still send: a
``Dosage.doseQuantity`` directly on the dosage (STU3) and ``doseAndRate`` as one
object instead of a list. Both are rewritten to R4 before validation, with a note.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import ValidationError

from cdss.fhir.result import Problem


@cache
def _models() -> Any:
    try:
        from fhir.resources import R4B
    except ImportError as exc:  # the optional extra is not installed
        raise ImportError("cdss.fhir needs fhir.resources: pip install 'cdss[fhir]'") from exc
    return R4B


def upgrade(resource: dict[str, Any], path: str) -> tuple[dict[str, Any], list[Problem]]:
    """The resource with older dosage forms rewritten to R4, and a note for each."""
    if resource.get("resourceType") != "MedicationRequest" or not isinstance(
            resource.get("dosageInstruction"), list):
        return resource, []
    resource = copy.deepcopy(resource)
    notes: list[Problem] = []
    for i, dosage in enumerate(resource["dosageInstruction"]):
        if not isinstance(dosage, dict):
            continue
        here = f"{path}.dosageInstruction[{i}]"
        if isinstance(dosage.get("doseAndRate"), dict):
            dosage["doseAndRate"] = [dosage["doseAndRate"]]
            notes.append(Problem(f"{here}.doseAndRate", "one object read as a list of one"))
        for key in ("doseQuantity", "doseRange", "rateQuantity", "rateRatio", "rateRange"):
            if key in dosage and "doseAndRate" not in dosage:
                dosage["doseAndRate"] = [{}]
            if key in dosage:
                dosage["doseAndRate"][0].setdefault(key, dosage.pop(key))
                notes.append(Problem(f"{here}.{key}", "older (STU3) form read as "
                                                      f"doseAndRate[0].{key}"))
    return resource, notes


def validate(resource: dict[str, Any], path: str) -> list[Problem]:
    """Errors of ``resource`` against its R4B model, each named by its FHIR path."""
    try:
        model = _models().get_fhir_model_class(resource["resourceType"])
    except (KeyError, ValueError):
        return [Problem(f"{path}.resourceType", f"unknown resource type "
                                                f"{resource.get('resourceType')!r}")]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [Problem(_join(path, err["loc"]), _message(err)) for err in exc.errors()]
    except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        return [Problem(path, f"cannot be read ({type(exc).__name__})")]
    return []


def _join(path: str, loc: tuple[Any, ...]) -> str:
    out = path
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or "[" in str(part):
            continue
        else:
            out += f".{part}"
    return out


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")
