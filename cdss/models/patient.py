"""The patient: demographics, body size, allergies and problem list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from cdss import limits
from cdss.models._base import (
    Centimetres,
    Code,
    Date,
    Flag,
    Id,
    Kilograms,
    Model,
    Name,
    ShortText,
)

#: sex as Chinese EMRs and HL7 v2 write it, besides the contract's words
_SEX_WORDS = {"男": "male", "男性": "male", "m": "male", "女": "female", "女性": "female",
              "f": "female", "其他": "other", "未知": "unknown", "u": "unknown"}


def _sex(value: Any) -> Any:
    if isinstance(value, str):
        return _SEX_WORDS.get(value.strip().lower(), value.strip().lower())
    return value


Sex = Annotated[Literal["male", "female", "other", "unknown"], BeforeValidator(_sex)]


class Allergy(Model):
    """A recorded allergy (free-text substance, optional reaction)."""

    substance: Name = Field(min_length=1)
    reaction: ShortText | None = None


class Condition(Model):
    """An ICD-10 coded condition or diagnosis (form is checked by a quality rule)."""

    code: Code
    name: Name | None = None


class Patient(Model):
    """The patient as of this encounter. Only ``id`` is required."""

    id: Id
    sex: Sex = "unknown"
    birth_date: Date | None = None
    pregnant: Flag | None = None
    #: breastfeeding (an addition to the contract; absent means not recorded)
    lactating: Flag | None = None
    weight: Kilograms | None = None
    height: Centimetres | None = None
    allergies: list[Allergy] = Field(default_factory=list, max_length=limits.MAX_ALLERGIES)
    #: ``True`` with no allergies means "no known allergies"; ``None`` means not asked.
    allergies_reviewed: Flag | None = None
    #: ``None`` (absent) means the problem list was not sent: it is not "no conditions".
    conditions: list[Condition] | None = Field(default=None, max_length=limits.MAX_CONDITIONS)
