"""The facts of the prescription rules of issue #15: prescription slips (``rx_slips``,
``slip``), skin tests (``rx_skin_test``) and antimicrobial tiers (``rx_tier``).

Every number these rules compare with (5 drugs per slip) is a rule parameter; the
knowledge they join (which drugs need a skin test, each antimicrobial's tier, the tier
each prescriber title may be granted) comes from ``knowledge/skin_test/`` and
``knowledge/antimicrobial_tiers/``.
"""

from __future__ import annotations

import re
from typing import Any

from cdss.derive import joins
from cdss.derive.factset import Context
from cdss.derive.facttype import FactType, Headline
from cdss.derive.facttype import field as f
from cdss.kb import KnowledgeBase
from cdss.kb.rx_rules import SkinTestRow, TierLevel, TitleGrant
from cdss.kb.schema import Drug
from cdss.models import TEXT_SECTIONS

RX_SLIPS = FactType("rx_slips", False, {
    "unassigned": f("number", "", description="prescriptions without a slip id"),
    "slip_count": f("number", "", description="distinct slip ids given"),
}, "how the visit's prescriptions are spread over prescription slips (处方笺)")

SLIP = FactType("slip", True, {
    "slip": f("string", "slip", description="the slip id as sent"),
    "drug_count": f("number", "slip", description="distinct drugs on the slip"),
    "items": f("string", "", description="the prescriptions on it (indices from 0)"),
}, "one prescription slip: the prescriptions that carry its id", Headline("slip"))

RX_SKIN_TEST = FactType("rx_skin_test", True, {
    "rx": f("number", ""),
    "drug": f("string", "drug", vocabulary="drug_key"),
    "name_zh": f("string", "drug"),
    "name_en": f("string", "drug"),
    "test_zh": f("string", "", description="knowledge: the skin test the drug needs"),
    "test_en": f("string", ""),
    "status": f("string", "skin_test", description=(
        "not_recorded | not_done | negative | positive: the prescription's skin_test, "
        "another prescription's result of the same test, or the record's words")),
    "status_from": f("string", "skin_test", description="prescription | record"),
    "record_text": f("string", "", description="the record's words that gave the status"),
}, "one prescription of a drug whose use requires a skin test (knowledge/skin_test/)",
    Headline("drug"))

RX_TIER = FactType("rx_tier", True, {
    "rx": f("number", ""),
    "drug": f("string", "drug", vocabulary="drug_key"),
    "name_zh": f("string", "drug"),
    "name_en": f("string", "drug"),
    "tier": f("string", "drug", description="knowledge: non_restricted | restricted | special"),
    "tier_rank": f("number", "drug", shows="tier_zh",
                   description="knowledge: 1 non-restricted, 2 restricted, 3 special-use"),
    "tier_zh": f("string", "drug"),
    "tier_en": f("string", "drug"),
    "every_prescriber": f("bool", "drug", shows="tier_zh", description=(
        "knowledge: every prescriber title may be granted this tier")),
    "highest_rank": f("number", "setting.prescriber_title", shows="highest_zh", description=(
        "knowledge: the highest tier the prescriber's title may be granted")),
    "highest_zh": f("string", "setting.prescriber_title"),
    "highest_en": f("string", "setting.prescriber_title"),
    "title_zh": f("string", "setting.prescriber_title"),
    "title_en": f("string", "setting.prescriber_title"),
    "title_recorded": f("bool", "setting.prescriber_title",
                        description="the prescriber's title was sent (setting)"),
}, "one prescription of an antibacterial or antifungal (ATC J01/J02) with its tier "
   "(knowledge/antimicrobial_tiers/) and what the prescriber's title allows",
    Headline("drug"))

#: ATC groups the tier catalogues of 84号令 cover: antibacterials and antifungals for
#: systemic use (not antivirals, anti-TB drugs or anthelmintics)
TIERED_ATC = ("J01", "J02")
_BRACKETS = str.maketrans({"（": "(", "）": ")", "＋": "+", "－": "-", "﹢": "+", "﹣": "-"})


_SPACES = re.compile(r"\s+")


def _norm_text(text: str) -> str:
    return _SPACES.sub("", text.translate(_BRACKETS))


def _skin_words(kb: KnowledgeBase) -> tuple[tuple[str, str, str], ...]:
    """(normalised text, result, text) of each skin-test word of the knowledge, in its
    order, normalised once per knowledge base (not once per encounter)."""
    words = kb.skin_test_words
    return joins.per_object(kb, "skin_words", "", (words,), lambda: tuple(
        (_norm_text(word.text), word.result, word.text) for word in words))


def build(ctx: Context) -> None:
    """Slips, skin tests and tiers of the visit's prescriptions."""
    _slips(ctx)
    drugs = [ctx.drug_named(rx.drug) for rx in ctx.enc.prescriptions]
    _skin_tests(ctx, drugs)
    _tiers(ctx, drugs)


def _slips(ctx: Context) -> None:
    """rx_slips (once) and one slip fact per slip id."""
    fs, enc = ctx.fs, ctx.enc
    if not enc.prescriptions:
        return
    by_slip: dict[str, list[int]] = {}
    for i, rx in enumerate(enc.prescriptions):
        if rx.slip is not None:
            by_slip.setdefault(rx.slip, []).append(i)
    unassigned = sum(rx.slip is None for rx in enc.prescriptions)
    fs.add(RX_SLIPS, "prescriptions", {"unassigned": unassigned, "slip_count": len(by_slip)})
    for slip, items in by_slip.items():
        drugs = {_drug_key(ctx, enc.prescriptions[i].drug) for i in items}
        fact = fs.add(SLIP, f"prescriptions[{items[0]}]", {
            "slip": slip, "drug_count": len(drugs),
            "items": ", ".join(str(i) for i in items)})
        fs.subjects[fact["id"]] = f"slip:{slip}"


