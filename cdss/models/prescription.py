"""Prescriptions: drug name as written, dose, route, frequency and duration."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from cdss import limits, units
from cdss.errors import masked
from cdss.models._base import Code, Days, Model, Name
from cdss.models.catalogue import words
from cdss.models.rx_extras import SkinTestField, SlipId

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


def frequency_index(frequencies: dict[str, float | None]) -> dict[str, float | None]:
    """Frequency words by :func:`frequency_key` (cached per table by the caller)."""
    return {frequency_key(k): v for k, v in frequencies.items()}


_INDEXES: dict[int, tuple[object, dict[str, float | None]]] = {}


def _indexed(frequencies: Any) -> dict[str, float | None]:
    """The index of a frequency table, built once per table object."""
    held = _INDEXES.get(id(frequencies))
    if held is None or held[0] is not frequencies:
        held = (frequencies, frequency_index(dict(frequencies)))
        _INDEXES[id(frequencies)] = held
    return held[1]


DOSE_DIMENSIONS = (units.MASS, units.VOLUME, units.ACTIVITY)

#: the canonical units of a dose: a mass, a volume, international units, or a count of
#: dosage units (:data:`cdss.units.DOSAGE_UNITS`: tablets, capsules, sachets...)
DoseUnit = Literal["mg", "mL", "IU", "tablet", "capsule", "sachet", "ampoule", "pill"]


class Dose(Model):
    """A single dose in canonical units: mg, mL or IU, or a number of dosage units
    (``"2 片"`` is 2 ``tablet``; the words are the knowledge's ``dosage_units``)."""

    value: float = Field(gt=0, le=limits.MAX_MAGNITUDE)
    unit: DoseUnit

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any, info: ValidationInfo) -> Any:
        if isinstance(raw, dict) and set(raw) == {"value", "unit"} and raw["unit"] in (
            "mg", "mL", "IU"
        ) and isinstance(raw["value"], int | float):
            return raw
        vocabulary = words(info)
        # read once, for both (each would raise the same UnitProblem for a bad quantity)
        split = units.split_quantity(raw)
        counted = units.dosage_unit_dose(
            raw, getattr(vocabulary, "dosage_units", None) if vocabulary is not None else None,
            split)
        if counted is not None:
            return {"value": counted[0], "unit": counted[1]}
        value, dim = units.first_matching(raw, DOSE_DIMENSIONS, split)
        return {"value": value, "unit": dim.canonical}

    @property
    def counted(self) -> bool:
        """A number of dosage units (tablets, capsules...), not a quantity."""
        return self.unit in units.DOSAGE_UNITS


class Frequency(Model):
    """How often a dose is given; ``times_per_day`` is None for ``prn``."""

    code: Code
    #: administrations per day: > 0 and at most limits.MAX_TIMES_PER_DAY (None: prn)
    times_per_day: float | None = Field(gt=0, le=limits.MAX_TIMES_PER_DAY)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any, info: ValidationInfo) -> Any:
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
            vocabulary = words(info)
            table = vocabulary.frequencies if vocabulary is not None else {}
            if key in table:
                return {"code": key, "times_per_day": table[key]}
            index = _indexed(table)
            if (normal := frequency_key(key)) in index:
                return {"code": key, "times_per_day": index[normal]}
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
    #: the prescription slip (处方笺) the item is written on; skin test before a drug whose
    #: label requires one (additions to the contract, issue #15)
    slip: SlipId | None = None
    skin_test: SkinTestField | None = None

    @field_validator("route", mode="before")
    @classmethod
    def _route(cls, raw: Any, info: ValidationInfo) -> Any:
        """Known spellings become route codes (口服, PO -> oral); others are kept."""
        if isinstance(raw, str):
            key = raw.strip().lower()
            vocabulary = words(info)
            routes = vocabulary.routes if vocabulary is not None else {}
            return routes.get(key, key) or None
        return raw

    @property
    def daily_dose(self) -> float | None:
        """Dose per day in ``dose.unit``; None when the frequency is prn or unknown."""
        if self.dose is None or self.frequency is None or self.frequency.times_per_day is None:
            return None
        return self.dose.value * self.frequency.times_per_day
