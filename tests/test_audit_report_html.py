"""The audit report (issue #18): one self-contained HTML page, parsed here, with the
trend, a per-rule section with sample encounters, versions and hashes, honest counts,
and every hostile text from the input escaped; CSV with a BOM and no formulas."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

import cdss
from cdss import fonts
from cdss.cli import main

from conftest import sample

pytest.importorskip("jinja2")

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("x")'
SITE = "<img src=x onerror=alert(1)>"
MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11")


def _batch() -> list:
    """Samples over four months by three physicians (two hostile names) at two sites
    (one hostile), one encounter without a medical record, two unreadable lines."""
    out: list = []
    names = [SCRIPT, FORMULA, "张医生"]
    for n in range(24):
        enc = sample(("enc-001", "enc-003", "enc-007", "enc-011")[n % 4])
        enc["id"] = f"r{n}"
        enc["time"] = f"{MONTHS[n % 4]}-1{n % 9}T09:30:00+08:00"
        enc["site"] = SITE if n % 2 else "医疗车一号"
        if enc.get("record"):
            enc["record"]["physician"] = names[n % 3]
            if n % 5 == 0:  # a missing section: not compliant
                enc["record"].pop("chief_complaint", None)
        out.append(enc)
    out[5].pop("record", None)
    return [json.dumps(e, ensure_ascii=False) for e in out] + ["{oops", '{"id": "x"}']


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> tuple[cdss.AuditResult, Path, cdss.Engine]:
    folder = tmp_path_factory.mktemp("report")
    path = folder / "visits.jsonl"
    path.write_text("\n".join(_batch()), encoding="utf-8")
    engine = cdss.Engine(lang="en", backend="python")
    return engine.audit(path, progress=False), path, engine


class Page(HTMLParser):
    """The parsed page: tags with attributes, text, and the text under each id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[tuple[str, str | None]] = []  # (tag, id) of open elements
        self.by_id: dict[str, list[str]] = {}
        self.cells: dict[str, list[str]] = {}  # class of td -> texts
        self._cell: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("img", "meta", "br"):
            self.open.append((tag, dict(attrs).get("id")))
        if tag == "td":
            self._cell = dict(attrs).get("class")

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for _, ident in self.open:
            if ident:
                self.by_id.setdefault(ident, []).append(data)
        if self._cell:
            self.cells.setdefault(self._cell, []).append(data)

    def under(self, ident: str) -> str:
        return "".join(self.by_id.get(ident, []))


def _report(result: cdss.AuditResult, folder: Path, **options) -> tuple[str, Page]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", fonts.MissingGlyphWarning)
        path = result.write_report(folder, **options)
    text = path.read_text(encoding="utf-8")
    return text, Page(text)


@pytest.fixture(scope="module")
def english(audited, tmp_path_factory) -> tuple[str, Page]:
    result, _, _ = audited
    return _report(result, tmp_path_factory.mktemp("en"), lang="en", cutoff="2026-10")


def test_versions_and_receipt_hashes(english, audited) -> None:
    _, page = english
    _, path, engine = audited
    run = page.under("run")
    for value in (engine.pins.version, engine.kb.version, engine.pins.rules_sha256,
                  engine.pins.knowledge_sha256, engine.pins.backend, str(path)):
        assert value in run
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", run)  # the time it was made


def test_counts_are_honest_about_encounters_without_a_record(english, audited) -> None:
    text, _ = english
    result, _, _ = audited
    counts = dict(re.findall(r'data-count="(\w+)"><th>[^<]*</th><td class="num">([^<]*)<',
                             text))
    assert counts["without_record"] == "1" == str(result.checked - result.with_record)
    assert counts["checked"] == str(result.checked) == "24"
    assert counts["errors_count"] == "2"
    assert counts["compliance"] == f"{result.compliance_rate():.1%}"
    assert result.with_record == 23  # the one without a record is not in the rate


def test_the_trend_by_month_with_before_and_after(english) -> None:
    _, page = english
    tags = dict((attrs.get("id"), attrs) for tag, attrs in page.tags if attrs.get("id"))
    assert tags["trend-plot"]["src"].startswith("data:image/png;base64,")
    trend = page.under("trend-table")
    assert all(m in trend for m in MONTHS)
    ba = page.under("before-after")
    assert "2026-10" in ba and " pp" in ba  # the change in percentage points
    assert "%" in trend and "None" not in "".join(page.text)


