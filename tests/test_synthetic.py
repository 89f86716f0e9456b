"""The synthetic encounter generator behind the notebook and the benchmark."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import cdss
from cdss.models.record import TEXT_SECTIONS
from cdss.synthetic import PHYSICIANS, SITES, encounters, write_jsonl


def test_deterministic_for_a_seed() -> None:
    assert list(encounters(50, seed=3)) == list(encounters(50, seed=3))
    assert list(encounters(50, seed=3)) != list(encounters(50, seed=4))


def test_a_prefix_does_not_depend_on_n() -> None:
    assert list(encounters(20, seed=1))[:10] == list(encounters(10, seed=1))


def test_ids_unique_within_and_across_seeds() -> None:
    ids = [e["id"] for seed in (0, 1) for e in encounters(500, seed=seed)]
    assert len(ids) == len(set(ids)) == 1000


def test_every_good_encounter_parses() -> None:
    for raw in encounters(300, seed=5):
        enc = cdss.Encounter.parse(raw)
        assert enc.id == raw["id"]
        assert enc.site in SITES
        if enc.record is not None:
            assert enc.record.physician in PHYSICIANS


def test_variety_physicians_sites_and_deleted_sections() -> None:
    items = list(encounters(400, seed=0))
    assert {e["record"]["physician"] for e in items if e.get("record")} == set(PHYSICIANS)
    assert {e["site"] for e in items} == set(SITES)
    with_record = [e["record"] for e in items if e.get("record")]
    incomplete = [r for r in with_record if any(s not in r for s in TEXT_SECTIONS)]
    assert 0 < len(incomplete) < len(with_record)
    sbp = {str(e["vitals"]["sbp"]) for e in items if e.get("vitals")}
    assert len(sbp) > 20  # varied, not only the 12 sample values


def test_vitals_stay_within_the_span_of_the_samples() -> None:
    from cdss.synthetic import _ranges, _reading

    for e in encounters(300, seed=2):
        for name, span in _ranges().items():
            raw = (e.get("vitals") or {}).get(name)
            value = None if raw is None else _reading(raw, span.unit)
            if value is not None and value != 400 and value != 55:  # enc-010's entry errors
                assert span.low <= value <= span.high, (e["id"], name, raw)


def test_bad_share_is_honoured_approximately() -> None:
    assert all(isinstance(e, dict) for e in encounters(200, seed=0))
    n, share = 2000, 0.1
    bad = 0
    for item in encounters(n, seed=7, bad_share=share):
        try:
            cdss.Encounter.parse(item)
        except cdss.InputError:
            bad += 1
    assert abs(bad / n - share) < 0.03
    kinds = Counter(type(i).__name__ for i in encounters(n, seed=7, bad_share=share))
    assert kinds["str"] > 0  # some are broken JSON text


def test_bad_share_does_not_change_the_ids() -> None:
    def ids(items):
        return [i["id"] for i in items if isinstance(i, dict) and "id" in i]

    good = ids(encounters(100, seed=2))
    assert set(ids(encounters(100, seed=2, bad_share=0.2))) <= set(good)


def test_arguments_checked() -> None:
    with pytest.raises(ValueError):
        list(encounters(-1))
    with pytest.raises(ValueError):
        list(encounters(1, bad_share=1.5))


def test_write_jsonl(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "sub" / "enc.jsonl", 123, seed=4, bad_share=0.1)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 123
    parsed = 0
    for line in lines:
        try:
            json.loads(line)
            parsed += 1
        except json.JSONDecodeError:
            pass
    assert 0 < parsed < 123
    clean = write_jsonl(tmp_path / "clean.jsonl", 40, seed=4)
    assert [json.loads(x) for x in clean.read_text(encoding="utf-8").splitlines()] == list(
        encounters(40, seed=4))



def test_months_spreads_the_visits_and_moves_their_dates_together() -> None:
    from datetime import datetime

    from cdss.synthetic import encounters

    plain = list(encounters(60, seed=4))
    assert list(encounters(60, seed=4, months=1)) == plain  # the default is unchanged
    spread = list(encounters(60, seed=4, months=6))
    assert len({e["time"][:7] for e in spread}) == 6
    for a, b in zip(plain, spread, strict=True):
        assert (a["id"], a.get("site")) == (b["id"], b.get("site"))
        assert a["patient"].get("birth_date") == b["patient"].get("birth_date")
        signed = (a.get("record") or {}).get("signed_at")
        if signed:  # the record is signed as long after the visit as before
            gap = lambda e: (datetime.fromisoformat(e["record"]["signed_at"])  # noqa: E731
                             - datetime.fromisoformat(e["time"]))
            assert gap(a) == gap(b)
    with pytest.raises(ValueError, match="months"):
        next(encounters(1, months=0))
