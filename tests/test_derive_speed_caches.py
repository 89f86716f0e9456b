"""The speed-ups of ``build_facts`` (issue #17) never change a fact or a report.

What is worked out once per knowledge base (``KnowledgeBase.memo``: a drug's joined rx
fields, its dose limits by the codes that choose them, its keys' names, its rules'
fields, tier tables), once per encounter (drug names, ICD codes) or once per value
signature must give what the direct computation gives: a warm knowledge base and a cold
one build the same facts for every encounter, in any order; the shortcuts (a whole
float's rounding, a name without whitespace runs, a symptom key's plain-text probe) are
checked against the code they stand for.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import cdss
from cdss.derive import build_facts, joins
from cdss.derive.facttype import FACT_DECIMALS, FactType, field, round_to
from cdss.derive.prescriptions import RX, RX_KEY, _DrugKnowledge
from cdss.derive.products import Decomposed, Part
from cdss.derive.values import Derived, Missing
from cdss.kb import base as kb_base
from cdss.kb.schema import DosageUnit
from cdss.kb.symptoms import SymptomMatcher
from cdss.models.prescription import DoseUnit
from cdss.receipt import fixed_clock

from _encounters import encounter

TESTS = Path(__file__).resolve().parent
SAMPLES = sorted((Path(cdss.__file__).parent / "samples").glob("*.json"))
CLOCK = fixed_clock(datetime(2026, 12, 1, tzinfo=UTC))


def _panel() -> list[dict[str, Any]]:
    """The samples and every rule case's encounter."""
    out = [json.loads(p.read_text(encoding="utf-8")) for p in SAMPLES]
    for path in sorted((TESTS / "cases").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            out.append(encounter(case.get("encounter") or {}))
    return out


PANEL = _panel()
ENGINE = cdss.Engine(backend="compiled")
KB = ENGINE.kb


def _facts(fs: Any) -> str:
    """Everything a FactSet holds, key order included."""
    return repr((fs.facts, fs.paths, fs.field_paths, fs.derived, fs.missing, fs.partial,
                 fs.subjects, fs.inferred, fs.notes, fs.clears,
                 [[(k, type(v)) for k, v in f.items()] for f in fs.facts]))


def test_warm_knowledge_builds_the_facts_a_cold_one_builds() -> None:
    """Every encounter's facts from a knowledge base warmed by all the others (shuffled)
    equal those from a fresh one that has seen nothing else."""
    warm = cdss.Engine(backend="compiled")
    order = list(range(len(PANEL)))
    random.Random(17).shuffle(order)
    warmed: dict[int, str] = {}
    for i in order:
        try:
            parsed = warm.parse(PANEL[i])
        except Exception:
            continue
        warmed[i] = _facts(build_facts(parsed, warm.kb))
    assert len(warmed) > 400
    assert warm.kb.memo  # the tables were filled
    cold = cdss.Engine(backend="compiled")  # its memo emptied before each encounter
    for i in random.Random(3).sample(sorted(warmed), 200):
        cold.kb.memo.clear()
        assert _facts(build_facts(cold.parse(PANEL[i]), cold.kb)) == warmed[i], i


def test_warm_engine_reports_as_a_cold_one() -> None:
    """The reports themselves, both languages, after the caches have seen everything."""
    warm = cdss.Engine(backend="compiled", clock=CLOCK)
    for enc in PANEL:
        try:
            warm.check(enc)
        except Exception:
            continue
    cold = cdss.Engine(backend="compiled", clock=CLOCK)  # memo emptied before each check
    for path in SAMPLES:
        enc = json.loads(path.read_text(encoding="utf-8"))
        for lang in ("zh", "en"):
            cold.kb.memo.clear()
            a, b = warm.check(enc, lang=lang), cold.check(enc, lang=lang)
            assert a.to_json() == b.to_json(), path.name
            assert a.to_text() == b.to_text(), path.name


def test_memo_holds_knowledge_keys_only_and_is_bounded() -> None:
    """The knowledge base keeps no input text in its memo (issue #12), whatever names,
    routes, formulations and codes the prescriptions carry."""
    engine = cdss.Engine(backend="compiled")
    for i in range(200):
        engine.check({
            "id": f"e{i}", "time": "2026-11-20T09:30:00+08:00",
            "patient": {"id": "p", "sex": "male", "birth_date": "1956-02-01"},
            "record": {"diagnoses": [{"code": f"I10.{i}QZXJ"}]},
            "prescriptions": [
                {"drug": "amlodipine", "dose": "5 mg", "frequency": "qd",
                 "route": f"QZXJroute{i}", "formulation": f"QZXJ_form{i}"},
                {"drug": f"QZXJ药{i}片", "dose": "1 片", "frequency": "bid"}]})
    held = repr(engine.kb.memo)
    assert "QZXJ" not in held
    for name, table in engine.kb.memo.items():
        assert len(table) <= joins.KEPT, name
    knowledge = engine.kb.memo["rx_knowledge"]["amlodipine"][1]
    # one slice for every route that is none of the drug's, one for every formulation
    # that chooses no entry
    assert len(knowledge.slices) <= 2


def test_per_object_uses_an_entry_only_for_its_own_objects() -> None:
    kb = KB
    drug = kb.drugs["amlodipine"]
    other = drug.model_copy(update={"chronic": not drug.chronic})
    assert joins.per_object(kb, "t_test", drug.id, (drug,), lambda: 1) == 1
    assert joins.per_object(kb, "t_test", drug.id, (drug,), lambda: 2) == 1
    assert joins.per_object(kb, "t_test", drug.id, (other,), lambda: 3) == 3


def test_dose_limit_by_codes_equals_the_knowledge_base() -> None:
    """_DrugKnowledge.dose_limit (kept by route, formulation and dosage unit as the codes
    that choose an entry) gives KnowledgeBase.dose_limit for every drug, route, written
    formulation and unit, known or not."""
    kb = KB
    formulations = [None, "xyz", *kb.prescribing.modified_release,
                    *{d.formulation for drug in kb.drugs.values() for d in drug.doses}]
    for drug in list(kb.drugs.values()) + [d for p in kb.products.values()
                                            if (d := kb.label_drug(p)) is not None]:
        known = _DrugKnowledge(kb, drug)
        routes = [None, "nowhere", *{d.route for d in drug.doses}]
        for route in routes:
            for formulation in formulations:
                for unit in [None, *get_args(DoseUnit), *get_args(DosageUnit)]:
                    assert known.dose_limit(kb, drug, route, formulation, unit) == \
                        kb.dose_limit(drug, route, formulation, unit), (drug.id, route,
                                                                        formulation, unit)


@given(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0, 1, 2, 4]))
def test_round_to_is_round(x: float, n: int) -> None:
    got, want = round_to(x, n), round(x, n)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want and math.copysign(1, got) == math.copysign(1, want)