def test_a_rule_section_with_sample_encounters(english, audited) -> None:
    text, page = english
    result, _, engine = audited
    rule = "quality.missing.chief_complaint"
    fired = {r["encounter_id"] for r in result.rows if r["rule_id"] == rule}
    assert fired
    section = page.under(f"rule-{rule}")
    markup = text[text.index(f'id="rule-{rule}"'):]
    markup = markup[:markup.index("</section>")]
    shown = set(re.findall(r'<td class="encounter-id">([^<]*)</td>', markup))
    assert shown and shown <= fired
    assert len(shown) == min(len(fired), 5)  # distinct encounters, at most five
    spec = next(r.spec for r in engine.rules if r.id == rule)
    assert spec.references[0].title in section  # the source
    assert "record.chief_complaint" in section  # the condition
    assert "line " in section  # where the encounter was read


def test_hostile_text_is_escaped_everywhere(english) -> None:
    text, page = english
    assert not [t for t, _ in page.tags if t == "script"]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    assert "<script>alert" not in text and "<img src=x" not in text
    body = "".join(page.text)
    assert SCRIPT in body and SITE in body and FORMULA in body  # shown as text


def test_self_contained_and_offline(english) -> None:
    text, page = english
    for tag, attrs in page.tags:
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        assert tag not in ("link", "iframe", "object")
        assert not (tag == "script" and attrs.get("src"))
    assert "@import" not in text
    assert all(u.startswith("data:") for u in re.findall(r"url\(([^)]*)\)", text))


def test_the_page_carries_its_chinese_font(audited, tmp_path) -> None:
    """Chinese text shows where no CJK font is installed: the page embeds the shipped
    font cut down to its own characters."""
    pytest.importorskip("fontTools")
    from fontTools.ttLib import TTFont

    text, _ = _report(audited[0], tmp_path, lang="zh")
    found = re.search(r"url\(data:font/otf;base64,([A-Za-z0-9+/=]+)\)", text)
    assert found
    font = TTFont(io.BytesIO(base64.b64decode(found.group(1))))
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "病历合格率月度趋势张医生")
    assert len(cmap) < 2000  # only the page's characters, not the whole font


def test_chinese_report_and_no_cutoff(audited, tmp_path) -> None:
    result, _, _ = audited
    text, page = _report(result, tmp_path, lang="zh")
    assert '<html lang="zh-CN">' in text and "病历合格率月度趋势" in text
    assert "无病历的就诊" in text and "--cutoff" in page.under("before-after")
    assert "None" not in "".join(page.text)


def test_chinese_report_is_chinese_throughout(audited, tmp_path) -> None:
    """Kinds, input lines and the reasons of unreadable inputs in Chinese (#18)."""
    result, _, _ = audited
    _, page = _report(result, tmp_path, lang="zh")
    text = "".join(page.text)
    assert "病历质量 · 缺项" in text and "· missing" not in text
    errors = page.under("errors")
    assert "第 25 行" in errors and "line 25" not in errors
    assert "就诊记录无效：" in errors and "缺少必填项" in errors
    assert "invalid encounter" not in errors and "required field" not in errors
    assert "不是有效的 JSON" in errors
    samples = "".join(page.cells.get("encounter-id", []))
    assert samples and "第 " in text


def test_english_report_keeps_english_reasons(english) -> None:
    _, page = english
    errors = page.under("errors")
    assert "line 25" in errors and "invalid encounter" in errors
    assert "Record quality · missing" in "".join(page.text)


def test_counts_only_audit_still_reports(audited, tmp_path) -> None:
    _, path, engine = audited
    result = engine.audit(path, progress=False, keep_rows=False)
    _, page = _report(result, tmp_path, lang="en", cutoff="2026-09")
    assert all(m in page.under("trend-table") for m in MONTHS)
    assert "counts-only" in page.under("rules")


def test_bad_cutoff_is_refused(audited, tmp_path) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        audited[0].write_report(tmp_path, cutoff="2026-13")


def test_cli_cutoff_and_language(audited, tmp_path, capsys) -> None:
    _, path, _ = audited
    assert main(["audit", str(path), "--out", str(tmp_path), "--cutoff", "2026-10",
                 "--lang", "zh", "--no-progress"]) == 0
    page = Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert "2026-10" in page.under("before-after") and "前后对比" in page.under("before-after")


