"""The contract's batch audit: nothing lost, counts add up."""

from __future__ import annotations

import json

from conftest import SAMPLES, sample


def test_audit_of_an_iterable_keeps_every_input(engine) -> None:
    good = [sample("enc-007"), sample("enc-011")]
    bad = [{"id": "broken", "time": "not a time", "patient": {"id": "p"}}, "not json"]
    result = engine.audit(good + bad)
    assert result.checked == 2 and len(result.errors) == 2 and result.inputs == 4
    assert result.errors[0]["encounter_id"] == "broken" and "time" in result.errors[0]["error"]
    assert {r["encounter_id"] for r in result.rows} == {"enc-007"}
    assert result.rows[0]["severity"] == "critical"


def test_audit_streams_a_jsonl_file(engine, tmp_path) -> None:
    path = tmp_path / "batch.jsonl"
    lines = [json.dumps(json.loads(p.read_text(encoding="utf-8")), ensure_ascii=False)
             for p in sorted(SAMPLES.glob("*.json"))]
    path.write_text("\n".join([*lines, "{oops", ""]), encoding="utf-8")
    result = engine.audit(path)
    assert result.checked == len(lines) and result.errors[0]["input"] == f"line {len(lines) + 1}"
    per_encounter = sum(len(engine.check(json.loads(x)).suggestions) for x in lines)
    assert len(result.rows) == per_encounter
