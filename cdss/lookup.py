"""Knowledge look-up (知识检索): find a drug by any name and show its monograph.

``cdss.lookup("what is the dose of 格华止 in a 78-year-old with eGFR 40?")`` finds the
drug named in the question (any name, alias, ATC code, or a near spelling), reads the
patient context it mentions (age, eGFR, CrCl, weight) and shows the monograph: doses
by population, renal and hepatic rules (marking the ones the context meets),
pregnancy, lactation, geriatric notes, interactions, contraindications, the rules that
name the drug, and the source of every number.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from cdss.kb import CLASS_PREFIX, KnowledgeBase
from cdss.kb.schema import Drug, Product, Source
from cdss.rulelang import CompiledRule, ir

#: similarity (difflib ratio) at which a near spelling is taken as the drug meant, and
#: how far ahead of the next name it must be
NEAR_SPELLING = 0.85
NEAR_SPELLING_MARGIN = 0.05

_CONTEXT = {
    "age": re.compile(r"(\d{1,3})\s*(?:岁|-?\s*years?[- ]old|years? of age|yo\b|y/o)", re.I),
    "egfr": re.compile(r"egfr\s*(?:=|:|of|为|是)?\s*(\d+(?:\.\d+)?)", re.I),
    "crcl": re.compile(r"(?:crcl|肌酐清除率)\s*(?:=|:|of|为|是)?\s*(\d+(?:\.\d+)?)", re.I),
    "weight": re.compile(r"(\d+(?:\.\d+)?)\s*(?:kg|公斤)", re.I),
}


def read_context(query: str) -> dict[str, float]:
    """Numbers about the patient mentioned in a question (age, eGFR, CrCl, weight)."""
    out = {}
    for name, pattern in _CONTEXT.items():
        m = pattern.search(query)
        if m:
            out[name] = float(m.group(1))
    return out


@dataclass(frozen=True)
class Monograph:
    """Everything the knowledge says about one drug, with sources."""

    drug: Drug
    matched_by: str
    context: dict[str, float]
    kb: KnowledgeBase = field(repr=False, compare=False)
    rules: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return self.kb.all_drug_keys(self.drug)

    def interactions(self):
        keys = set(self.keys)
        return [r for r in self.kb.interactions if r.a in keys or r.b in keys]

    def contraindications(self):
        keys = set(self.keys)
        return [r for r in self.kb.contraindications if r.drug in keys]

    def allergy_cross(self):
        keys = set(self.keys)
        return [r for r in self.kb.allergy_cross if r.drug in keys or r.allergy in keys]

    def renal_applies(self, rule) -> bool:
        value = self.context.get(rule.measure)
        return value is not None and value < rule.below

    def _name(self, key: str, lang: str) -> str:
        if key.startswith(CLASS_PREFIX):
            cls = self.kb.classes[key.removeprefix(CLASS_PREFIX)]
            return cls.name.get(lang)
        drug = self.kb.drugs.get(key)
        return drug.name.get(lang) if drug else key

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        d = self.drug

        def src(s: Source) -> dict[str, Any]:
            return s.model_dump(exclude_none=True)

        return {
            "id": d.id, "name": d.name.get(lang), "names": d.name.model_dump(),
            "atc": list(d.atc), "aliases": list(d.aliases),
            "classes": [self.kb.classes[c].name.get(lang) for c in d.classes],
            "matched_by": self.matched_by, "context": self.context,
            "doses": [{**x.model_dump(exclude_none=True, exclude={"source", "usual"}),
                       "usual": x.usual.get(lang) if x.usual else None,
                       "source": src(x.source)} for x in d.doses],
            "pediatric": [{**x.model_dump(exclude_none=True, exclude={"source", "text"}),
                           "text": x.text.get(lang) if x.text else None,
                           "source": src(x.source)} for x in d.pediatric],
            "renal": [{"measure": r.measure, "below": r.below, "action": r.action,
                       "max_daily": r.max_daily, "text": r.text.get(lang),
                       "applies_to_context": self.renal_applies(r), "source": src(r.source)}
                      for r in d.renal],
            "hepatic": [{"applies_to": h.applies_to, "action": h.action,
                         "text": h.text.get(lang), "source": src(h.source)} for h in d.hepatic],
            **{name: (None if s is None else {"status": s.status, "text": s.text.get(lang),
                                              "source": src(s.source)})
               for name, s in (("pregnancy", d.pregnancy), ("lactation", d.lactation))},
            "geriatric": None if d.geriatric is None else {
                "beers": d.geriatric.beers, "max_daily": d.geriatric.max_daily,
                "text": d.geriatric.text.get(lang), "source": src(d.geriatric.source)},
            "interactions": [{"with": self._name(r.b if r.a in self.keys else r.a, lang),
                              "severity": r.severity, "effect": r.effect.get(lang),
                              "action": r.action.get(lang), "source": src(r.source)}
                             for r in self.interactions()],
            "contraindications": [{"condition": self.kb.condition_groups[
                r.condition_group].name.get(lang), "severity": r.severity,
                "text": r.text.get(lang), "source": src(r.source)}
                for r in self.contraindications()],
            "allergy_cross": [{"allergy": self._name(r.allergy, lang), "severity": r.severity,
                               "text": r.text.get(lang)} for r in self.allergy_cross()],
            "rules": list(self.rules),
        }

    def to_text(self, lang: str = "zh") -> str:
        data = self.to_dict(lang)
        zh = lang == "zh"
        lines = [f"{data['name']} ({self.drug.name.en if zh else self.drug.name.zh}) "
                 f"ATC {', '.join(data['atc'])}  [{self.matched_by}]"]
        if data["classes"]:
            lines.append(("类别: " if zh else "classes: ") + ", ".join(data["classes"]))
        for x in data["doses"]:
            limits = ", ".join(f"{k} {x[k]:g} {x['unit']}" for k in
                               ("max_single", "max_daily", "min_daily") if k in x)
            lines.append(f"  {'成人' if zh else 'adult'} {x['route']}: {x.get('usual') or ''}"
                         f" {limits}  [{x['source']['verification']}]")
        for x in data["pediatric"]:
            parts = [f"{k}={x[k]:g}" for k in ("min_age_years", "max_mg_per_kg_day",
                                               "max_daily") if k in x]
            lines.append(f"  {'儿童' if zh else 'children'}: {', '.join(parts)}"
                         f" {x.get('text') or ''} [{x['source']['verification']}]")
        for r in data["renal"]:
            mark = " ◀" if r["applies_to_context"] else ""
            lines.append(f"  {'肾功能' if zh else 'renal'} {r['measure']} < {r['below']:g}: "
                         f"{r['action']}: {r['text']}{mark}")
        for h in data["hepatic"]:
            lines.append(f"  {'肝功能' if zh else 'hepatic'} ({h['applies_to']}): {h['action']}: "
                         f"{h['text']}")
        for name, label in (("pregnancy", "妊娠" if zh else "pregnancy"),
                            ("lactation", "哺乳" if zh else "lactation")):
            if data[name]:
                lines.append(f"  {label}: {data[name]['status']}: {data[name]['text']}")
        if data["geriatric"]:
            g = data["geriatric"]
            lines.append(f"  {'老年人 (Beers 2023)' if zh else 'older adults (Beers 2023)'}: "
                         f"{g['beers']}: {g['text']}")
        for r in data["interactions"]:
            lines.append(f"  {'相互作用' if zh else 'interaction'} [{r['severity']}] "
                         f"{r['with']}: {r['effect']} → {r['action']}")
        for r in data["contraindications"]:
            lines.append(f"  {'禁忌' if zh else 'contraindication'} [{r['severity']}] "
                         f"{r['condition']}: {r['text']}")
        if data["rules"]:
            lines.append(("规则: " if zh else "rules: ") + ", ".join(data["rules"]))
        return "\n".join(lines)


@dataclass(frozen=True)
class ConditionEntry:
    """A diagnosis looked up by ICD-10 code or condition-group name: its groups and the
    rules that suggest it or depend on it."""

    code: str
    names: dict[str, str]
    groups: tuple[str, ...]
    rules: tuple[str, ...]

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {"code": self.code, "name": self.names.get(lang, ""), "groups": list(self.groups),
                "rules": list(self.rules)}

    def to_text(self, lang: str = "zh") -> str:
        zh = lang == "zh"
        head = f"{self.code} {self.names.get(lang, '')}".strip()
        lines = [head]
        if self.groups:
            lines.append(("  分组: " if zh else "  groups: ") + ", ".join(self.groups))
        if self.rules:
            lines.append(("  规则: " if zh else "  rules: ") + ", ".join(self.rules))
        return "\n".join(lines)


@dataclass(frozen=True)
class ProductEntry:
    """A product a query names: its ingredients with their strengths, its own label's
    limits where the knowledge has them, and the source (the ingredients' monographs
    follow it in the result)."""

    product: Product
    kb: KnowledgeBase = field(repr=False, compare=False)

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        p = self.product
        out: dict[str, Any] = {
            "id": p.id, "name": p.name.get(lang), "aliases": list(p.aliases),
            "dosage_units": list(p.dosage_units), "route": p.route,
            "formulation": p.formulation,
            "ingredients": [{"drug": i.drug, "name": i.name.get(lang), "strength": i.strength,
                             "unit": i.unit if i.strength is not None else None,
                             "checked": i.drug is not None} for i in p.ingredients],
            "ambiguous": p.ambiguous.get(lang) if p.ambiguous else None,
            "source": {"title": p.source.title, "url": p.source.url,
                       "verification": p.source.verification}}
        if p.label is not None:
            out["label"] = {
                "doses": [{"route": d.route, "unit": d.unit, "max_single": d.max_single,
                           "max_daily": d.max_daily} for d in p.label.doses],
                "children": [{"ages": [b.min_age_years, b.max_age_years], "unit": b.unit,
                              "max_single": b.max_single, "max_daily": b.max_daily}
                             for b in p.label.children],
                "pregnancy": p.label.pregnancy.status if p.label.pregnancy else None,
                "lactation": p.label.lactation.status if p.label.lactation else None,
                "indication": p.label.indication.get(lang) if p.label.indication else None}
        return out

    def to_text(self, lang: str = "zh") -> str:
        p, zh = self.product, lang == "zh"
        unit_name = self.kb.prescribing.unit_name
        per = unit_name(p.dosage_units[0], lang)
        lines = [f"{p.name.get(lang)}（复方制剂: {p.id}）" if zh
                 else f"{p.name.get(lang)} (product: {p.id})"]
        if p.aliases:
            lines.append(f"  {'别名' if zh else 'also'}: {', '.join(p.aliases)}")
        for i in p.ingredients:
            amount = (f" {i.strength:g} {i.unit}/{per}" if i.strength is not None else "")
            checked = ("" if i.drug else ("（不在知识库药物中，未单独审核）" if zh
                                           else " (no drug of the knowledge: not checked "
                                                "by itself)"))
            lines.append(f"  · {i.name.get(lang)}{amount}{checked}")
        if p.ambiguous:
            lines.append(f"  {'规格' if zh else 'strength'}: {p.ambiguous.get(lang)}")
        if p.label is not None:
            for d in p.label.doses:
                name = unit_name(d.unit, lang)
                limits = [f"{'单次' if zh else 'single'} ≤ {d.max_single:g} {name}"
                          if d.max_single else "",
                          f"{'每日' if zh else 'daily'} ≤ {d.max_daily:g} {name}"
                          if d.max_daily else ""]
                lines.append(f"  {'说明书用量上限' if zh else 'label limit'}: "
                             + ", ".join(x for x in limits if x))
            for b in p.label.children:
                name = unit_name(b.unit, lang)
                lines.append(f"  {'儿童' if zh else 'children'} {b.band_text(lang)}: "
                             f"{'单次' if zh else 'single'} ≤ {b.max_single:g} {name}, "
                             f"{'每日' if zh else 'daily'} ≤ {b.max_daily:g} {name}")
            for what, status in ((("妊娠" if zh else "pregnancy"), p.label.pregnancy),
                                 (("哺乳" if zh else "lactation"), p.label.lactation)):
                if status is not None:
                    lines.append(f"  {what}: {status.text.get(lang)}")
        lines.append(f"  {'来源' if zh else 'source'}: {p.source.title} "
                     f"[{p.source.verification}]")
        return "\n".join(lines)


@dataclass(frozen=True)
class LookupResult:
    """What a query found: monographs, or the closest names ("did you mean")."""

    query: str
    monographs: tuple[Monograph, ...]
    did_you_mean: tuple[str, ...] = ()
    context: dict[str, float] = field(default_factory=dict)
    lang: str = "zh"
    conditions: tuple[ConditionEntry, ...] = ()
    #: products the query names (复方氨酚烷胺片); their ingredients are in ``monographs``
    products: tuple[ProductEntry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.monographs or self.conditions or self.products)

    def to_dict(self) -> dict[str, Any]:
        out = {"query": self.query, "context": self.context,
               "results": [m.to_dict(self.lang) for m in self.monographs],
               "conditions": [c.to_dict(self.lang) for c in self.conditions],
               "did_you_mean": list(self.did_you_mean)}
        if self.products:
            out["products"] = [p.to_dict(self.lang) for p in self.products]
        return out

    def to_text(self) -> str:
        if self.products:
            return "\n\n".join([*(p.to_text(self.lang) for p in self.products),
                                 *(m.to_text(self.lang) for m in self.monographs)])
        if self.conditions and not self.monographs:
            return "\n\n".join(c.to_text(self.lang) for c in self.conditions)
        if not self.monographs:
            hint = ", ".join(self.did_you_mean)
            return (f"未找到“{self.query}”" + (f"；您是否要找：{hint}" if hint else "")
                    if self.lang == "zh" else
                    f"nothing found for {self.query!r}" + (f"; did you mean: {hint}?" if hint
                                                           else ""))
        return "\n\n".join(m.to_text(self.lang) for m in self.monographs)

    __str__ = to_text

    def _repr_html_(self) -> str:
        if not self.monographs:
            return f"<p>{html.escape(self.to_text())}</p>"
        parts = []
        for m in self.monographs:
            rows = "".join(f"<li>{html.escape(line.strip())}</li>"
                           for line in m.to_text(self.lang).splitlines()[1:])
            parts.append(f"<div><h4>{html.escape(m.to_text(self.lang).splitlines()[0])}</h4>"
                         f"<ul>{rows}</ul></div>")
        return "".join(parts)


def _rules_naming(drug_keys: set[str], rules: tuple[CompiledRule, ...]) -> tuple[str, ...]:
    out = []
    for rule in rules:
        for p in rule.patterns:
            if any(isinstance(leaf, ir.Compare) and not drug_keys.isdisjoint(leaf.literals())
                   for leaf in ir.leaves(p.condition)):
                out.append(rule.id)
                break
    return tuple(out)


_ICD_TOKEN = re.compile(r"\b[A-Z][0-9][0-9A-Z](?:\.[0-9A-Za-z]{1,8})?\b")


def _rules_about(code: str, groups: tuple[str, ...], rules: tuple[CompiledRule, ...]
                 ) -> tuple[str, ...]:
    out = []
    for rule in rules:
        literals = {value for p in rule.patterns for leaf in ir.leaves(p.condition)
                    if isinstance(leaf, ir.Contains) for value in leaf.literals()}
        if any(c == code or code.startswith(c) or c.startswith(code)
               for c in rule.spec.codes) or literals & set(groups):
            out.append(rule.id)
    return tuple(out)


def lookup_conditions(query: str, kb: KnowledgeBase, rules: tuple[CompiledRule, ...]
                      ) -> tuple[ConditionEntry, ...]:
    """Diagnoses named in a query: ICD-10 codes, or condition-group names (zh or en)."""
    found: list[ConditionEntry] = []
    names = {c.code: {"zh": c.zh, "en": c.en} for c in kb.icd10.codes}
    for code in dict.fromkeys(_ICD_TOKEN.findall(query.upper())):
        groups = kb.groups_of(code)
        found.append(ConditionEntry(code, names.get(code, {}), groups,
                                    _rules_about(code, groups, rules)))
    low = query.lower()
    for group in kb.condition_groups.values():
        if group.name.zh in query or group.name.en.lower() in low or group.id in low:
            code = group.prefixes[0]
            found.append(ConditionEntry(code, group.name.model_dump(), (group.id,),
                                        _rules_about(code, (group.id,), rules)))
    return tuple(found)


def lookup(query: str, kb: KnowledgeBase, rules: tuple[CompiledRule, ...] = (),
           lang: str = "zh") -> LookupResult:
    """Find drugs named in ``query`` (exact, contained, or near spelling)."""
    context = read_context(query)
    found: list[tuple[Drug, str]] = []
    products = _products_named(query, kb)
    drug = kb.resolve_drug(query)
    if products:  # a product: its checked ingredients' monographs follow it
        for p in products:
            for i in p.ingredients:
                if i.drug is not None and all(i.drug != d.id for d, _ in found):
                    found.append((kb.drugs[i.drug], f"ingredient of {p.name.zh}"))
    elif drug is not None:
        found.append((drug, "name"))
    else:
        text = query.lower()
        names = sorted(kb.drug_names(), key=len, reverse=True)
        taken: list[tuple[int, int]] = []
        for name in names:
            if len(name) < 2:
                continue
            for m in re.finditer(re.escape(name), text):
                start, end = m.span()
                ascii_word = name.isascii()
                if ascii_word and ((start > 0 and text[start - 1].isalnum()) or
                                   (end < len(text) and text[end].isalnum())):
                    continue
                if any(s < end and start < e for s, e in taken):
                    continue
                taken.append((start, end))
                hit = kb.resolve_drug(name)
                if hit is not None and all(hit.id != d.id for d, _ in found):
                    found.append((hit, f"'{query[start:end]}'"))
    did_you_mean: tuple[str, ...] = ()
    conditions = lookup_conditions(query, kb, rules) if not found else ()
    if not found and not conditions:
        tokens = [t for t in re.split(r"[\s,，。？?!、;；:]+", query) if t]
        near: list[tuple[str, float]] = []
        for token in tokens or [query]:
            near += kb.closest_drugs(token)
        near.sort(key=lambda kv: -kv[1])
        did_you_mean = tuple(dict.fromkeys(d for d, _ in near))
        # one clear winner (a typo) is shown; several close names are offered instead
        if near and near[0][1] >= NEAR_SPELLING and (
                len(near) == 1 or near[0][1] - near[1][1] >= NEAR_SPELLING_MARGIN):
            found.append((kb.drugs[near[0][0]], f"near spelling of {query!r}"))
            did_you_mean = ()
    monographs = tuple(
        Monograph(d, how, context, kb, _rules_naming(set(kb.all_drug_keys(d)), rules))
        for d, how in found)
    return LookupResult(query, monographs, did_you_mean, context, lang, conditions,
                        tuple(ProductEntry(p, kb) for p in products))


def _products_named(query: str, kb: KnowledgeBase) -> tuple[Product, ...]:
    """The product the whole query names, else the products whose name or alias it
    contains (the longest first, not overlapping)."""
    whole = kb.resolve_product(query.strip())
    if whole is not None:
        return (whole,)
    text = query.lower()
    out: list[Product] = []
    taken: list[tuple[int, int]] = []
    names = sorted(((n, p) for p in kb.products.values() for n in p.names if len(n) >= 3),
                   key=lambda np: -len(np[0]))
    for name, product in names:
        start = text.find(name.lower())
        if start < 0 or any(s < start + len(name) and start < e for s, e in taken):
            continue
        taken.append((start, start + len(name)))
        if product not in out:
            out.append(product)
    return tuple(out)


__all__ = ["ConditionEntry", "LookupResult", "Monograph", "ProductEntry", "lookup",
           "read_context"]
