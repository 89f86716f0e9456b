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
        context = {"analytes": analytes, "words": words}
        if isinstance(data, str | bytes | bytearray):
            read = _read_json(cls, data, context)
            if read is not None:
                return read
            data = limits.load_json(data)  # the careful reading says what is wrong
        if not isinstance(data, dict):
            raise InputError([FieldProblem("$", f"expected a JSON object, got "
                                                f"{type(data).__name__}")])
        try:
            return cls.model_validate(data, context=context)
        except ValidationError as exc:
            raise input_error(exc) from None
        except UnicodeError:  # pydantic-core cannot take a lone surrogate ("\ud800")
            raise InputError([FieldProblem(_unpaired_surrogate(data),
                                           "text is not valid Unicode (an unpaired surrogate)")]
                             ) from None
        except (ArithmeticError, RecursionError) as exc:  # a value no validator foresaw
            raise InputError([FieldProblem("$", f"cannot be read ({type(exc).__name__})")]
                             ) from None


#: every byte that may be part of a JSON number as b"0", any other as b" ": a text
#: with 41 such bytes in a row may hold a number longer than the limit (or an id of 41
#: digits: no matter), and takes the careful path
_NUMBER_BYTES = bytes(48 if chr(i) in "-+.eE0123456789" else 32 for i in range(256))
_LONG_NUMBER = b"0" * (limits.MAX_NUMBER_LENGTH + 1)


def _read_json(cls: type[Encounter], data: str | bytes | bytearray,
               context: dict[str, Any]) -> Encounter | None:
    """An encounter read straight from its JSON text (``model_validate_json``: one pass,
    no Python dict in between), or None: the text is then read by
    :func:`cdss.limits.load_json` and validated as before, which gives every bad input
    its own message, so this path changes no outcome. It is taken only for a text
    within the limits (size; nesting and number length checked conservatively) that
    pydantic reads without any error; what it reads is what ``json.loads`` reads
    (pydantic refuses what Python's JSON reader would refuse or read otherwise: a
    control character in a string, a lone surrogate; NaN and Infinity are read alike;
    a byte-order mark or UTF-16 falls back)."""
    if len(data) > limits.MAX_JSON_SIZE:
        return None
    if isinstance(data, str):
        data = data.removeprefix("\ufeff").encode("utf-8", "surrogatepass")
    if (data.count(b"[") + data.count(b"{") > limits.MAX_JSON_DEPTH
            or _LONG_NUMBER in data.translate(_NUMBER_BYTES)):
        return None
    try:
        return cls.model_validate_json(data, context=context)
    except Exception:  # any failure: the careful path reads it again, and says why
        return None


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
