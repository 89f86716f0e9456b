"""The public hypothesis strategies of cdss.testing: arguments, names, validity."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

import cdss
import cdss.testing
from cdss import units
from cdss.kb import load_knowledge
from cdss.models import Dose, LabResult, Prescription, VitalSigns
from cdss.testing import strategies as cst

SOME = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PUBLIC = {"CONDITION_CODES", "DIMENSIONS", "FREQUENCY_CODES", "LAB_CODES", "drug_names",
          "encounters", "labs", "patients", "prescriptions", "quantities", "records",
          "vital_signs"}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(cst.__all__) == PUBLIC
    assert set(cdss.testing.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(cdss.testing, name) is getattr(cst, name)
    public = {n for n in vars(cst) if not n.startswith("_")
              and getattr(getattr(cst, n), "__module__", None) == cst.__name__}
    assert public <= PUBLIC


@pytest.mark.parametrize("name", sorted(n for n in PUBLIC if n.islower()))
def test_every_strategy_documents_its_shrink_target_with_an_example(name: str) -> None:
    doc = getattr(cst, name).__doc__ or ""
    assert "shrink towards" in doc
    assert ">>> " in doc and "pycon" in doc


@pytest.mark.parametrize(("call", "arg"), [
    (lambda: cst.quantities("speed"), "dimension='speed'"),
    (lambda: cst.quantities("mass", min_value=5, max_value=1), "min_value=5"),
    (lambda: cst.quantities("mass", min_value=float("nan")), "min_value=nan"),
    (lambda: cst.quantities("mass", max_value="10"), "max_value='10'"),
    (lambda: cst.quantities("mass", units=["mmHg"]), "units=['mmHg']"),
    (lambda: cst.quantities("mass", units=[]), "units=[]"),
    (lambda: cst.quantities("mass", units="mg"), "units='mg'"),
    (lambda: cst.quantities("mass", places=-1), "places=-1"),
    (lambda: cst.quantities("mass", min_value=0.01, max_value=0.02, places=1), "min_value=0.01"),
    (lambda: cst.drug_names(["aspirine"]), "drugs=['aspirine']"),
    (lambda: cst.drug_names([]), "drugs=[]"),
    (lambda: cst.prescriptions(["warfarin", "nope"]), "drugs=['warfarin', 'nope']"),
    (lambda: cst.prescriptions(min_dose=0), "min_dose=0"),
    (lambda: cst.prescriptions(min_dose=10, max_dose=5), "max_dose=5"),
    (lambda: cst.vital_signs(allow_implausible=1), "allow_implausible=1"),
    (lambda: cst.labs(["creatinine", "bun"]), "codes=['creatinine', 'bun']"),
    (lambda: cst.labs("creatinine"), "codes='creatinine'"),
    (lambda: cst.patients(max_allergies=-1), "max_allergies=-1"),
    (lambda: cst.patients(max_conditions=True), "max_conditions=True"),
    (lambda: cst.encounters(max_prescriptions=2.5), "max_prescriptions=2.5"),
    (lambda: cst.encounters(max_labs=None), "max_labs=None"),
    (lambda: cst.encounters(allow_implausible="no"), "allow_implausible='no'"),
])
def test_bad_arguments_raise_eagerly_naming_the_argument(call: Any, arg: str) -> None:
    # eager: raised when the strategy is built, before anything is drawn
    with pytest.raises(InvalidArgument, match=arg.replace("[", r"\[").replace("]", r"\]")):
        call()


@SOME
@given(cst.encounters())
def test_generated_encounters_parse(enc: dict[str, Any]) -> None:
    parsed = cdss.Encounter.parse(enc)
    assert parsed.id == enc["id"]
    assert parsed.patient.id == enc["patient"]["id"]


@SOME
@given(cst.encounters(allow_implausible=False))
def test_plausible_encounters_raise_no_implausible_suggestion(enc: dict[str, Any]) -> None:
    report = cdss.check(enc)
    # lab values are broad on purpose; only vitals and body size are bounded here
    assert not [s for s in report.suggestions if s.kind == "implausible"
                and not any(e.get("field", "").startswith("labs") for e in s.evidence)]


@SOME
@given(cst.vital_signs())
def test_vital_signs_parse(vitals: dict[str, Any]) -> None:
    VitalSigns.model_validate(vitals)


@SOME
@given(cst.labs())
def test_labs_parse_to_known_analytes(lab: dict[str, Any]) -> None:
    assert LabResult.model_validate(lab).known


@SOME
@given(cst.prescriptions())
def test_prescriptions_name_known_drugs(rx: dict[str, Any]) -> None:
    parsed = Prescription.model_validate(rx)
    assert load_knowledge().resolve_drug(parsed.drug) is not None
    if parsed.dose is not None:
        assert parsed.dose.unit == "mg"


@SOME
@given(cst.drug_names(["warfarin"]))
def test_drug_names_are_spellings_of_the_drugs_asked_for(name: str) -> None:
    drug = load_knowledge().resolve_drug(name)
    assert drug is not None and drug.id == "warfarin"


@SOME
@given(cst.quantities("mass", min_value=1, max_value=1000))
def test_mass_quantities_convert_into_their_bounds(q: Any) -> None:
    value = Dose.model_validate(q).value
    assert 1 - 1e-6 <= value <= 1000 + 1e-6


@SOME
@given(cst.quantities("glucose", min_value=3, max_value=30))
def test_glucose_quantities_convert_into_their_bounds(q: Any) -> None:
    value = VitalSigns.model_validate({"glucose": q}).glucose
    assert value is not None and 3 - 1e-3 <= value <= 30 + 1e-3


@pytest.mark.parametrize("dimension", cst.DIMENSIONS)
def test_every_dimension_is_accepted_by_the_unit_parser(dimension: str) -> None:
    canonical = {"mass": units.MASS, "volume": units.VOLUME, "activity": units.ACTIVITY,
                 "pressure": units.PRESSURE, "rate": units.RATE,
                 "temperature": units.TEMPERATURE, "percent": units.PERCENT,
                 "body_weight": units.BODY_WEIGHT, "length": units.LENGTH,
                 "duration": units.DURATION}

    @SOME
    @given(cst.quantities(dimension))
    def check(q: Any) -> None:
        if dimension == "glucose":
            VitalSigns.model_validate({"glucose": q})
        else:
            units.to_canonical(q, canonical[dimension], bare_ok=False)

    check()


def test_minimal_encounter_is_the_documented_shrink_target() -> None:
    from hypothesis import find

    minimal = find(cst.encounters(), lambda enc: True)
    assert minimal == {"id": "e0", "time": "2026-01-01T00:00:00+08:00",
                       "patient": {"id": "p0"}}


def test_quantities_write_the_same_amount_in_every_unit() -> None:
    written = set()

    @settings(max_examples=50, deadline=None)
    @given(cst.quantities("mass", min_value=500, max_value=500, units=["g", "mg", "ug"]))
    def collect(q: Any) -> None:
        written.add(Dose.model_validate(q).value)

    collect()
    assert {round(v, 6) for v in written} == {500.0}


@SOME
@given(st.data())
def test_prescription_dose_bounds_are_respected(data: st.DataObject) -> None:
    low = data.draw(st.integers(1, 100))
    high = data.draw(st.integers(low, 1000))
    rx = data.draw(cst.prescriptions(["amlodipine"], min_dose=low, max_dose=high))
    parsed = Prescription.model_validate(rx)
    if parsed.dose is not None:
        assert low - 1e-6 <= parsed.dose.value <= high + 1e-6


def test_plausible_patients_read_their_ranges_from_the_plausibility_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Weight, height and glucose bounds come from knowledge/plausibility.yaml, not copies:
    narrowing the table narrows what is drawn."""
    table = cst._PLAUSIBLE
    narrowed = dict(table.vitals)
    for path, (low, high) in {"patient.weight": (70, 71), "patient.height": (160, 161),
                              "vitals.glucose": (5, 6)}.items():
        narrowed[path] = narrowed[path].model_copy(update={"low": low, "high": high})
    monkeypatch.setattr(cst, "_PLAUSIBLE", table.model_copy(update={"vitals": narrowed}))
    seen = {"weight": set(), "height": set(), "glucose": set()}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cst.patients(allow_implausible=False), cst.vital_signs(allow_implausible=False))
    def check(patient: dict[str, Any], vitals: dict[str, Any]) -> None:
        parsed = cdss.models.Patient.model_validate(patient)
        for name in ("weight", "height"):
            if getattr(parsed, name) is not None:
                seen[name].add(getattr(parsed, name))
        if "glucose" in vitals:
            seen["glucose"].add(VitalSigns.model_validate({"glucose": vitals["glucose"]}).glucose)

    check()
    assert seen["weight"] and all(70 - 1e-6 <= w <= 71 + 1e-6 for w in seen["weight"])
    assert seen["height"] and all(160 - 1e-6 <= h <= 161 + 1e-6 for h in seen["height"])
    assert seen["glucose"] and all(5 - 1e-3 <= g <= 6 + 1e-3 for g in seen["glucose"])


@pytest.mark.parametrize(("dimension", "unit", "canonical"), [
    ("pressure", "kPa", units.PRESSURE), ("temperature", "degF", units.TEMPERATURE),
    ("body_weight", "lb", units.BODY_WEIGHT)])
def test_non_metric_units_are_written_with_the_models_own_factors(
        dimension: str, unit: str, canonical: units.Dimension) -> None:
    """A value written in kPa, degF or lb reads back as the canonical value drawn (the
    factors come from the package's pint registry, not copies)."""
    written = set()

    @settings(max_examples=30, deadline=None)
    @given(cst.quantities(dimension, min_value=37, max_value=37, units=[unit]))
    def collect(q: Any) -> None:
        written.add(round(units.to_canonical(q, canonical), 6))

    collect()
    assert written == {37.0}
