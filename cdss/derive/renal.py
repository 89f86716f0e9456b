"""Kidney function: eGFR (CKD-EPI 2021, race-free) and CrCl (Cockcroft-Gault).

The equations' constants are read from ``knowledge/formulas.yaml``.
"""

from __future__ import annotations

from cdss.derive.values import Derived, Missing
from cdss.kb.schema import Formula


def egfr_ckd_epi_2021(scr_umol: float | None, age: int | None, sex: str,
                      formula: Formula) -> Derived | Missing:
    """eGFR in mL/min/1.73 m² (adults), rounded to one decimal."""
    absent = []
    if scr_umol is None:
        absent.append("labs.creatinine")
    if age is None:
        absent.append("patient.birth_date")
    if sex not in ("male", "female"):
        absent.append("patient.sex")
    if absent:
        return Missing("egfr", tuple(absent))
    assert scr_umol is not None and age is not None
    c = formula.constants
    if "min_age" not in c:  # the knowledge must say for whom the equation holds
        return Missing("egfr", ("knowledge.formulas.ckd_epi_2021.min_age",))
    if age < c["min_age"]:
        return Missing("egfr", ("patient.birth_date",), "CKD-EPI is for adults")
    female = sex == "female"
    scr = scr_umol / c["umol_per_mg_dl"]
    kappa = c["kappa_female"] if female else c["kappa_male"]
    alpha = c["alpha_female"] if female else c["alpha_male"]
    ratio = scr / kappa
    value = (c["multiplier"] * min(ratio, 1.0) ** alpha * max(ratio, 1.0) ** c["exponent_above"]
             * c["age_base"] ** age * (c["female_factor"] if female else 1.0))
    return Derived("egfr", round(value, 1), formula.formula,
                   {"creatinine": f"{scr_umol:g} umol/L ({scr:.2f} mg/dL)", "age": age,
                    "sex": sex}, formula.source.title, "mL/min/1.73m²",
                   {"unrounded": value})


def crcl_cockcroft_gault(scr_umol: float | None, age: int | None, weight_kg: float | None,
                         sex: str, formula: Formula) -> Derived | Missing:
    """Creatinine clearance in mL/min with actual body weight, one decimal."""
    absent = [p for p, v in (("labs.creatinine", scr_umol), ("patient.birth_date", age),
                             ("patient.weight", weight_kg)) if v is None]
    if sex not in ("male", "female"):
        absent.append("patient.sex")
    if absent:
        return Missing("crcl", tuple(absent))
    assert scr_umol is not None and age is not None and weight_kg is not None
    c = formula.constants
    if "min_age" not in c:  # the knowledge must say for whom the equation holds
        return Missing("crcl", ("knowledge.formulas.cockcroft_gault.min_age",))
    if age < c["min_age"]:
        return Missing("crcl", ("patient.birth_date",), "Cockcroft-Gault is for adults")
    scr = scr_umol / c["umol_per_mg_dl"]
    value = (c["age_offset"] - age) * weight_kg / (c["denominator"] * scr)
    if sex == "female":
        value *= c["female_factor"]
    return Derived("crcl", round(value, 1), formula.formula,
                   {"creatinine": f"{scr_umol:g} umol/L ({scr:.2f} mg/dL)", "age": age,
                    "weight": f"{weight_kg:g} kg", "sex": sex}, formula.source.title, "mL/min")
