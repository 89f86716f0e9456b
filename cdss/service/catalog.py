"""The services of discovery, and their prefetch templates derived from the rules.

A service checks the rules of some categories. Its prefetch is what those rules read:
each rule's patterns name fact types and the fields their conditions read; the fact
schema (``cdss.derive.schema``) says which encounter part each comes from; the table
``_PART_QUERY`` says which FHIR query fills that part. A new rule that reads a new
lab adds its LOINC codes to the ``labs`` template without editing this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdss.derive.schema import fact_types
from cdss.kb import KnowledgeBase
from cdss.rulelang.ir import fields_read

#: prefetch key -> FHIR query template (CDS Hooks prefetch tokens); ``{codes}`` is
#: filled with the LOINC codes of the labs the rules read
_PART_QUERY: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "vitals": "Observation?patient={{context.patientId}}&category=vital-signs"
              "&_sort=-date&_count=50",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory"
            "&code={codes}&_sort=-date&_count=100",
    "conditions": "Condition?patient={{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "encounter": "Encounter/{{context.encounterId}}",
    "record": "Composition?encounter={{context.encounterId}}",
    "bp-history": "Observation?patient={{context.patientId}}&code=85354-9"
                  "&_sort=-date&_count=20",
}

#: encounter path (the most specific prefix wins) -> prefetch key; None: no FHIR
#: source in this release (free-text symptoms)
_PATH_KEY: dict[str, str | None] = {
    "patient": "patient",
    "patient.weight": "vitals", "patient.height": "vitals",
    "patient.conditions": "conditions",
    "patient.allergies": "allergies", "patient.allergies_reviewed": "allergies",
    "vitals": "vitals",
    "labs": "labs",
    "record": "record", "record.diagnoses": "conditions",
    "encounter": "encounter",
    "prescriptions": "medications",
    "history": "bp-history",
    "symptoms": None,
}

#: fact type -> encounter path it is built from (schema field sources are relative)
_FACT_PATH = {
    "patient": "patient", "vitals": "vitals", "labs": "labs", "record": "record",
    "encounter": "", "rx": "prescriptions", "rx_renal": "prescriptions",
    "rx_hepatic": "prescriptions", "rx_key": "prescriptions", "rx_allergen": "prescriptions",
    "allergy_key": "patient.allergies", "condition": "patient.conditions",
    "followup": "history", "symptom": "symptoms", "implausible": "vitals",
    "derived": "derived",
}

#: derived values -> the inputs they are computed from
_DERIVED_INPUTS = {
    "bmi": ("patient.weight", "patient.height"),
    "egfr": ("patient", "labs.creatinine"),
    "crcl": ("patient", "patient.weight", "labs.creatinine"),
    "news2": ("vitals",), "qsofa": ("vitals",),
    "crb65": ("vitals", "patient"), "curb65": ("vitals", "patient", "labs.urea"),
}


@dataclass(frozen=True)
class ServiceDef:
    """One CDS Service: its hook, the rule categories it reports, its prefetch."""

    id: str
    hook: str
    title: dict[str, str]
    description: dict[str, str]
    categories: tuple[str, ...]
    #: prefetch keys the service cannot run without (HTTP 412 when absent)
    required: tuple[str, ...]
    #: context fields the hook requires
    context_required: tuple[str, ...]
    prefetch: dict[str, str]

    def to_discovery(self, lang: str) -> dict[str, Any]:
        out: dict[str, Any] = {"hook": self.hook, "id": self.id, "title": self.title[lang],
                               "description": self.description[lang]}
        if self.prefetch:
            out["prefetch"] = dict(self.prefetch)
        out["usageRequirements"] = (
            "需要预取或 FHIR 服务器访问：" if lang == "zh" else
            "Needs prefetch or FHIR server access for: ") + ", ".join(self.required)
        return out


def _encounter_paths(rule: Any, types: Any) -> set[str]:
    """Encounter paths a compiled rule reads, from its patterns and the fact schema."""
    paths: set[str] = set()
    for pattern in rule.patterns:
        base = _FACT_PATH.get(pattern.fact_type)
        if base is None:
            continue
        if pattern.fact_type == "encounter":
            paths.add("encounter")
            continue
        read = fields_read(pattern.condition)
        if pattern.fact_type == "labs":
            paths.update(f"labs.{f}" for f in read) if read else paths.add("labs")
        elif pattern.fact_type == "derived":
            for f in read:
                for name, inputs in _DERIVED_INPUTS.items():
                    if f.startswith(name):
                        paths.update(inputs)
        elif pattern.fact_type == "patient":
            specs = types["patient"].fields
            paths.add("patient")
            paths.update(f"patient.{specs[f].source}" for f in read if f in specs)
        else:
            paths.add(base)
    return paths


def _key(path: str) -> str | None:
    while path:
        if path in _PATH_KEY:
            return _PATH_KEY[path]
        path = path.rpartition(".")[0]
    return None


def prefetch_for(rules: Any, kb: KnowledgeBase, categories: tuple[str, ...], *,
                 with_encounter: bool) -> dict[str, str]:
    """Prefetch templates for the rules of ``categories``: one per FHIR query needed."""
    types = fact_types(kb)
    paths: set[str] = {"patient"}
    for rule in rules:
        if rule.spec.category in categories:
            paths |= _encounter_paths(rule, types)
    keys = {k for k in map(_key, paths) if k}
    if not with_encounter:
        keys -= {"encounter", "record"}
    labs = sorted(p.split(".", 1)[1] for p in paths if p.startswith("labs."))
    out = {}
    for key in sorted(keys, key=list(_PART_QUERY).index):
        template = _PART_QUERY[key]
        if key == "labs":
            by_code = kb.analytes
            codes = [f"http://loinc.org|{c}" for name in labs if name in by_code
                     for c in by_code[name].loinc]
            if not codes:
                continue
            template = template.replace("{codes}", ",".join(codes))
        out[key] = template
    return out


_TEXT = {
    "patient-view": ({"zh": "cdss 辅助诊断与随访", "en": "cdss diagnosis and follow-up"},
                     {"zh": "打开患者病历时：辅助诊断、早期预警评分、慢病随访到期与控制情况",
                      "en": "On opening the chart: diagnosis support, early-warning scores, "
                            "chronic-disease follow-up due or uncontrolled"}),
    "order-select": ({"zh": "cdss 处方审核（选择医嘱）", "en": "cdss prescription screening"},
                     {"zh": "选择药品医嘱时审核剂量、相互作用、过敏、禁忌等"
                            "（仅 MedicationRequest）",
                      "en": "Screens the selected draft MedicationRequests: dose, "
                            "interactions, allergy, contraindications (other orders ignored)"}),
    "order-sign": ({"zh": "cdss 处方审核（签署医嘱）",
                    "en": "cdss prescription screening at signing"},
                   {"zh": "签署前审核全部待签药品医嘱（仅 MedicationRequest，其他医嘱忽略）",
                    "en": "Screens every draft MedicationRequest before signing "
                          "(other order types ignored)"}),
    "encounter-discharge": ({"zh": "cdss 病历质控", "en": "cdss record quality"},
                            {"zh": "就诊结束时检查门诊病历书写质量（病历书写基本规范）",
                             "en": "At the end of the visit: outpatient record quality "
                                   "(required elements, codes, signing)"}),
}

#: service id -> (hook, categories, required prefetch, required context)
_SERVICES = {
    "cdss-patient-view": ("patient-view", ("diagnosis", "followup"), ("patient",),
                          ("userId", "patientId")),
    "cdss-order-select": ("order-select", ("dosing",), ("patient",),
                          ("userId", "patientId", "selections", "draftOrders")),
    "cdss-order-sign": ("order-sign", ("dosing",), ("patient",),
                        ("userId", "patientId", "draftOrders")),
    "cdss-encounter-discharge": ("encounter-discharge", ("quality",), ("patient", "record"),
                                 ("userId", "patientId", "encounterId")),
}


def build_services(rules: Any, kb: KnowledgeBase) -> dict[str, ServiceDef]:
    """The four services, their prefetch derived from ``rules`` (``engine.rules``) and
    the engine's knowledge ``kb``."""
    out = {}
    for sid, (hook, cats, required, ctx) in _SERVICES.items():
        title, desc = _TEXT[hook]
        prefetch = prefetch_for(rules, kb, cats, with_encounter="encounterId" in ctx)
        out[sid] = ServiceDef(sid, hook, title, desc, cats,
                              tuple(k for k in required if k in prefetch), ctx, prefetch)
    return out