def _drug_key(ctx: Context, name: str) -> str:
    drug = ctx.drug_named(name)
    return drug.id if drug is not None else name.strip().lower()


def _skin_rows(kb: KnowledgeBase, drug: Drug) -> list[SkinTestRow]:
    """The skin-test rows of ``drug`` (by its id or a class), found once per drug."""
    def rows() -> list[SkinTestRow]:
        keys = set(kb.all_drug_keys(drug))
        return [row for row in kb.skin_tests if row.drug in keys]
    return joins.per_object(kb, "skin_rows", drug.id, (drug,), rows)


def _record_result(ctx: Context) -> tuple[str, str] | None:
    """The skin-test result the record's text states (positive before not done before
    negative, when it states several), with the words found."""
    r = ctx.enc.record
    if r is None or not ctx.kb.skin_test_words:
        return None
    text = _norm_text(" ".join(getattr(r, s) or "" for s in TEXT_SECTIONS))
    found: dict[str, str] = {}
    for normal, result, written in _skin_words(ctx.kb):
        if normal in text:
            found.setdefault(result, written)
    for result in ("positive", "not_done", "negative"):
        if result in found:
            return result, found[result]
    return None


def _skin_tests(ctx: Context, drugs: list[Drug | None]) -> None:
    """One rx_skin_test fact per prescription of a drug that needs a skin test."""
    enc, fs = ctx.enc, ctx.fs
    needs = {i: rows for i, d in enumerate(drugs) if d is not None
             and (rows := _skin_rows(ctx.kb, d))}
    if not needs:
        return
    record = _record_result(ctx)
    for i, rows in needs.items():
        drug = drugs[i]
        assert drug is not None
        row = rows[0]
        values: dict[str, Any] = {"rx": i, "drug": drug.id, "name_zh": drug.name.zh,
                                  "name_en": drug.name.en, "test_zh": row.test.zh,
                                  "test_en": row.test.en, "status": "not_recorded"}
        same = [i, *(j for j, other in needs.items() if j != i and row in other)]
        given = next((j for j in same if enc.prescriptions[j].skin_test is not None), None)
        if given is not None:
            st = enc.prescriptions[given].skin_test
            assert st is not None
            values.update(status=st.result, status_from="prescription")
        elif record is not None:
            values.update(status=record[0], status_from="record", record_text=record[1])
        fact = fs.add(RX_SKIN_TEST, f"prescriptions[{i}]", values)
        if given is not None and given != i:
            fs.field_paths[(fact["id"], "status")] = f"prescriptions[{given}].skin_test"
        elif given is None:
            fs.field_paths[(fact["id"], "status")] = (
                "record" if record is not None else f"prescriptions[{i}].skin_test")


def _tiers(ctx: Context, drugs: list[Drug | None]) -> None:
    """One rx_tier fact per prescription of an antibacterial or antifungal."""
    kb, fs, enc = ctx.kb, ctx.fs, ctx.enc
    levels, tiers, granted, lowest_granted = joins.per_object(
        kb, "tiers", "", (kb.tier_levels, kb.antimicrobial_tiers, kb.tier_titles),
        lambda: _tier_tables(kb))
    if not levels:
        return
    title = enc.setting.prescriber_title if enc.setting is not None else None
    grant = granted.get(title) if title is not None else None
    for i, drug in enumerate(drugs):
        if drug is None or not any(code.startswith(TIERED_ATC) for code in drug.atc):
            continue
        path = f"prescriptions[{i}]"
        values: dict[str, Any] = {"rx": i, "drug": drug.id, "name_zh": drug.name.zh,
                                  "name_en": drug.name.en, "title_recorded": title is not None}
        tier = tiers.get(drug.id)
        if tier is not None:
            level = levels[tier]
            values.update(tier=tier, tier_rank=level.rank, tier_zh=level.name.zh,
                          tier_en=level.name.en)
            if lowest_granted is not None:
                values["every_prescriber"] = level.rank <= lowest_granted
        else:
            for name in ("tier", "tier_rank", "every_prescriber"):
                fs.missing[f"{path}.{name}"] = (f"knowledge.antimicrobial_tiers.{drug.id}",)
        if grant is not None:
            top = levels[grant.highest]
            values.update(highest_rank=top.rank, highest_zh=top.name.zh,
                          highest_en=top.name.en, title_zh=grant.name.zh, title_en=grant.name.en)
        else:
            for name in ("highest_rank", "highest_zh", "highest_en"):
                fs.missing[f"{path}.{name}"] = ("setting.prescriber_title",)
        fact = fs.add(RX_TIER, path, values)
        for name in _SETTING_FIELDS:
            fs.field_paths[(fact["id"], name)] = "setting.prescriber_title"


def _tier_tables(kb: KnowledgeBase) -> tuple[dict[str, TierLevel], dict[str, str],
                                               dict[str, TitleGrant], int | None]:
    """The tier levels, each drug's tier, each title's grant and the lowest tier every
    title is granted, as look-ups made once per knowledge base."""
    levels = {lv.tier: lv for lv in kb.tier_levels}
    tiers = {row.drug: row.tier for row in kb.antimicrobial_tiers}
    granted = {t.title: t for t in kb.tier_titles}
    lowest_granted = (min((levels[t.highest].rank for t in granted.values()), default=None)
                      if levels else None)
    return levels, tiers, granted, lowest_granted


#: rx_tier fields read from the visit's setting, not from the prescription
_SETTING_FIELDS = ("highest_rank", "highest_zh", "highest_en", "title_zh", "title_en",
                   "title_recorded")
