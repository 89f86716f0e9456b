"""The facts of one encounter and their bookkeeping, and the context builders share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cdss.derive.facttype import IDS_MADE, Fact, FactType, fact_value
from cdss.derive.values import Derived
from cdss.kb import KnowledgeBase
from cdss.kb.schema import Drug
from cdss.models import Encounter


@dataclass
class FactSet:
    """The facts of one encounter, and what is needed to explain them."""

    facts: list[Fact] = field(default_factory=list)
    #: fact id -> input path of the fact ("prescriptions[0]", "vitals")
    paths: dict[str, str] = field(default_factory=dict)
    #: (fact id, field) -> input path, where it differs from path + field source
    field_paths: dict[tuple[str, str], str] = field(default_factory=dict)
    derived: dict[str, Derived] = field(default_factory=dict)
    #: "type.field" -> the input paths whose absence left it missing
    missing: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: (fact id, list field) -> the items known to be in a list that is absent because
    #: the rest of it was not sent (a problem list not sent, a drug implying diabetes)
    partial: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict)
    #: fact id -> what the fact is about, where its input path does not tell facts apart
    #: (every follow-up programme's fact comes from history.followups)
    subjects: dict[str, str] = field(default_factory=dict)
    #: (fact id, field) -> how a value the record did not state was inferred:
    #: [{"value", "from", "zh", "en"}]
    inferred: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[dict[str, str]] = field(default_factory=list)
    #: (fact id, field) -> the input values that would make the field's finding clear,
    #: where the field is a verdict computed from them (a follow-up's "not controlled":
    #: [{"field": "vitals.sbp", "op": "<", "value": 140, "unit": "mmHg", "now": 152}])
    clears: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, t: FactType | str, path: str, values: dict[str, Any]) -> Fact:
        """A new fact of type ``t`` from input ``path``: made by its declaration
        (:meth:`FactType.make`, fields checked); a type given by name alone (a test's
        own fact) only has its values put in their normal form."""
        if type(t) is FactType:
            name = t.name
            counts = self._counts
            n = counts.get(name, 0)
            counts[name] = n + 1
            # = f"{name}#{n}" (t.fact_id(n), inlined: every fact of every encounter)
            fact_id = t.ids[n] if n < IDS_MADE else f"{name}#{n}"
            fact = t.extend({"t": name, "id": fact_id}, values)  # = t.make(...)
            self.facts.append(fact)
            self.paths[fact_id] = path
            return fact
        else:
            name = t.name if isinstance(t, FactType) else t
            n = self._counts.get(name, 0)
            self._counts[name] = n + 1
            if isinstance(t, FactType):
                fact = t.make(f"{name}#{n}", values)
            else:
                fact = {"t": name, "id": f"{name}#{n}"}
                fact.update((k, v) for k, v in ((k, fact_value(v)) for k, v in values.items())
                            if v is not None)
        self.facts.append(fact)
        self.paths[fact["id"]] = path
        return fact

    def add_joined(self, t: FactType, path: str, values: dict[str, Any],
                   *joined: dict[str, Any]) -> Fact:
        """:meth:`add` of ``values`` followed by each of ``joined``, fields already made
        by :meth:`FactType.normal` (worked out once, from the knowledge): the same fact
        as ``add(t, path, {**values, **joined[0], ...})`` when they share no field."""
        fact = self.add(t, path, values)
        for made in joined:
            fact.update(made)
        return fact

    def add_made(self, t: FactType, path: str, *made: dict[str, Any]) -> Fact:
        """A new fact of type ``t`` from input ``path`` whose fields are all made already:
        each of ``made`` in its normal form and of its declared kind (:meth:`FactType.normal`
        of it, or a prescription index, an int), none None, no field twice. The same fact as
        ``add(t, path, {**made[0], ...})``, without checking each value again."""
        name = t.name
        counts = self._counts
        n = counts.get(name, 0)
        counts[name] = n + 1
        fact_id = t.ids[n] if n < IDS_MADE else f"{name}#{n}"
        fact = {"t": name, "id": fact_id}
        for fields in made:
            fact.update(fields)
        self.facts.append(fact)
        self.paths[fact_id] = path
        return fact

    def of_type(self, t: str) -> list[Fact]:
        return [f for f in self.facts if f["t"] == t]

    def note(self, field_path: str, message_en: str, message_zh: str) -> None:
        self.notes.append({"field": field_path, "message": message_en, "message_zh": message_zh})


@dataclass
class Context:
    """What the builders of one encounter's facts share: the input, the engine's
    knowledge, the facts so far, and values one builder works out for the next."""

    enc: Encounter
    kb: KnowledgeBase
    fs: FactSet = field(default_factory=FactSet)
    #: completed years at the visit (None when unknown)
    age: int | None = None
    #: plausible weight and height (None when absent or withheld)
    weight: float | None = None
    height: float | None = None
    #: condition groups known for the patient (problem list, diagnoses, implied)
    problem_groups: list[str] = field(default_factory=list)
    #: the vitals fact's values (implausible ones withheld)
    vitals: dict[str, Any] = field(default_factory=dict)
    vitals_fact: Fact = field(default_factory=dict)
    #: latest plausible lab values, canonical units, by analyte code
    lab_values: dict[str, float] = field(default_factory=dict)
    #: prescription index -> the drugs it gives (:func:`cdss.derive.products.decomposed`:
    #: worked out once per encounter, read by several builders)
    decomposed: dict[int, Any] = field(default_factory=dict)
    #: answers of the knowledge for this encounter's own texts, worked out once per
    #: encounter (never kept beyond it: issue #12): drug name -> drug, code -> groups
    _drugs: dict[str, Drug | None] = field(default_factory=dict, repr=False)
    _groups: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def drug_named(self, name: str) -> Drug | None:
        """:meth:`KnowledgeBase.resolve_drug` of ``name``, once per encounter."""
        drugs = self._drugs
        if name in drugs:
            return drugs[name]
        found = drugs[name] = self.kb.resolve_drug(name)
        return found

    def groups_of(self, code: str) -> tuple[str, ...]:
        """:meth:`KnowledgeBase.groups_of` of ``code``, once per encounter."""
        found = self._groups.get(code)
        if found is None:
            found = self._groups[code] = self.kb.groups_of(code)
        return found
