"""The vocabulary of the fact schema: fact types, their fields, and the number form.

Each fact type is declared (:class:`FactType`) in the module that builds its facts, so
the declaration and the builder cannot drift; :func:`cdss.derive.schema.fact_types`
collects them. A fact is a flat dict; :meth:`FactType.make` builds it and refuses a
field the type does not declare or a value of the wrong kind.

Numbers in facts have one normal form (:func:`normal_number`), read alike by every
backend and by the evidence: at most :data:`NUMBER_DECIMALS` decimals, and never a
number that JSON writes with an exponent (such a value is left out of the fact, as if
absent: no engine can compare it exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["number", "string", "bool", "list"]
Fact = dict[str, Any]

#: decimals a number in a fact keeps
NUMBER_DECIMALS = 4
#: the magnitude from which a number is left out of a fact: Python's JSON writes
#: 1e16 and above with an exponent, which durable-rules cannot read (its error 204)
NUMBER_LIMIT = 1e15


def normal_number(value: float) -> float | None:
    """A float in the facts' normal form: rounded to :data:`NUMBER_DECIMALS` decimals,
    positive zero for zero, None (left out) from :data:`NUMBER_LIMIT`."""
    value = round(value, NUMBER_DECIMALS)
    if abs(value) >= NUMBER_LIMIT:
        return None
    return value + 0.0


@dataclass(frozen=True)
class FieldSpec:
    """One fact field: its value kind, display unit and input path."""

    kind: Kind
    #: where the value comes from, relative to the fact's path ("" = the fact path itself)
    source: str
    unit: str = ""
    #: evidence shows this other field's value (a flag is explained by what it flags)
    shows: str | None = None
    #: vocabulary a literal compared with this field must belong to (checked by lint)
    vocabulary: Literal["drug_key", "condition_group", "analyte", None] = None
    description: str = ""
    #: the field is context, not a measurement ("is it already diagnosed?", "was the
    #: glucose fasting?"): a finding that holds only for some of its values is still
    #: reported, as conditional on it (cdss.reasoning)
    context: bool = False


@dataclass(frozen=True)
class Headline:
    """The field that always heads the evidence of a fact a rule matched (the drug of a
    prescription, the text of a symptom), with an optional condition label filled from
    the fact (``"names {key}"``)."""

    field: str
    condition: str | None = None


#: the Python types a value of each kind may have (bool is not a number)
_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float), "string": (str,), "bool": (bool,), "list": (list,)}


@dataclass(frozen=True)
class FactType:
    """A kind of fact; ``many`` facts of a type may exist per encounter."""

    name: str
    many: bool
    fields: dict[str, FieldSpec]
    description: str
    headline: Headline | None = None

    def make(self, fact_id: str, values: dict[str, Any]) -> Fact:
        """The fact ``{"t", "id", field: value ...}``: absent (None) values left out,
        numbers in their normal form, lists copied.

        :raises ValueError: a field this type does not declare, or a value of another
            kind (a builder out of step with its declaration).
        """
        fact: Fact = {"t": self.name, "id": fact_id}
        for key, value in values.items():
            if value is None:
                continue
            spec = self.fields.get(key)
            if spec is None:
                raise ValueError(f"fact {self.name!r} has no field {key!r}")
            if not isinstance(value, _KIND_TYPES[spec.kind]) or (
                    spec.kind == "number" and isinstance(value, bool)):
                raise ValueError(f"{self.name}.{key} is a {spec.kind}, not "
                                 f"{type(value).__name__} {value!r}")
            if type(value) is float:
                value = normal_number(value)
                if value is None:
                    continue
            elif isinstance(value, list):
                value = list(value)
            fact[key] = value
        return fact


def field(kind: Kind, source: str, unit: str = "", **kw: Any) -> FieldSpec:
    """Shorthand of :class:`FieldSpec` for declarations."""
    return FieldSpec(kind, source, unit, **kw)
