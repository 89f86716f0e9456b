"""Report behaviour that surviving mutants showed untested (docs/mutation-testing.md)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

import cdss
from cdss.report import Suggestion

from conftest import sample


def _suggestion(title: str) -> Suggestion:
    texts = {lang: {"title": title, "message": "m", "recommendation": "r"}
             for lang in ("zh", "en")}
    return Suggestion("dosing.test.x", "1", "dosing", "dose_high", "warning", texts, (), (),
                      (), ({"title": "ref"},), ("prescriptions[0]",))


@pytest.fixture(scope="module")
def report() -> cdss.Report:
    return cdss.Engine(lang="zh").check(sample("enc-008"))


def test_json_keeps_chinese_readable_and_is_indented_by_default(report) -> None:
    text = report.to_json()
    assert "\\u" not in text and any("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert text.startswith('{\n  "') and json.loads(text) == report.to_dict()
    assert "\n" not in report.to_json(indent=None)


def test_another_language_keeps_everything_but_the_language(report) -> None:
    en = report.with_lang("en")
    assert (en.encounter_id, en.engine, en.suggestions, en.not_evaluated, en.notes,
            en.derived, en.missing_data) == (
        report.encounter_id, report.engine, report.suggestions, report.not_evaluated,
        report.notes, report.derived, report.missing_data)
    assert en.lang == "en" and report.lang == "zh"
    with pytest.raises(ValueError):
        report.with_lang("fr")


def test_a_suggestions_text_is_chinese_by_default() -> None:
    s = _suggestion("标题")
    s = replace(s, texts={"zh": {"title": "标题"}, "en": {"title": "title"}})
    assert s.text("title") == "标题" and s.text("title", "en") == "title"


@pytest.mark.parametrize(("length", "shown"), [(138, 138), (139, 139), (140, 139), (300, 139)])
def test_card_summaries_stay_under_140_characters(report, length, shown) -> None:
    """CDS Hooks 2.0: summary "<140 characters"; a longer title is cut with an ellipsis."""
    long = replace(report, suggestions=[_suggestion("x" * length)], missing_data=[])
    (card,) = long.to_cds_hooks()["cards"]
    assert len(card["summary"]) == shown
    assert card["summary"].endswith("…") == (length > 139)


@pytest.mark.parametrize(("text", "span"), [
    ("a", "`a`"), ("a`b", "``a`b``"), ("`a", "`` `a ``"), ("a`", "`` a` ``")])
def test_evidence_in_a_code_span_survives_backticks_at_either_end(text, span) -> None:
    """CommonMark: a code span starting or ending with a backtick needs a space inside
    its fence, or the user's backtick closes it."""
    from cdss.report import _code_span

    assert _code_span(text) == span
