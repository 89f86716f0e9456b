"""The patient: demographics, body size, allergies and problem list."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdss import limits
from cdss.models._base import Centimetres, Code, Date, Id, Kilograms, Model, Name, ShortText

Sex = Literal["male", "female", "other", "unknown"]


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
    pregnant: bool | None = None
    #: breastfeeding (an addition to the contract; absent means not recorded)
    lactating: bool | None = None
    weight: Kilograms | None = None
    height: Centimetres | None = None
    allergies: list[Allergy] = Field(default_factory=list, max_length=limits.MAX_ALLERGIES)
    #: ``True`` with no allergies means "no known allergies"; ``None`` means not asked.
    allergies_reviewed: bool | None = None
    #: ``None`` (absent) means the problem list was not sent: it is not "no conditions".
    conditions: list[Condition] | None = Field(default=None, max_length=limits.MAX_CONDITIONS)