# ---- CSV -------------------------------------------------------------------------

def test_csv_round_trip_with_bom_and_no_formulas(audited, tmp_path) -> None:
    pd = pytest.importorskip("pandas")
    result, _, _ = audited
    written = {p.name: p for p in result.to_csv(tmp_path)}
    for path in written.values():
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path.name
    frame = pd.read_csv(written["encounters.csv"], encoding="utf-8-sig")
    assert frame.columns[0] == "encounter_id"  # the BOM is not part of the name
    names = set(frame["physician"].dropna())
    assert "'" + FORMULA in names and FORMULA not in names  # a formula shown as text
    assert SCRIPT in names and "张医生" in names  # other text unchanged
    summary = pd.read_csv(written["summary_by_physician.csv"], encoding="utf-8-sig")
    assert "without_record" in summary.columns


# ---- fonts -----------------------------------------------------------------------

def test_chinese_plot_without_missing_glyph_warnings(audited) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure


    result, _, _ = audited
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result.plot().savefig(Path("/dev/null"), format="png")
        with __import__("matplotlib").rc_context(fonts.rc()):
            fig = Figure()
            fig.subplots().set_title("病历合格率 · 张医生 · 医疗车一号 · 镇卫生院")
            fig.savefig(Path("/dev/null"), format="png")
    assert not [w for w in caught if "missing" in str(w.message).lower()]


def test_the_shipped_font_alone_covers_chinese() -> None:
    pytest.importorskip("matplotlib")
    from cdss.reporting.labels import LABELS

    fonts.font_family()
    shipped = fonts._charmap(fonts.SHIPPED_FAMILY)
    text = "".join(LABELS["zh"].values()) + "张王李赵刘陈医生医疗车一号二号村卫生室镇卫生院"
    assert not [c for c in text if c.isprintable() and not c.isspace()
                and ord(c) not in shipped and ord(c) > 0x2E80]


def test_a_glyph_no_font_has_is_warned_about(audited, tmp_path) -> None:
    pytest.importorskip("matplotlib")

    tangut = "\U00017000"  # no CJK font has Tangut
    assert fonts.missing_glyphs([f"李{tangut}"]) == [tangut]
    engine = audited[2]
    enc = sample("enc-001")
    enc["record"]["physician"] = f"李{tangut}"
    result = engine.audit([enc], progress=False)
    with pytest.warns(fonts.MissingGlyphWarning, match="U\\+17000"):
        page = result.write_report(tmp_path, lang="en").read_text(encoding="utf-8")
    assert "U+17000" not in page and tangut in Page(page).under("run")  # named in the notes


# ---- a real browser ----------------------------------------------------------------

def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless browser installed")
def test_headless_browser_screenshot(english, tmp_path) -> None:
    text, _ = english
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    shot = tmp_path / "report.png"
    done = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=1280,1600",
                           f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000  # a page, not a blank
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(data)).convert("RGB")
    assert len(image.getcolors(2**24)) > 50  # text and plots drawn, not one flat colour


@pytest.mark.skipif(_browser() is None, reason="no headless browser installed")
def test_the_page_as_a_browser_reads_it(english, audited, tmp_path) -> None:
    """The DOM Chromium builds from the file: the trend, a rule section with sample
    encounter ids, the versions, and the hostile names as text (no script element)."""
    text, _ = english
    _, _, engine = audited
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    done = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Page(done.stdout)
    ids = {attrs.get("id") for _, attrs in dom.tags}
    assert {"trend-plot", "trend-table", "rule-quality.missing.chief_complaint"} <= ids
    assert dom.cells.get("encounter-id")
    assert engine.pins.version in dom.under("run") and engine.pins.rules_sha256 in dom.under("run")
    assert not [t for t, _ in dom.tags if t == "script"]
    assert SCRIPT in "".join(dom.text) and SITE in "".join(dom.text)


def test_notebook_view_shows_no_none(audited) -> None:
    """A physician whose encounters came without a record has no rate: ``—``."""
    result, _, _ = audited
    assert any(r["compliance"] is None for r in
               __import__("cdss.audit_views").audit_views.summary_rows(result)["physician"])
    page = result._repr_html_()
    assert ">None<" not in page and "—" in page
