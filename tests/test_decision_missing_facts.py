"""A finding made whatever the missing values are may list missing fields of facts its
shown assignment does not bind: the missing fields of every assignment of the finding
(issue #17's fuzz test found ``KeyError: 'rx_renal#0'``, a crash of ``check``, on main
after session 4: oseltamivir with no dose, whose dose-dependent renal rules miss
``at_dose``)."""

from __future__ import annotations

import pytest

import cdss

ENCOUNTER = {
    "id": "e0", "time": "2026-01-01T00:00:00+08:00",
    "labs": [{"code": "creatinine", "value": {"value": 5.0, "unit": "umol/L"}}],
    "patient": {"id": "p0", "birth_date": "2000-01-01"},
    "prescriptions": [{"drug": "oseltamivir"}], "vitals": {}, "record": {},
    "history": {"followups": [{"date": "2026-01-01", "sbp": 150}]}}


@pytest.mark.parametrize("backend", ["durable", "compiled"])
def test_the_card_lists_every_missing_field_whatever_fact_it_belongs_to(backend: str) -> None:
    report = cdss.Engine(backend=backend).check(ENCOUNTER, lang="en")
    (card,) = [s for s in report.suggestions if s.rule_id.startswith("dosing.renal.crcl_unknown")]
    assert card.certainty == "regardless"
    fields = {a["field"] for a in card.to_dict()["assumed"]}
    # the frequency is missing in the other assignments (the dose-dependent renal rules)
    assert {"patient.conditions", "prescriptions[0].frequency"} <= fields
