"""Deterministic synthetic encounters for demos, notebooks and benchmarks.

Every encounter is one of the bundled samples (``cdss/samples/enc-*.json``) with a new
id, a physician and site from a small pool, its vitals moved within the range the
samples themselves span, and, for some, record sections deleted so that the record
quality findings vary. No clinical number is invented here: the ranges come from the
samples, and a sample value outside ``knowledge/plausibility.yaml`` (a deliberate
data-entry error) is kept as it is. Optionally a share of the inputs is bad (broken
JSON text or a required field missing), for demonstrating error handling.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cdss._resources import samples_dir
from cdss.kb.analytes import plausibility_table
from cdss.models.record import TEXT_SECTIONS
from cdss.units import UnitProblem, split_quantity

#: who signs the synthetic records (record.physician)
PHYSICIANS = ("张医生", "李医生", "王医生", "陈医生", "刘医生", "赵医生")
#: where the synthetic visits take place (encounter.site)
SITES = ("医疗车一号", "医疗车二号", "镇卫生院", "村卫生室")
#: share of records that lose one or two text sections
DROP_SHARE = 1 / 4
#: a vital moves by at most (sample range) / JITTER around the sample's own value
JITTER = 4
#: vitals moved together (by the same share of their range): diastolic with systolic
LINKED = {"dbp": "sbp"}
#: the visit is moved by up to this many days after the sample's time
MAX_SHIFT_DAYS = 7
#: fields whose dates are not moved with the visit (``months``)
FIXED_DATES = frozenset({"birth_date"})
#: required fields a "missing field" bad input lacks (one of them)
REQUIRED = (("id",), ("time",), ("patient", "id"), ("patient",))


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    integral: bool
    unit: str


@cache
def _samples() -> tuple[dict[str, Any], ...]:
    """The bundled sample encounters (without their ``description``), by file name."""
    out = []
    for path in sorted(samples_dir().glob("enc-*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("description", None)
        out.append(data)
    if not out:
        raise FileNotFoundError(f"no sample encounters in {samples_dir()}")
    return tuple(out)


def _reading(raw: Any, unit: str) -> float | None:
    """A vital's number when it is written in ``unit`` (or bare); else None."""
    try:
        value, written = split_quantity(raw)
    except UnitProblem:
        return None
    return value if written in (None, unit) else None


@cache
def _ranges() -> dict[str, _Range]:
    """Per vital: the span of the plausible sample values (plausibility from knowledge)."""
    ranges: dict[str, _Range] = {}
    for path, bound in plausibility_table().vitals.items():
        section, _, name = path.partition(".")
        if section != "vitals":
            continue
        raws = [s["vitals"][name] for s in _samples() if name in (s.get("vitals") or {})]
        values = [v for v in (_reading(r, bound.unit) for r in raws)
                  if v is not None and bound.low <= v <= bound.high]
        if len(set(values)) > 1:
            integral = all(v.is_integer() for v in values)
            ranges[name] = _Range(min(values), max(values), integral, bound.unit)
    return ranges


def _vary_vitals(vitals: dict[str, Any], rng: random.Random) -> None:
    draws: dict[str, float] = {}
    for name, span in _ranges().items():
        draws[name] = draws.get(LINKED.get(name, ""), rng.uniform(-1.0, 1.0))
        if name not in vitals:
            continue
        raw = vitals[name]
        value = _reading(raw, span.unit)
        if value is None or not span.low <= value <= span.high:
            continue  # another unit, or a deliberate data-entry error: kept as it is
        shift = draws[name] * (span.high - span.low) / JITTER
        new = min(span.high, max(span.low, value + shift))
        number: int | float = round(new) if span.integral else round(new, 1)
        if isinstance(raw, str):
            _, written = split_quantity(raw)
            vitals[name] = f"{number} {written}" if written else str(number)
        else:
            vitals[name] = number


def _shift(stamp: str, delta: timedelta) -> str:
    return (datetime.fromisoformat(stamp) + delta).isoformat()


