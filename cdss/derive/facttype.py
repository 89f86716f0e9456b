"""The vocabulary of the fact schema: fact types, their fields, and the number form.

Each fact type is declared (:class:`FactType`) in the module that builds its facts, so
the declaration and the builder cannot drift; :func:`cdss.derive.schema.fact_types`
collects them. A fact is a flat dict; :meth:`FactType.make` builds it and refuses a
field the type does not declare or a value of the wrong kind.

Values in facts have one normal form (:func:`fact_value`), read alike by every backend
and by the evidence: a number keeps at most :data:`FACT_DECIMALS` decimals, and a number
that JSON would write with an exponent is no fact (the field is left absent: no backend
could compare it exactly). It is a property of the fact schema, not of any backend.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["number", "string", "bool", "list"]
Fact = dict[str, Any]

#: decimals a fact keeps of a number (the fact schema's normal form)
FACT_DECIMALS = 4
#: numbers at or beyond this size are no fact: JSON would write them with an exponent
FACT_NUMBER_LIMIT = 1e15
#: facts of one type per encounter whose ids each type keeps made (:attr:`FactType.ids`)
IDS_MADE = 32


def round_to(value: float, ndigits: int) -> float:
    """``round(value, ndigits)`` (``ndigits`` >= 0) without its decimal conversion for a
    whole float, which it returns as it is (and which round() returns unchanged: a whole
    number has no digits to round; 20x faster, issue #17)."""
    if type(value) is float and value.is_integer():
        return value
    return round(value, ndigits)


def fact_value(value: Any) -> Any:
    """A value in the fact schema's normal form, which every backend and the evidence
    read alike: a float to :data:`FACT_DECIMALS` decimals (so a backend never sees a
    number the others round differently), None (the field left absent) for one JSON
    cannot write without an exponent; a list copied; anything else as it is."""
    if type(value) is float:
        if not value.is_integer():  # a whole float is its own rounding (round_to)
            value = round(value, FACT_DECIMALS)
        if abs(value) >= FACT_NUMBER_LIMIT:
            return None
        return value + 0.0
    if isinstance(value, list):
        return list(value)
    return value


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
    #: what a pattern demands of this field when its condition does not name it
    #: (``rx_key.at_dose``: a dose-dependent class holds only at its dose); None: nothing
    implied: Any = None


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
        values in their normal form (:func:`fact_value`).

        :raises ValueError: a field this type does not declare, or a value of another
            kind (a builder out of step with its declaration).
        """
        return self.extend({"t": self.name, "id": fact_id}, values)

    def extend(self, fact: Fact, values: dict[str, Any]) -> Fact:
        """``fact`` with ``values`` added as :meth:`make` adds them (each field alone,
        in order: checked, None left out, in its normal form); returns ``fact``."""
        exact, numbers = self._exact, self._numbers
        for key, value in values.items():
            tv = type(value)
            # the common cases first: a type passed on as it is (str of a string field,
            # int of a number, bool of a bool), then a float of a number field
            if tv is exact.get(key):
                fact[key] = value
            elif tv is float and key in numbers:
                if not value.is_integer():  # a whole float is its own rounding (round_to)
                    value = round(value, FACT_DECIMALS)
                if abs(value) < FACT_NUMBER_LIMIT:
                    fact[key] = value + 0.0
            elif tv is list and key in self._lists:  # a copy, as fact_value makes
                fact[key] = list(value)
            elif value is not None:
                self._checked(fact, key, value)
        return fact

    def _checked(self, fact: Fact, key: str, value: Any) -> None:
        """:meth:`extend` of one value of no common type: checked, in its normal form.

        :raises ValueError: a field this type does not declare, or a value of another kind.
        """
        kind = self._kinds.get(key)
        if kind is None:
            raise ValueError(f"fact {self.name!r} has no field {key!r}")
        if not isinstance(value, _KIND_TYPES[kind]) or (
                kind == "number" and isinstance(value, bool)):
            raise ValueError(f"{self.name}.{key} is a {kind}, not "
                             f"{type(value).__name__} {value!r}")
        value = fact_value(value)
        if value is not None:
            fact[key] = value

    def normal(self, values: dict[str, Any]) -> dict[str, Any]:
        """The fields of :meth:`make` alone (no ``t``, ``id``): checked and in their
        normal form, for a part of a fact worked out once (from the knowledge) and
        joined to many facts. ``make(id, {**a, **b})`` equals ``make(id, a)`` updated
        with ``normal(b)`` when ``a`` and ``b`` share no field: each field is made
        alone, in order."""
        return self.extend({}, values)

    @functools.cached_property
    def ids(self) -> tuple[str, ...]:
        """The ids of this type's first :data:`IDS_MADE` facts of an encounter
        (``"rx_key#0"``, ``"rx_key#1"``...), made once per type instead of once per fact
        (issue #17); a later fact's id is made as it comes (:meth:`fact_id`)."""
        return tuple(f"{self.name}#{n}" for n in range(IDS_MADE))

    def fact_id(self, n: int) -> str:
        """The id of this type's fact number ``n`` (from 0) in an encounter."""
        return self.ids[n] if n < IDS_MADE else f"{self.name}#{n}"

    @functools.cached_property
    def _numbers(self) -> frozenset[str]:
        """The number fields."""
        return frozenset(key for key, spec in self.fields.items() if spec.kind == "number")

    @functools.cached_property
    def _lists(self) -> frozenset[str]:
        """The list fields."""
        return frozenset(key for key, spec in self.fields.items() if spec.kind == "list")

    @functools.cached_property
    def _exact(self) -> dict[str, type]:
        """Field -> the one type a value of it keeps as it is (str of a string, int of
        a number, bool of a bool); a float or list is put in its normal form."""
        passed = {"string": str, "number": int, "bool": bool}
        return {key: passed[spec.kind] for key, spec in self.fields.items()
                if spec.kind in passed}

    @functools.cached_property
    def _kinds(self) -> dict[str, str]:
        """Field -> its kind (read once per fact type, not once per value)."""
        return {key: spec.kind for key, spec in self.fields.items()}


def field(kind: Kind, source: str, unit: str = "", **kw: Any) -> FieldSpec:
    """Shorthand of :class:`FieldSpec` for declarations."""
    return FieldSpec(kind, source, unit, **kw)