@pytest.mark.parametrize("x", [0.0, -0.0, 150.0, -3.0, 2.0 ** 52, 2.0 ** 53 + 2, 1e15, 1e22,
                               1e300, -1e300, 5e-324, 0.5, 44.5, 1.00005])
def test_round_to_edges(x: float) -> None:
    for n in (0, 1, 2, FACT_DECIMALS):
        assert repr(round_to(x, n)) == repr(round(x, n))


_SPACES = "".join(chr(c) for c in range(0x3100) if chr(c).isspace()) + "\u3000\u2028"


@given(st.text(alphabet=st.sampled_from(list("aB 氨氯地平片_-") + list(_SPACES)), max_size=12))
def test_name_normalisation_is_the_pattern(name: str) -> None:
    assert kb_base._norm(name) == re.sub(r"\s+", " ", name.strip().lower())


def test_joined_fields_make_the_fact_make_makes() -> None:
    """FactSet.add_joined / FactType.extend / normal: the fact of all values at once."""
    t = FactType("t_test", True, {"a": field("number", ""), "b": field("string", ""),
                                  "c": field("list", ""), "d": field("bool", "")}, "test")
    head = {"a": 1.23456789, "b": None}
    tail = {"c": [1, 2], "d": True}
    whole = t.make("t_test#0", {**head, **tail})
    made = t.extend(t.make("t_test#0", head), t.normal(tail))
    assert made == whole and list(made) == list(whole)
    assert whole == {"t": "t_test", "id": "t_test#0", "a": 1.2346, "c": [1, 2], "d": True}
    assert whole["c"] is not tail["c"]  # a list is copied
    for bad in ({"a": True}, {"b": 1.5}, {"d": 1}, {"e": 1}, {"a": "1"}):
        with pytest.raises(ValueError):
            t.make("x", bad)
    assert t.make("x", {"a": 1e16, "b": "s"}) == {"t": "t_test", "id": "x", "b": "s"}


