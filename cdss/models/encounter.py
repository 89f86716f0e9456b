"""The encounter: one visit, the root of the input JSON (contract section 2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError

from cdss import limits
from cdss.errors import FieldProblem, InputError
from cdss.models._base import (
    Date,
    DateTime,
    Id,
    MmHg,
    Model,
    Name,
    ShortText,
    format_loc,
    input_error,
)
from cdss.models.catalogue import Analytes, WordsLike
from cdss.models.labs import LabResult
from cdss.models.patient import Patient
from cdss.models.prescription import Prescription
from cdss.models.record import MedicalRecord
from cdss.models.rx_extras import Setting
from cdss.models.vitals import Glucose, VitalSigns


def _visit_type(value: Any) -> Any:
    words = {"初诊": "first", "复诊": "return"}
    return words.get(value.strip(), value) if isinstance(value, str) else value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Followup(Model):
    """A past chronic-disease follow-up visit."""

    date: Date
    condition: Name | None = None
    sbp: MmHg | None = None
    dbp: MmHg | None = None
    #: the fasting glucose of that follow-up (also read as ``fpg`` or ``fasting_glucose``)
    glucose: Glucose | None = Field(
        default=None, validation_alias=AliasChoices("glucose", "fpg", "fasting_glucose"))


class History(Model):
    """What is known from earlier visits."""

    followups: list[Followup] = Field(default_factory=list, max_length=limits.MAX_FOLLOWUPS)


class Encounter(Model):
    """One visit. Only ``id``, ``time`` and ``patient.id`` are required."""

    id: Id
    time: DateTime
    visit_type: Annotated[Literal["first", "return"], BeforeValidator(_visit_type)] | None = None
    #: where the visit took place (a van, township health centre or village clinic);
    #: reviewers' audits group by it
    site: Name | None = None
    #: facility level and prescriber's title, for the antimicrobial tiers (issue #15)
    setting: Setting | None = None
    patient: Patient
    vitals: VitalSigns | None = None
    labs: list[LabResult] = Field(default_factory=list, max_length=limits.MAX_LABS)
    #: a list of free-text terms; one text instead of a list is read as a list of one
    symptoms: Annotated[list[ShortText], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, max_length=limits.MAX_SYMPTOMS)
    record: MedicalRecord | None = None
    prescriptions: list[Prescription] = Field(default_factory=list,
                                              max_length=limits.MAX_PRESCRIPTIONS)
    history: History | None = None

    @classmethod
    def parse(cls, data: Encounter | dict[str, Any] | str | bytes, *,
              analytes: Analytes | None = None, words: WordsLike | None = None) -> Encounter:
        """Read an encounter from a model, a dict or a JSON text.

        ``analytes``: the catalogue lab values and glucose are converted with;
        ``words``: the frequency and route words of prescriptions (an engine passes its
        knowledge's; default: :mod:`cdss.models.catalogue`).

        A JSON text is read within the limits of :mod:`cdss.limits` (size, nesting,
        number length); every field within its own.

        :raises cdss.InputError: naming every bad field by its path (and the limit
            it passed, if any); never another exception for bad data.
        """
        if isinstance(data, Encounter):
            return data
        if isinstance(data, str | bytes | bytearray):
            data = limits.load_json(data)
        if not isinstance(data, dict):
            raise InputError([FieldProblem("$", f"expected a JSON object, got "
                                                f"{type(data).__name__}")])
        try:
            return cls.model_validate(data, context={"analytes": analytes, "words": words})
        except ValidationError as exc:
            raise input_error(exc) from None
        except UnicodeError:  # pydantic-core cannot take a lone surrogate ("\ud800")
            raise InputError([FieldProblem(_unpaired_surrogate(data),
                                           "text is not valid Unicode (an unpaired surrogate)")]
                             ) from None
        except (ArithmeticError, RecursionError) as exc:  # a value no validator foresaw
            raise InputError([FieldProblem("$", f"cannot be read ({type(exc).__name__})")]
                             ) from None


def _unpaired_surrogate(data: Any) -> str:
    """The path of the first text (key or value) that is not valid Unicode, or ``$``."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and not _encodable(key):
                    return format_loc(path)
                stack.append(((*path, key), value))
        elif isinstance(node, list | tuple):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return format_loc(path)
    return "$"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
