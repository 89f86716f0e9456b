"""Prescriptions: drug name as written, dose, route, frequency and duration."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cdss import limits, units
from cdss.errors import masked
from cdss.models._base import Code, Days, Model, Name

#: Frequency abbreviations and their administrations per day. ``prn`` has no fixed
#: count (its daily dose is unknown); ``once`` is a single administration.
FREQUENCIES: dict[str, float | None] = {
    "qd": 1, "od": 1, "daily": 1, "qam": 1, "qpm": 1, "qn": 1, "hs": 1,
    "bid": 2, "q12h": 2,
    "tid": 3, "q8h": 3,
    "qid": 4, "q6h": 4,
    "q4h": 6,
    "qod": 0.5,
    "qw": 1 / 7, "biw": 2 / 7, "tiw": 3 / 7,
    "once": 1, "st": 1, "stat": 1,
    "prn": None,
    "每日一次": 1, "每日1次": 1, "每天一次": 1, "每晚一次": 1,
    "每日两次": 2, "每日二次": 2, "每日2次": 2,
    "每日三次": 3, "每日3次": 3,
    "每日四次": 4, "每日4次": 4,
    "一日一次": 1, "一日1次": 1, "一日两次": 2, "一日二次": 2, "一日2次": 2,
    "一日三次": 3, "一日3次": 3, "一日四次": 4, "一日4次": 4,
    "每8小时一次": 3, "每12小时一次": 2, "每6小时一次": 4, "每周一次": 1 / 7, "隔日一次": 0.5,
    "睡前": 1, "必要时": None, "需要时": None, "立即": 1, "一次": 1,
}

#: Chinese numerals, read as Arabic digits in frequency words (每日三次 = 每日3次).
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUMBER = re.compile(r"[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九]")
#: Interchangeable words in frequencies (每天 = 每日, 一天 = 一日, 隔天 = 隔日).
_CN_SYNONYMS = (("天", "日"),)


def _cn_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if "十" not in text:
        return str(_CN_DIGITS[text])
    tens, _, ones = text.partition("十")
    return str(_CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0))


def frequency_key(text: str) -> str:
    """The lookup form of a frequency: no spaces or dots, lower case, Chinese numerals
    as digits and synonyms unified (每天一次, 每日1次 and 每日 1 次 are one key)."""
    key = _CN_NUMBER.sub(_cn_number, re.sub(r"[\s.]", "", text).lower())
    for word, canonical in _CN_SYNONYMS:
        key = key.replace(word, canonical)
    return key


#: FREQUENCIES by :func:`frequency_key`.
_FREQUENCY_INDEX: dict[str, float | None] = {frequency_key(k): v for k, v in FREQUENCIES.items()}

DOSE_DIMENSIONS = (units.MASS, units.VOLUME, units.ACTIVITY)

#: Dosage-form words (in the drug name or the ``formulation`` field) and the
#: knowledge's formulation codes; the first match wins, so longer words come first.
FORMULATION_WORDS: tuple[tuple[str, str], ...] = (
    ("控释", "controlled_release"), ("缓释", "sustained_release"), ("速释", "immediate_release"),
    ("普通片", "immediate_release"), ("粉雾", "dry_powder_inhaler"),
    ("干粉吸入", "dry_powder_inhaler"), ("controlled", "controlled_release"),
    ("sustained", "sustained_release"), ("extended", "extended_release"),
    ("modified", "modified_release"), ("immediate", "immediate_release"),
    ("dry powder", "dry_powder_inhaler"), (" xl", "extended_release"), (" xr", "extended_release"),
    (" er", "extended_release"), (" sr", "sustained_release"), (" cr", "controlled_release"),
)


def formulation_of(text: str | None) -> str | None:
    """The formulation code named in a drug name or formulation text, if any."""
    if not text:
        return None
    low = f" {text.strip().lower()} "
    for word, code in FORMULATION_WORDS:
        if word in low:
            return code
    return low.strip().replace(" ", "_") if "_" in low else None

#: Route spellings (Latin abbreviations, Chinese) mapped to the knowledge's route codes.
ROUTES: dict[str, str] = {
    "oral": "oral", "po": "oral", "p.o.": "oral", "by mouth": "oral", "口服": "oral",
    "iv": "iv", "i.v.": "iv", "ivgtt": "iv", "静脉": "iv", "静注": "iv", "静脉滴注": "iv",
    "静滴": "iv", "静脉注射": "iv",
    "im": "im", "i.m.": "im", "肌注": "im", "肌内注射": "im", "肌肉注射": "im",
    "sc": "sc", "s.c.": "sc", "subcutaneous": "sc", "ih": "sc", "皮下注射": "sc", "皮下": "sc",
    "inhaled": "inhaled", "inh": "inhaled", "吸入": "inhaled",
    "topical": "topical", "外用": "topical",
    "rectal": "rectal", "pr": "rectal", "直肠": "rectal", "塞肛": "rectal",
    "sublingual": "sublingual", "sl": "sublingual", "舌下": "sublingual", "舌下含服": "sublingual",
}


class Dose(Model):
    """A single dose in canonical units: mg, mL or IU."""

    value: float = Field(gt=0, le=limits.MAX_MAGNITUDE)
    unit: Literal["mg", "mL", "IU"]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and set(raw) == {"value", "unit"} and raw["unit"] in (
            "mg", "mL", "IU"
        ) and isinstance(raw["value"], int | float):
            return raw
        value, dim = units.first_matching(raw, DOSE_DIMENSIONS)
        return {"value": value, "unit": dim.canonical}


class Frequency(Model):
    """How often a dose is given; ``times_per_day`` is None for ``prn``."""

    code: Code
    #: administrations per day: > 0 and at most limits.MAX_TIMES_PER_DAY (None: prn)
    times_per_day: float | None = Field(gt=0, le=limits.MAX_TIMES_PER_DAY)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "times_per_day" in raw:
            n = raw["times_per_day"]
            if n is None and "code" in raw:
                return raw  # an explicit prn
            if (isinstance(n, bool) or not isinstance(n, int | float)
                    or not 0 < n <= limits.MAX_TIMES_PER_DAY):
                raise ValueError(f"times_per_day must be a number greater than 0 and at most "
                                 f"{limits.MAX_TIMES_PER_DAY}, got {masked(n)}")
            if "code" in raw:
                return raw
            return {"code": f"{n:g}/d", "times_per_day": float(n)}
        if isinstance(raw, str):
            if len(raw) > limits.MAX_CODE_LENGTH:
                raise ValueError(f"frequency is longer than the limit of "
                                 f"{limits.MAX_CODE_LENGTH} characters")
            key = re.sub(r"[\s.]", "", raw).lower()
            if key in FREQUENCIES:
                return {"code": key, "times_per_day": FREQUENCIES[key]}
            if (normal := frequency_key(key)) in _FREQUENCY_INDEX:
                return {"code": key, "times_per_day": _FREQUENCY_INDEX[normal]}
            raise ValueError(
                f"unknown frequency {masked(raw)}; expected one of qd, bid, tid, qid, q4h, q6h, "
                "q8h, q12h, qn, qod, qw, prn, once or {\"times_per_day\": N}"
            )
        raise ValueError(f"frequency must be a code such as 'bid' or an object, got "
                         f"{masked(raw)}")


class Prescription(Model):
    """One prescribed drug. ``drug`` is an INN, Chinese name, alias or ATC code."""

    drug: Name = Field(min_length=1)
    dose: Dose | None = None
    route: Code | None = None
    frequency: Frequency | None = None
    duration: Days | None = Field(default=None, description="days supplied")
    #: dosage form when it changes the limits (an addition to the contract); also read
    #: from the drug name ("硝苯地平控释片")
    formulation: Name | None = None

    @field_validator("route", mode="before")
    @classmethod
    def _route(cls, raw: Any) -> Any:
        """Known spellings become route codes (口服, PO -> oral); others are kept."""
        if isinstance(raw, str):
            key = raw.strip().lower()
            return ROUTES.get(key, key) or None
        return raw

    @property
    def formulation_code(self) -> str | None:
        """The formulation code from ``formulation`` or, failing that, the drug name."""
        return formulation_of(self.formulation) or formulation_of(self.drug)

    @property
    def daily_dose(self) -> float | None:
        """Dose per day in ``dose.unit``; None when the frequency is prn or unknown."""
        if self.dose is None or self.frequency is None or self.frequency.times_per_day is None:
            return None
        return self.dose.value * self.frequency.times_per_day