def test_rx_names_are_the_part_names() -> None:
    from cdss.derive.prescriptions import _names
    kb = KB
    product = next(p for p in kb.products.values() if len(p.ingredients) > 1
                   and all(i.drug for i in p.ingredients))
    drug = kb.drugs[product.ingredients[0].drug]  # type: ignore[index]
    rx = ENGINE.parse({"id": "e", "time": "2026-11-20T09:30:00+08:00",
                       "patient": {"id": "p", "sex": "male"},
                       "prescriptions": [{"drug": "amlodipine"}]}).prescriptions[0]
    part = Part("prescriptions[0]", "prescriptions[0].ingredients[0]", drug, rx, product,
                product.ingredients[0])
    assert _names(kb, drug, part) == RX_KEY.normal(part.names())
    assert _names(kb, drug) == {"drug": drug.id, "name_zh": drug.name.zh,
                                "name_en": drug.name.en}
    assert RX.normal(part.names()) == part.names()


def test_filled_dataclasses_behave_as_dataclasses() -> None:
    d = Derived("x", 1.0, "f", {"a": 1})
    assert d.parts == {} and d.parts is not Derived("x", 1.0, "f", {}).parts
    assert d == Derived("x", 1.0, "f", {"a": 1}, "", "", {})
    assert repr(d) == ("Derived(name='x', value=1.0, formula='f', inputs={'a': 1}, "
                       "source='', unit='', parts={})")
    assert dataclasses.replace(d, value=2.0).value == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.value = 3.0  # type: ignore[misc]
    assert Missing("x", ("a",)) == Missing("x", ("a",), "")
    rx = ENGINE.parse({"id": "e", "time": "2026-11-20T09:30:00+08:00",
                       "patient": {"id": "p", "sex": "male"},
                       "prescriptions": [{"drug": "amlodipine"}]}).prescriptions[0]
    part = Part("s", "s", KB.drugs["amlodipine"], rx)
    assert dataclasses.replace(part, first=False).first is False
    assert part.first is True and part.units is None
    assert Decomposed(None, (part,)).unchecked == ()


def _lexicon_texts() -> st.SearchStrategy[str]:
    lex = KB.symptoms
    words = sorted({*(t for s in lex.symptoms for t in s.terms),
                    *(w for s in lex.symptoms for c in s.compositions
                      for w in (*c.sites, *c.qualifiers, *c.exclude)),
                    *lex.negations, "，", "、", "3年", "突发", "否认", " and ", "无"})
    return st.lists(st.sampled_from(words), max_size=6).map("".join)


class _AlwaysProbe:
    """A probe that never rules a key out (the matcher as it was before the probes)."""

    def search(self, _: str) -> bool:
        return True


MATCHER = SymptomMatcher(KB.symptoms)
#: the same matcher with every key looked for in every item
UNPROBED = SymptomMatcher.__new__(SymptomMatcher)
UNPROBED.__dict__.update(MATCHER.__dict__)
UNPROBED._probes = tuple(_AlwaysProbe() for _ in MATCHER._probes)  # type: ignore[misc]


@settings(deadline=None, max_examples=400)
@given(_lexicon_texts())
def test_symptom_probes_change_no_match(text: str) -> None:
    assert MATCHER.match(text) == UNPROBED.match(text)


def test_symptom_probes_on_the_bundled_texts() -> None:
    texts = [t for enc in PANEL for t in enc.get("symptoms") or []]
    assert len(texts) > 20
    for text in texts:
        assert MATCHER.match(text) == UNPROBED.match(text), text
