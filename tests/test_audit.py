"""The contract's batch audit: nothing lost, counts add up."""

from __future__ import annotations

import dataclasses
import json

import pytest

import cdss
from cdss.cli import main

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


# ---------------------------------------------------------------------------------
# Reviewers' audit: tables, summaries, files, plots, HTML, CLI
# ---------------------------------------------------------------------------------

def _samples() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]


def _batch() -> list:
    """The samples twice, at two sites, plus two unreadable inputs."""
    out: list = []
    for n, enc in enumerate(_samples() * 2):
        out.append({**enc, "id": f"{enc['id']}-{n}", "site": "van-1" if n % 2 else "van-2"})
    return [*out, "not json", {"id": "no-time", "patient": {"id": "p"}}]


@pytest.fixture(scope="module")
def batch_result() -> cdss.AuditResult:
    return cdss.Engine(lang="en", backend="python").audit(_batch(), progress=False)


def test_counts_add_up_and_rows_carry_physician_and_site(batch_result) -> None:
    r = batch_result
    assert r.inputs == len(_batch()) and len(r.errors) == 2
    assert r.suggestion_count == len(r.rows) == len(r.to_pandas())
    assert set(r.to_pandas()["site"]) == {"van-1", "van-2"}
    assert list(r.to_pandas().columns) == list(cdss.audit.ROW_COLUMNS)
    assert len(r.encounters_frame()) == r.checked
    ids = r.errors_frame()["encounter_id"]
    assert ids.isna().tolist() == [True, False] and ids.iloc[1] == "no-time"


def test_summary_agrees_with_the_rows(batch_result) -> None:
    df = batch_result.to_pandas()
    summary = batch_result.summary()
    assert set(summary) == {"rule", "kind", "category", "severity", "physician", "site"}
    for dim, column in [("rule", "rule_id"), ("kind", "kind"), ("severity", "severity"),
                        ("site", "site"), ("physician", "physician")]:
        expected = df.groupby(column).size().sort_index()
        got = summary[dim]["suggestions"]
        got = got[got > 0].sort_index()
        assert dict(got) == dict(expected), dim
        with_one = df.groupby(column)["encounter_id"].nunique()
        assert dict(summary[dim]["encounters"][with_one.index]) == dict(with_one), dim
    rule = summary["rule"]
    assert (rule["rate"] == rule["encounters"] / batch_result.checked).all()


def test_compliance_overall_by_physician_and_by_site(batch_result) -> None:
    frame = batch_result.encounters_frame()
    records = frame[frame["compliant"].notna()]  # encounters sent without a record: no
    assert 0 < len(records) < len(frame)         # record to judge (enc-013 has none)
    assert batch_result.compliance_rate() == records["compliant"].astype(bool).mean()
    by_site = batch_result.compliance_by_site()
    for site, group in records.groupby("site"):
        assert by_site[site]["records"] == len(group)
        assert by_site[site]["rate"] == group["compliant"].astype(bool).mean()
    assert sum(v["records"] for v in batch_result.compliance_by_physician().values()) == \
        batch_result.with_record == len(records)


def test_counts_only_gives_the_same_summary_without_rows() -> None:
    engine = cdss.Engine(lang="en", backend="python")
    full = engine.audit(_batch(), progress=False)
    lean = engine.audit(_batch(), progress=False, keep_rows=False)
    assert lean.rows == [] and lean.records == [] and lean.errors == full.errors
    assert lean.tally == full.tally and lean.compliance_rate() == full.compliance_rate()
    with pytest.raises(ValueError, match="keep_rows=False"):
        lean.to_pandas()


def test_parts_combine_to_the_whole(batch_result) -> None:
    engine = cdss.Engine(lang="en", backend="python")
    items = list(cdss.audit.items(_batch()))
    half = len(items) // 2
    parts = [cdss.audit.audit_items(engine, items[:half]),
             cdss.audit.audit_items(engine, items[half:])]
    whole = cdss.AuditResult.combine(parts)
    assert whole.rows == batch_result.rows and whole.errors == batch_result.errors
    assert whole.tally == batch_result.tally and whole.checked == batch_result.checked