def _encounter(base: dict[str, Any], uid: str, rng: random.Random) -> dict[str, Any]:
    enc = copy.deepcopy(base)
    enc["id"] = uid
    enc["site"] = rng.choice(SITES)
    enc["patient"]["id"] = f"{enc['patient']['id']}-{uid}"
    delta = timedelta(days=rng.randrange(MAX_SHIFT_DAYS))
    enc["time"] = _shift(enc["time"], delta)
    if enc.get("vitals"):
        _vary_vitals(enc["vitals"], rng)
    record = enc.get("record")
    if record:
        record["physician"] = rng.choice(PHYSICIANS)
        if record.get("signed_at"):
            record["signed_at"] = _shift(record["signed_at"], delta)
        if rng.random() < DROP_SHARE:
            present = [s for s in TEXT_SECTIONS if record.get(s)]
            for section in rng.sample(present, min(len(present), rng.randint(1, 2))):
                del record[section]
    return enc


def _months_back(stamp: str, k: int) -> str:
    """An ISO date or time ``k`` months earlier (the day kept, at most the 28th)."""
    moment = datetime.fromisoformat(stamp)
    year, month = divmod(moment.year * 12 + moment.month - 1 - k, 12)
    moved = moment.replace(year=year, month=month + 1, day=min(moment.day, 28))
    return moved.date().isoformat() if len(stamp) == len("YYYY-MM-DD") else moved.isoformat()


def _move_dates(value: Any, k: int) -> Any:
    """Every ISO date or time in ``value`` (but FIXED_DATES) ``k`` months earlier, so
    that the intervals within the encounter stay as they were."""
    if isinstance(value, dict):
        return {key: v if key in FIXED_DATES else _move_dates(v, k) for key, v in value.items()}
    if isinstance(value, list):
        return [_move_dates(v, k) for v in value]
    if isinstance(value, str) and len(value) >= len("YYYY-MM-DD") and value[4:5] == "-":
        try:
            return _months_back(value, k)
        except ValueError:
            return value
    return value


def _spoil(enc: dict[str, Any], rng: random.Random) -> dict[str, Any] | str:
    """A bad input: broken JSON text, or the encounter without a required field."""
    if rng.random() < 1 / 2:
        text = json.dumps(enc, ensure_ascii=False)
        return text[: len(text) // 2]
    *parents, leaf = rng.choice(REQUIRED)
    target = enc
    for key in parents:
        target = target[key]
    del target[leaf]
    return enc


def encounters(n: int, *, seed: int = 0, bad_share: float = 0.0, months: int = 1
               ) -> Iterator[dict[str, Any] | str]:
    """Yield ``n`` synthetic encounters, the same ones for the same ``seed``.

    Ids are ``syn<seed>-<index>``, unique within a seed and across seeds; the first
    ``k`` items do not depend on ``n``. With
    ``bad_share`` > 0 about that share of the items is bad: a ``str`` holding broken
    JSON, or a dict lacking a required field. With the default 0 every item is a dict
    that :meth:`cdss.Encounter.parse` accepts. With ``months`` > 1 each visit (and
    every date in it but the birth date) is moved back by 0 to ``months - 1`` whole
    months, so that the visits span that many months (for trends and partitions); the
    rest of each encounter is the same as with ``months=1``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"bad_share must be between 0 and 1, got {bad_share}")
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    rng = random.Random(seed)
    spread = random.Random(f"{seed}:months")  # its own stream: months moves nothing else
    bad = random.Random(f"{seed}:bad")  # separate stream: bad_share does not move the rest
    samples = _samples()
    for i in range(n):
        enc = _encounter(rng.choice(samples), f"syn{seed}-{i}", rng)
        if months > 1:
            enc = _move_dates(enc, spread.randrange(months))
        yield _spoil(enc, bad) if bad.random() < bad_share else enc


def write_jsonl(path: str | Path, n: int, *, seed: int = 0, bad_share: float = 0.0,
                months: int = 1) -> Path:
    """Write ``encounters(n, seed=..., bad_share=..., months=...)`` to ``path``, one per
    line; streamed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for item in encounters(n, seed=seed, bad_share=bad_share, months=months):
            line = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            fh.write(line + "\n")
    return path
