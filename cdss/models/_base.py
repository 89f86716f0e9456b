"""Shared model configuration and quantity field types."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic import StringConstraints as Length

from cdss import limits, units
from cdss.errors import FieldProblem, InputError


class Model(BaseModel):
    """Base of every input model: immutable, no NaN/inf, unknown keys ignored."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", allow_inf_nan=False, str_strip_whitespace=True
    )


def _quantity(dimension: units.Dimension, *, bare_ok: bool):
    limit = limits.MAX_MAGNITUDE

    def parse(raw: Any) -> Any:
        if raw is None:
            return None
        # a bare float or int within the limit (the common case) is to_canonical's
        # answer as it is: split_quantity -> bounded -> float(raw); anything else (bool,
        # NaN, a subclass, a text) takes the full path and its messages (issue #17)
        if bare_ok and (type(raw) is float or type(raw) is int) and -limit <= raw <= limit:
            return float(raw)
        return units.to_canonical(raw, dimension, bare_ok=bare_ok)

    return BeforeValidator(parse)


#: Vital-sign quantities: bare numbers are read in the canonical unit.
MmHg = Annotated[float, _quantity(units.PRESSURE, bare_ok=True)]
PerMinute = Annotated[float, _quantity(units.RATE, bare_ok=True)]
Celsius = Annotated[float, _quantity(units.TEMPERATURE, bare_ok=True)]
Percent = Annotated[float, _quantity(units.PERCENT, bare_ok=True)]
Kilograms = Annotated[float, _quantity(units.BODY_WEIGHT, bare_ok=True)]
Centimetres = Annotated[float, _quantity(units.LENGTH, bare_ok=True)]
#: Durations must carry a unit ("28 d", "4 wk").
Days = Annotated[float, _quantity(units.DURATION, bare_ok=False)]

#: Text fields, each bounded by its limit (cdss.limits; docs/contract-additions.md).
Id = Annotated[str, Length(min_length=1, max_length=limits.MAX_ID_LENGTH)]
Name = Annotated[str, Length(max_length=limits.MAX_NAME_LENGTH)]
Code = Annotated[str, Length(max_length=limits.MAX_CODE_LENGTH)]
ShortText = Annotated[str, Length(max_length=limits.MAX_SHORT_TEXT_LENGTH)]
Text = Annotated[str, Length(max_length=limits.MAX_TEXT_LENGTH)]


def _year_in_range(value: Any) -> Any:
    return limits.check_year(value) if isinstance(value, date) else value


#: Wraps a date or datetime type (or a union of them) to bound its year.
InRange = AfterValidator(_year_in_range)
Date = Annotated[date, InRange]
DateTime = Annotated[datetime, InRange]


def format_loc(loc: tuple[Any, ...]) -> str:
    """``('prescriptions', 0, 'dose')`` -> ``prescriptions[0].dose``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part) or str(part).startswith("function-"):
            continue  # pydantic's internal tags for unions and validators
        else:
            out += f".{part}" if out else str(part)
    return out or "$"


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if err.get("type") == "missing":
        return "required field is missing"
    if err.get("type") == "extra_forbidden":
        return "unexpected field"
    return msg


def input_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> InputError:
    """Turn a pydantic ValidationError into one InputError naming every field."""
    problems = [
        FieldProblem(format_loc(prefix + tuple(err["loc"])), _message(err)) for err in exc.errors()
    ]
    return InputError(problems)


#: yes/no as Chinese EMRs write it (pydantic already reads true/false, yes/no, 1/0)
_YES_NO = {"是": True, "有": True, "否": False, "无": False, "没有": False}


def _yes_no(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in _YES_NO:
        return _YES_NO[value.strip()]
    return value


#: a flag: true/false, or 是/否, 有/无
Flag = Annotated[bool, BeforeValidator(_yes_no)]