def test_a_dataframe_with_one_encounter_per_row(engine) -> None:
    pd = pytest.importorskip("pandas")
    encounters = _samples()
    frame = pd.DataFrame(encounters)  # absent columns come back as NaN: dropped
    from_frame = engine.audit(frame, progress=False)
    from_list = engine.audit(encounters, progress=False)
    # the same rows; only where each was read differs ("row 0" and "item 0")
    assert [{**r, "input": None} for r in from_frame.rows] == \
        [{**r, "input": None} for r in from_list.rows]
    assert from_frame.records[0]["input"] == "row 0" and from_list.records[0]["input"] == "item 0"
    assert from_frame.checked == len(encounters) and not from_frame.errors


def test_progress_bar_on_and_off(engine, capsys) -> None:
    engine.audit(_samples()[:2], progress=True)
    assert "cdss audit" in capsys.readouterr().err
    engine.audit(_samples()[:2], progress=False)
    assert capsys.readouterr().err == ""


def test_tables_plots_and_html(batch_result, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    csv_files = batch_result.to_csv(tmp_path / "csv")
    parquet_files = batch_result.to_parquet(tmp_path / "pq")
    assert {p.stem for p in csv_files} == {p.stem for p in parquet_files}
    rows = pd.read_parquet(tmp_path / "pq" / "suggestions.parquet")
    assert len(rows) == len(batch_result.rows)
    assert list(rows["drugs"].map(list)) == [r["drugs"] for r in batch_result.rows]
    assert len(pd.read_csv(tmp_path / "csv" / "errors.csv")) == 2
    fig = batch_result.plot()
    assert len(fig.axes) == 3 and "Top" in fig.axes[0].get_title()
    page = batch_result._repr_html_()
    assert "Record compliance" in page and f"{batch_result.compliance_rate():.1%}" in page
    report = batch_result.write_report(tmp_path / "report")
    assert "data:image/png;base64," in report.read_text(encoding="utf-8")


def test_cli_audit_writes_tables_and_report(tmp_path, capsys) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)
                              for x in _batch()), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["audit", str(path), "--out", str(out), "--lang", "en", "--no-progress"]) == 0
    assert (out / "report.html").exists() and (out / "suggestions.csv").exists()
    assert "errors=2" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "missing.jsonl"), "--out", str(out)]) == 2
    assert main(["audit", str(out / "report.html"), "--out", str(out)]) == 2
    assert "expected a .jsonl file" in capsys.readouterr().err


def test_progress_total_is_a_count_of_inputs_never_the_length_of_a_path() -> None:
    assert cdss.audit.count_hint("visits.jsonl") is None
    assert cdss.audit.count_hint(["a", "b"]) == 2
    assert cdss.audit.count_hint(iter(["a"])) is None


# ---------------------------------------------------------------------------------
# The audit's fast path gives what engine.check gives
# ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_audit_rows_are_the_suggestions_of_check(lang) -> None:
    """The audit builds suggestions without evidence (engine.findings); its rows must be
    exactly those of the full reports, in order, titles in the language asked for."""
    engine = cdss.Engine(lang="en", backend="python")
    encounters = _samples()
    result = engine.audit(encounters, lang=lang, progress=False)
    expected = [(enc["id"], s.rule_id, s.category, s.kind, s.severity, list(s.codes),
                 list(s.drugs), s.text("title", lang))
                for enc in encounters for s in engine.check(enc).suggestions]
    assert [(r["encounter_id"], r["rule_id"], r["category"], r["kind"], r["severity"],
             r["codes"], r["drugs"], r["title"]) for r in result.rows] == expected
    assert len(expected) > len(encounters)  # the samples do fire


def test_findings_without_evidence_differ_from_check_only_in_evidence(engine) -> None:
    enc = sample("enc-007")
    full = engine.check(enc).suggestions
    assert engine.findings(enc) == full
    bare = engine.findings(enc, evidence=False)
    assert all(s.evidence == () for s in bare) and any(s.evidence for s in full)
    # what would clear a finding is worked out with its evidence, so a bare tally
    # has neither
    assert [dataclasses.replace(s, evidence=(), clear_when=(),
                                texts={lang: {**t, "clear": ""} for lang, t in s.texts.items()})
            for s in full] == bare


@pytest.mark.parametrize("call", ["check", "audit"])
def test_an_unknown_language_is_a_clear_error(engine, call) -> None:
    with pytest.raises(ValueError, match="lang must be 'zh' or 'en', got 'fr'"):
        if call == "check":
            engine.check(sample("enc-007"), lang="fr")
        else:
            engine.audit([sample("enc-007")], lang="fr", progress=False)
