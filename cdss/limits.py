"""Input limits: part of the public contract (docs/contract-additions.md, "Limits").

These are engineering limits, not clinical numbers: each is far above anything a
real visit contains and low enough that one hostile or corrupt record cannot
freeze, exhaust or crash the host (an EMR that embeds cdss, an audit of millions
of records). Past a limit, :class:`cdss.InputError` names the field and the limit.
Clinical plausibility (an SBP of 900) is a separate, knowledge-driven check.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from itertools import accumulate
from typing import Any

from cdss.errors import FieldProblem, InputError

#: Identifiers (encounter, patient): EMR keys and UUIDs are under 64 characters.
MAX_ID_LENGTH = 128
#: Short names: a drug as written, an allergen, a condition name, physician, site,
#: formulation. The longest Chinese trade name plus strength and form is under 60.
MAX_NAME_LENGTH = 200
#: Codes: ICD-10, lab codes, routes, frequency words, units (the longest used is under 20).
MAX_CODE_LENGTH = 64
#: One symptom as written ("活动后胸闷气短三天"), or a lab result given as text.
MAX_SHORT_TEXT_LENGTH = 500
#: One free-text section of the written record (主诉, 现病史...). A long
#: 现病史 is a few thousand characters; 20,000 bounds the text the lexicons scan.
MAX_TEXT_LENGTH = 20_000
#: A quantity written as text ("7.8 mmol/L"): number, space and unit.
MAX_QUANTITY_LENGTH = 64
#: The unit of a quantity ("mmol/L", "×10^9/L").
MAX_UNIT_LENGTH = 32
#: Unit terms joined by "/", "·" or "*" ("mg/kg/d" has 3).
MAX_UNIT_TERMS = 4

#: Items per list. An outpatient visit has under 20 prescriptions; pairwise rules
#: (interactions, duplicates) grow with the square of the count.
MAX_PRESCRIPTIONS = 50
#: Lab results sent with one visit (older results included).
MAX_LABS = 500
MAX_ALLERGIES = 50
MAX_CONDITIONS = 100
MAX_DIAGNOSES = 50
MAX_SYMPTOMS = 100
#: Past follow-up visits (monthly visits for 40 years is 480).
MAX_FOLLOWUPS = 500

#: Size of an encounter given as JSON text (bytes, or characters of a str).
MAX_JSON_SIZE = 4 * 1024 * 1024
#: Nesting of JSON arrays and objects; the schema itself needs 5.
MAX_JSON_DEPTH = 64
#: Characters of one JSON number literal (Python refuses int strings > 4,300 digits).
MAX_NUMBER_LENGTH = 40

#: Magnitude of any number in a quantity, as sent and in its canonical unit.
#: Far above any dose, vital or lab value in any unit (1e9 mg is a tonne), and far
#: below where floats lose integers or the rules engine's JSON switches to
#: exponent form (1e15).
MAX_MAGNITUDE = 1e9
#: Administrations per day given as ``times_per_day``: more than once a minute is
#: not a frequency a prescription states. Must also be > 0.
MAX_TIMES_PER_DAY = 1440

#: Years of every date and time (visit, birth, follow-up, lab, signature).
MIN_YEAR = 1900
MAX_YEAR = 2100


def check_year(value: date | datetime) -> date | datetime:
    """A date or datetime with its year in [MIN_YEAR, MAX_YEAR]; raises ValueError."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"date out of range: the year must be between {MIN_YEAR} and "
                         f"{MAX_YEAR}")
    return value


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text, in linear time and
    without recursion (brackets inside strings are not counted)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


class _TooLong(Exception):
    pass


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_LENGTH:
            raise _TooLong
        return kind(text)
    return parse


def _problem(message: str) -> InputError:
    return InputError([FieldProblem("$", message)])


def load_json(data: str | bytes | bytearray) -> Any:
    """Parse an encounter's JSON text within the limits (size, depth, number length).

    A UTF-8 byte-order mark is accepted. Every failure is an :class:`InputError` on
    ``$`` (never RecursionError, ValueError or UnicodeDecodeError).
    """
    if len(data) > MAX_JSON_SIZE:
        raise _problem(f"the JSON text is larger than the limit of {MAX_JSON_SIZE} "
                       f"{'bytes' if not isinstance(data, str) else 'characters'}")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode(json.detect_encoding(data))
        except (UnicodeDecodeError, LookupError) as exc:
            at = f" (at byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
            raise _problem(f"not valid Unicode text (UTF-8 expected){at}") from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise _problem(f"JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float))
    except _TooLong:
        raise _problem(f"a number in the JSON text is longer than the limit of "
                       f"{MAX_NUMBER_LENGTH} characters") from None
    except json.JSONDecodeError as exc:
        # "Invalid control character at": the message ends with "at" already
        raise _problem(f"not valid JSON: {exc.msg.removesuffix(' at')} at line {exc.lineno} "
                       f"column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise _problem(f"not valid JSON ({type(exc).__name__})") from None
