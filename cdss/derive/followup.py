"""The ``followup`` fact: one per chronic-disease programme the patient is enrolled in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cdss.derive import body
from cdss.derive.factset import Context
from cdss.derive.facttype import FactType, Headline
from cdss.derive.facttype import field as f
from cdss.derive.values import Derived, Missing
from cdss.kb.schema import FollowupProgramme
from cdss.models import Followup

FOLLOWUP = FactType("followup", True, {
    "programme": f("string", "", description="knowledge/followup.yaml programme id"),
    "name_zh": f("string", ""),
    "name_en": f("string", ""),
    "followups_recorded": f("number", "followups",
                            description="past follow-ups for this programme"),
    "days_since_last": f("number", "followups", "d"),
    "last_controlled": f("bool", "followups",
                         description="the last follow-up met the control targets"),
    "interval_days": f("number", "", "d", description=(
        "knowledge: routine interval, or the short one after an uncontrolled "
        "follow-up")),
    "days_overdue": f("number", "", "d",
                      description="days since last minus the interval"),
    "due_date": f("string", "", description="last follow-up plus the interval"),
    "now_controlled": f("bool", "", description="this visit's values met the targets"),
    "target_zh": f("string", "", description=(
        "knowledge: the control target applied, by the patient's age at the visit")),
    "target_en": f("string", ""),
    "recheck_date": f("string", "",
                      description="this visit plus the short interval"),
}, "one chronic-disease programme the patient is enrolled in (BPHS follow-up)",
    Headline("programme", "enrolled programme"))

#: the fields of a follow-up fact that come from the past follow-ups
_FROM_HISTORY = ("days_since_last", "last_controlled", "days_overdue", "due_date",
                 "followups_recorded", "interval_days")
#: the fields the derived value of a programme shows
_SHOWN = ("days_since_last", "interval_days", "due_date", "last_controlled",
          "now_controlled", "recheck_date", "followups_recorded", "target_en")


def _controlled(targets: dict[str, Any], values: dict[str, float | None]) -> bool | None:
    """Every target met (True), one missed (False), or unknown for lack of a value."""
    verdicts = []
    for name, bound in targets.items():
        value = values.get(name)
        verdicts.append(None if value is None else value < bound.below)
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


#: the input field and unit of each controlled value
_CONTROLLED_INPUT = {"sbp": ("vitals.sbp", "mmHg"), "dbp": ("vitals.dbp", "mmHg"),
                     "fasting_glucose": ("vitals.glucose", "mmol/L")}


def _clears(bounds: dict[str, Any], values: dict[str, float | None]) -> list[dict[str, Any]]:
    """What "controlled" needs: every value of the target below its bound."""
    out = []
    for name, bound in bounds.items():
        field, unit = _CONTROLLED_INPUT[name]
        below = float(bound.below)
        out.append({"field": field, "op": "<",
                    "value": int(below) if below.is_integer() else below, "unit": unit,
                    "now": values.get(name)})
    return out


def _target_verdict(programme: FollowupProgramme, age: int | None,
                    values: dict[str, float | None], options: Any = None
                    ) -> tuple[bool | None, str, str]:
    """Controlled (True/False/None) against the target that applies at ``age``, and the
    target in words (zh, en). Without an age every target that could apply is named, and
    there is a verdict only when they all give the same one. ``options``:
    ``programme.targets_for(age)`` when the caller has it already."""
    if options is None:
        options = programme.targets_for(age)
    verdicts = {_controlled(bounds, values) for bounds, _, _ in options}
    verdict = verdicts.pop() if len(verdicts) == 1 else None
    return (verdict, "；".join(t.zh for _, t, _ in options),
            "; ".join(t.en for _, t, _ in options))


def build(ctx: Context) -> None:
    """One ``followup`` fact per programme the patient is enrolled in; the control target
    is picked by the patient's age at the visit (and at the past follow-up's date)."""
    vitals = ctx.vitals
    fasting = vitals.get("glucose") if vitals.get("glucose_context") == "fasting" else None
    now = {"sbp": vitals.get("sbp"), "dbp": vitals.get("dbp"), "fasting_glucose": fasting}
    groups = set(ctx.problem_groups)
    for programme in ctx.kb.followup:
        if groups & set(programme.groups):
            _programme(ctx, programme, now)


def _programme(ctx: Context, programme: FollowupProgramme,
               now: dict[str, float | None]) -> None:
    """The follow-up fact of one programme, its derived value and what it misses."""
    fs, day, age = ctx.fs, ctx.enc.time.date(), ctx.age
    history = ctx.enc.history.followups if ctx.enc.history is not None else None
    values: dict[str, Any] = {"programme": programme.id, "name_zh": programme.name.zh,
                              "name_en": programme.name.en}
    options = programme.targets_for(age)  # once: read by the verdict and the clears
    now_controlled, target_zh, target_en = _target_verdict(programme, age, now, options)
    values.update(now_controlled=now_controlled, target_zh=target_zh, target_en=target_en)
    clears = _clears(options[0][0], now) if now_controlled is False and len(options) == 1 \
        else None
    if now_controlled is None and age is None and programme.age_targets:
        fs.missing["history.followups.now_controlled"] = ("patient.birth_date",)
    if now_controlled is False:
        values["recheck_date"] = (day + timedelta(days=programme.after_uncontrolled_days)
                                  ).isoformat()
    if history is not None:
        values.update(_since_last(ctx, programme, history))
    else:
        fs.missing[f"followup:{programme.id}"] = ("history.followups",)
    fact = fs.add(FOLLOWUP, "history.followups", values)
    fs.subjects[fact["id"]] = f"history.followups:{programme.id}"
    if clears:
        fs.clears[(fact["id"], "now_controlled")] = clears
    # every enrolled programme is in the report, with its due date and target
    fs.derived[f"followup.{programme.id}"] = Derived(
        "followup", float(fact.get("days_overdue", 0)),
        "days since the last follow-up minus the programme's interval",
        {k: fact[k] for k in _SHOWN if k in fact}, programme.source.title, "d")
    for name in _FROM_HISTORY:
        if name not in fact:
            fs.missing.setdefault(f"history.followups.{name}", ("history.followups",))


def _since_last(ctx: Context, programme: FollowupProgramme, history: list[Followup]
                ) -> dict[str, Any]:
    """The fields from the programme's past follow-ups up to the visit day."""
    enc, fs, day = ctx.enc, ctx.fs, ctx.enc.time.date()
    mine = sorted((f for f in history if f.date <= day and (
        f.condition is None or set(ctx.groups_of(f.condition)) & set(programme.groups))),
        key=lambda f: f.date)
    values: dict[str, Any] = {"followups_recorded": len(mine)}
    if not mine:
        return values
    last = mine[-1]
    then = body.age_years(enc.patient.birth_date,
                          datetime.combine(last.date, datetime.min.time()))
    last_controlled, _, _ = _target_verdict(
        programme, None if isinstance(then, Missing) else then,
        {"sbp": last.sbp, "dbp": last.dbp, "fasting_glucose": last.glucose})
    interval = (programme.after_uncontrolled_days if last_controlled is False
                else programme.routine_interval_days)
    if last_controlled is None and isinstance(then, Missing) and programme.age_targets:
        fs.missing["history.followups.last_controlled"] = ("patient.birth_date",)
    since = (day - last.date).days
    values.update(days_since_last=since, last_controlled=last_controlled,
                  interval_days=interval, days_overdue=since - interval,
                  due_date=(last.date + timedelta(days=interval)).isoformat())
    return values
