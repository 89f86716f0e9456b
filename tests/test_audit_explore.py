"""The reviewer's drill-down in a notebook (issue #18): explain, filter, trend, their
HTML views (escaped) and the interactive chart."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

import cdss
from cdss.audit_explore import Explanation, Trend

from conftest import SAMPLES

HOSTILE = "<script>alert('x')</script>"
HOSTILE_SITE = "<img src=x onerror=alert(1)>站"


def _samples() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("enc-*.json"))]


def _batch() -> list[dict]:
    """The samples twice: once in October at site A, once in November at site B (one
    physician named with markup), and one unreadable input."""
    out: list = []
    for copy, (month, site) in enumerate((("2026-10", "A"), ("2026-11", HOSTILE_SITE))):
        for enc in _samples():
            enc = {**enc, "id": f"{enc['id']}-{copy}", "site": site,
                   "time": enc["time"].replace("2026-11", month, 1)}
            if enc.get("record") and enc["id"].startswith("enc-00"):
                enc["record"] = {**enc["record"], "physician": HOSTILE}
            out.append(enc)
    return [*out, "not json"]


@pytest.fixture(scope="module")
def engine() -> cdss.Engine:
    return cdss.Engine(lang="en", backend="python")


@pytest.fixture(scope="module")
def result(engine) -> cdss.AuditResult:
    return engine.audit(_batch(), progress=False)


def _same_audit(got: cdss.AuditResult, want: cdss.AuditResult) -> None:
    """The same counts and rows (where the inputs were read differs)."""
    assert got.tally == want.tally
    assert (got.checked, got.with_record, got.compliant) == \
        (want.checked, want.with_record, want.compliant)
    drop = lambda rows: [{**r, "input": None} for r in rows]  # noqa: E731
    assert drop(got.rows) == drop(want.rows) and drop(got.records) == drop(want.records)


# ---- filter ----------------------------------------------------------------------

@pytest.mark.parametrize("criteria", [{"site": "A"}, {"month": "2026-11"},
                                      {"physician": HOSTILE},
                                      {"site": HOSTILE_SITE, "physician": HOSTILE},
                                      {"physician": ["", HOSTILE], "month": ["2026-10"]}])
def test_filter_is_the_audit_of_the_matching_encounters(engine, result, criteria) -> None:
    def matches(enc: dict) -> bool:
        values = {"site": enc["site"], "month": enc["time"][:7],
                  "physician": (enc.get("record") or {}).get("physician") or ""}
        return all(values[k] in ([v] if isinstance(v, str) else v) for k, v in criteria.items())

    subset = [e for e in _batch() if isinstance(e, dict) and matches(e)]
    got = result.filter(**criteria)
    assert isinstance(got, cdss.AuditResult) and not got.errors  # errors have no site
    assert 0 < got.checked < result.checked
    _same_audit(got, engine.audit(subset, progress=False))


def test_filter_by_rule_keeps_the_encounters_with_it_and_only_its_rows(result) -> None:
    rule = result.rows[0]["rule_id"]
    got = result.filter(rule=rule)
    firing = {r["input"] for r in result.rows if r["rule_id"] == rule}
    assert {r["input"] for r in got.records} == firing
    assert {r["rule_id"] for r in got.rows} == {rule}
    assert got.suggestion_count == sum(r["rule_id"] == rule for r in result.rows)
    assert got.summary()["rule"].index.tolist() == [rule]
    narrower = got.filter(site="A")  # a filtered result filters again
    assert narrower.checked == sum(r["site"] == "A" for r in got.records)


def test_filter_needs_rows_and_an_unknown_value_gives_nothing(engine, result) -> None:
    assert result.filter(site="no such site").checked == 0
    assert result.filter(site="no such site").compliance_rate() is None
    with pytest.raises(ValueError, match="counts only"):
        engine.audit(_batch(), progress=False, keep_rows=False).filter(site="A")


# ---- trend -----------------------------------------------------------------------

def test_trend_is_compliance_by_month(result) -> None:
    trend = result.trend()
    assert isinstance(trend, Trend) and [r["month"] for r in trend.rows] == ["2026-10",
                                                                             "2026-11"]
    for row in trend.rows:
        month = result.filter(month=row["month"])
        assert row["rate"] == month.compliance_rate()
        assert row["checked"] == month.checked and row["records"] == month.with_record
        assert row["without_record"] == sum(r["compliant"] is None for r in month.records) > 0


@pytest.mark.parametrize("by", ["site", "physician"])
def test_trend_by_group_adds_up_to_the_month(result, by) -> None:
    rows = result.trend(by=by).rows
    for overall in result.trend().rows:
        mine = [r for r in rows if r["month"] == overall["month"]]
        assert sum(r["records"] for r in mine) == overall["records"]
        assert sum(r["compliant"] for r in mine) == overall["compliant"]
        for r in mine:
            cell = result.filter(month=r["month"], **{by: r[by]})
            assert (r["checked"], r["rate"]) == (cell.checked, cell.compliance_rate())
    frame = result.trend(by=by).frame()
    assert list(frame.columns[:2]) == ["month", by] and len(frame) == len(rows)


def test_trend_works_on_counts_only_and_rejects_other_groupings(engine, result) -> None:
    lean = engine.audit(_batch(), progress=False, keep_rows=False)
    assert lean.trend(by="site").rows == result.trend(by="site").rows
    with pytest.raises(ValueError, match="trend by"):
        result.trend(by="rule")


def test_trend_plot_is_a_matplotlib_figure(result) -> None:
    pytest.importorskip("matplotlib")
    fig = result.trend(by="site").plot()
    assert len(fig.axes[0].lines) == 2


def test_the_interactive_chart_lists_the_encounters_of_the_clicked_bar(result) -> None:
    pytest.importorskip("altair", reason="the chart needs Altair (cdss[jupyter])")
    spec = result.trend(by="site").chart().to_dict()
    assert [p["name"] for p in spec["params"]] == ["bar"]
    assert spec["params"][0]["select"]["fields"] == ["month", "site"]
    datasets = list(spec["datasets"].values())
    listed = next(d for d in datasets if d and "encounter_id" in d[0])
    ids = {d["encounter_id"] for d in listed}
    assert ids == {r["encounter_id"] for r in result.records}
    text = json.dumps(spec)
    assert '"filter": {"param": "bar"' in text  # the table follows the selected bar
    # the rows of one bar are its encounters
    one = [d for d in listed if d["month"] == "2026-11" and d["site"] == HOSTILE_SITE]
    assert {d["encounter_id"] for d in one} == \
        {r["encounter_id"] for r in result.filter(month="2026-11", site=HOSTILE_SITE).records}


# ---- explain ---------------------------------------------------------------------

def test_explain_checks_the_encounter_again_with_evidence(engine, result) -> None:
    encounter = next(e for e in _batch() if isinstance(e, dict) and e["id"] == "enc-007-1")
    got = result.explain("enc-007-1")
    assert isinstance(got, Explanation) and got.note is None
    want = [s.to_dict("en") for s in engine.check(encounter).suggestions]
    assert got.suggestions == want and any(s["evidence"] for s in got.suggestions)
    assert [r["rule_id"] for r in got.rows] == [s["rule_id"] for s in want]
    assert got.records[0]["site"] == HOSTILE_SITE and got.records[0]["month"] == "2026-11"
    with pytest.raises(KeyError):
        result.explain("no such encounter")


def test_explain_reads_a_jsonl_file_again(engine, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in _batch()) + "\n",
                    encoding="utf-8")
    got = engine.audit(path, progress=False).explain("enc-001-0")
    assert got.records[0]["input"] == "line 1" and got.reports
    assert got.reports[0].encounter_id == "enc-001-0"


def test_explain_of_a_one_shot_iterator_gives_the_rows_without_evidence(engine) -> None:
    result = engine.audit(iter(_batch()), progress=False)
    got = result.explain("enc-007-1")
    assert not got.reports and got.rows and "no evidence" in (got.note or "")
    assert got.suggestions == got.rows


# ---- HTML views escape the input ---------------------------------------------------

class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.add(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def _parsed(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


@pytest.mark.parametrize("view", ["explain", "trend_site", "trend_physician", "filtered"])
def test_html_views_escape_hostile_text(result, view) -> None:
    obj = {"explain": lambda: result.explain("enc-001-1"),
           "trend_site": lambda: result.trend(by="site"),
           "trend_physician": lambda: result.trend(by="physician"),
           "filtered": lambda: result.filter(physician=HOSTILE)}[view]()
    page = obj._repr_html_()
    parsed = _parsed(page)
    assert not parsed.tags & {"script", "img"}, page
    shown = "".join(parsed.text)
    assert (HOSTILE in shown) or (HOSTILE_SITE in shown)


def test_explanation_without_evidence_is_escaped_too(engine) -> None:
    got = engine.audit(iter(_batch()), progress=False).explain("enc-001-1")
    parsed = _parsed(got._repr_html_())
    assert "script" not in parsed.tags and HOSTILE in "".join(parsed.text)


def test_explain_after_a_dask_audit_of_several_files(engine, tmp_path: Path) -> None:
    pytest.importorskip("dask", reason="needs pip install 'cdss[dask]'")
    from cdss.distributed import audit_dask

    lines = [json.dumps(e, ensure_ascii=False) for e in _batch()]
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
    second.write_text("\n".join(lines[10:]) + "\n", encoding="utf-8")
    result = audit_dask([first, second], engine_options=engine.options, block_bytes=2048)
    got = result.explain("enc-007-1")  # in the second file
    n = next(i for i, x in enumerate(lines[10:], 1) if '"enc-007-1"' in x)
    assert got.records[0]["input"] == f"{second}: line {n}"
    assert got.reports and got.reports[0].encounter_id == "enc-007-1"
    assert any(s["evidence"] for s in got.suggestions)
