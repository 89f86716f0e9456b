"""Issue #12 (items 6 and 7): bounded pairwise work and did-you-mean, caches that hold
knowledge and not patient text, user text escaped for each output format, CLI corners.

Each reproducer of the issue is a test; those that could hang run in a child process
with a timeout, so a regression fails the test instead of stalling the suite.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import cdss
from cdss.audit_views import csv_cell
from cdss.derive.facts import PAIRED_PER_KEY, build_facts
from cdss.kb import load_knowledge
from cdss.models import Encounter
from cdss.report import _code_span, _markdown_escape, plain_text

from conftest import sample

ROOT = Path(__file__).resolve().parent.parent


def _encounter(prescriptions: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "enc-bounds", "time": "2026-11-20T09:30:00+08:00",
            "patient": {"id": "p1", "sex": "male", "birth_date": "1956-02-01",
                        "conditions": []},
            "prescriptions": prescriptions, **extra}


IBUPROFEN = {"drug": "ibuprofen", "dose": "0.4 g", "frequency": "tid"}


def _child(code: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


# ---------------------------------------------------------------------------------
# 1. pairwise work
# ---------------------------------------------------------------------------------

def test_identical_prescriptions_add_no_pairs() -> None:
    kb = load_knowledge()
    facts = build_facts(Encounter.parse(_encounter([IBUPROFEN] * 50)), kb)
    keys = [f for f in facts.facts if f["t"] == "rx_key"]
    per_key: dict[str, int] = {}
    for f in keys:
        per_key[f["key"]] = per_key.get(f["key"], 0) + 1
    assert per_key and max(per_key.values()) == PAIRED_PER_KEY
    assert len([f for f in facts.facts if f["t"] == "rx"]) == 50  # own checks: every one
    note = [n for n in facts.notes if n["field"] == f"prescriptions[{PAIRED_PER_KEY}]"]
    assert note and "items 2, 3" in note[0]["message"] and "第 2, 3" in note[0]["message_zh"]


def test_two_identical_prescriptions_are_still_a_duplicate(engine_en) -> None:
    report = engine_en.check(_encounter([IBUPROFEN, IBUPROFEN]))
    dup = [s for s in report.suggestions if s.group == "duplicate"]
    assert len(dup) == 1 and set(dup[0].subject) == {"prescriptions[0]", "prescriptions[1]"}
    assert "items 0 and 1" in dup[0].text("message", "en")


def test_same_drug_duplicate_outside_any_duplicate_class(engine_en) -> None:
    """dosing.duplicate.same_drug now joins rx with rx_key: still fires, names both."""
    met = {"drug": "metformin", "dose": "500 mg", "frequency": "bid"}
    report = engine_en.check(_encounter([met, {**met, "dose": "850 mg", "frequency": "qd"}]))
    same = [s for s in report.suggestions if s.rule_id == "dosing.duplicate.same_drug"]
    assert len(same) == 1 and set(same[0].subject) == {"prescriptions[0]", "prescriptions[1]"}
    assert "items 0 and 1" in same[0].text("message", "en")
    near = engine_en.check(_encounter([met]))
    assert not [s for s in near.suggestions if s.group == "duplicate"]


def test_interaction_still_found_among_many_copies(engine_en) -> None:
    warfarin = {"drug": "warfarin", "dose": "3 mg", "frequency": "qd"}
    report = engine_en.check(_encounter([IBUPROFEN] * 30 + [warfarin]))
    inter = [s for s in report.suggestions if s.group == "interaction"]
    assert inter and all("prescriptions[30]" in s.subject for s in inter)
    assert len(inter) <= PAIRED_PER_KEY
    assert len([s for s in report.suggestions if s.group == "duplicate"]) == 1


@pytest.mark.parametrize("backend", ["durable", "python"])
def test_a_thousand_identical_prescriptions_check_in_linear_time(backend) -> None:
    """Issue #12: 150 took 2 s and 1,000 ran out of memory after 115 s. The contract now
    refuses more than MAX_PRESCRIPTIONS (cdss/limits.py); the pairing is bounded
    whatever the model lets through: the most it lets through is quick and linear."""
    done = _child(f"""
        import time, cdss
        from cdss.limits import MAX_PRESCRIPTIONS
        engine = cdss.Engine(lang="en", backend={backend!r})
        rx = {IBUPROFEN!r}
        def enc(n):
            return {{"id": "e", "time": "2026-11-20T09:30:00+08:00",
                    "patient": {{"id": "p", "sex": "male", "birth_date": "1956-02-01"}},
                    "prescriptions": [rx] * n}}
        try:
            engine.check(enc(1000))
            print("accepted")
        except cdss.InputError:
            pass
        t = time.perf_counter()
        report = engine.check(enc(MAX_PRESCRIPTIONS))
        print(time.perf_counter() - t, len(report.suggestions), MAX_PRESCRIPTIONS)
    """, timeout=120)
    assert done.returncode == 0, done.stderr
    seconds, count, n = done.stdout.split()
    assert float(seconds) < 5 and int(count) < 5 * int(n)  # linear, not n*(n-1)/2 findings


def test_pairing_is_bounded_below_the_model_limits() -> None:
    """rx_key facts per drug key stay bounded (2) however many prescriptions name it."""
    from cdss.derive import build_facts
    from cdss.limits import MAX_PRESCRIPTIONS
    from cdss.models import Encounter
    kb = load_knowledge()
    enc = Encounter.parse(_encounter([IBUPROFEN] * MAX_PRESCRIPTIONS))
    keys = [f for f in build_facts(enc, kb).facts if f["t"] == "rx_key"]
    per_key: dict[str, int] = {}
    for f in keys:
        per_key[f["key"]] = per_key.get(f["key"], 0) + 1
    assert per_key and max(per_key.values()) == 2


# ---------------------------------------------------------------------------------
# 2. did-you-mean
# ---------------------------------------------------------------------------------

def test_did_you_mean_is_bounded_and_still_suggests() -> None:
    kb = load_knowledge()
    assert kb.suggest_drugs("amlodipin")[0] == "amlodipine"
    assert kb.suggest_drugs("二甲双瓜")[0] == "metformin"
    assert kb.suggest_drugs("warfarine")[0] == "warfarin"
    assert kb.suggest_drugs("qqqqzzzz") == []
    t = time.perf_counter()
    for i in range(2000):
        kb.suggest_drugs(f"unknownmed{i}x{i * 7919 % 1000}")
    assert time.perf_counter() - t < 2.5  # about 0.2 ms each (difflib over all: ~1-2 ms)
    t = time.perf_counter()
    assert kb.suggest_drugs("amlodipine" * 100_000) == []  # 1 MB name: nothing to compare
    assert time.perf_counter() - t < 0.5


# ---------------------------------------------------------------------------------
# 3. caches hold knowledge, not patient text
# ---------------------------------------------------------------------------------

def _instance_sizes(kb: Any) -> int:
    """Entries in every dict held by the knowledge base object itself (its caches)."""
    return sum(len(v) for v in vars(kb).values() if isinstance(v, dict | list | set))


def test_knowledge_base_does_not_keep_patient_text(engine) -> None:
    from cdss.limits import MAX_CODE_LENGTH, MAX_NAME_LENGTH, MAX_SHORT_TEXT_LENGTH
    kb = engine.kb
    engine.check(_encounter([{"drug": "unknown-0"}, IBUPROFEN], symptoms=["胸痛"],
                            record={"diagnoses": [{"code": "I10"}]}))  # indexes built
    before = _instance_sizes(kb)
    for i in range(300):  # the longest texts the contract accepts
        text = (f"QZXJ患者{i}" + "头晕乏力" * 500)[:MAX_SHORT_TEXT_LENGTH]
        engine.check(_encounter([{"drug": (f"QZXJ张三{i}的药" * 20)[:MAX_NAME_LENGTH]}],
                                symptoms=[text],
                                record={"diagnoses": [{"code": f"I10.{i}x{text[:50]}"[
                                    :MAX_CODE_LENGTH]}]}))
    assert _instance_sizes(kb) == before
    held = repr([v for v in vars(kb).values() if isinstance(v, dict)])
    assert "QZXJ" not in held


def test_memory_flat_over_thousands_of_long_distinct_texts() -> None:
    """Issue #12: 3,000 x 100 kB texts grew RSS by 757 MB (caches keyed by input). Such
    texts are now refused at the limits; neither the refusals nor the longest accepted
    texts may grow the process."""
    done = _child("""
        import resource, cdss
        engine = cdss.Engine(lang="en", backend="python")
        def enc(i, size):
            return {"id": "e", "time": "2026-11-20T09:30:00+08:00",
                    "patient": {"id": "p", "sex": "male", "birth_date": "1956-02-01"},
                    "symptoms": [f"{i} " + "x" * size],
                    "prescriptions": [{"drug": f"drug{i}" + "y" * (size // 3)}]}
        def run(i):
            for size in (100_000, 490):
                try:
                    engine.check(enc(i, size))
                except cdss.InputError:
                    pass
        for i in range(50):
            run(i)
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for i in range(50, 1550):
            run(i)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) // 1024)
    """, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 60  # MB; a cache of 1,500 x 150 kB would be > 200


def test_condition_groups_by_prefix_index() -> None:
    kb = load_knowledge()
    assert "hypertension" in kb.groups_of("I10")
    assert kb.groups_of(" e11.9 ") == kb.groups_of("E11.9") and "diabetes" in kb.groups_of("E11")
    assert kb.groups_of("Z99") == () and kb.groups_of("") == ()
    assert kb.groups_of("I10" + "9" * 100_000) == kb.groups_of("I109")


# ---------------------------------------------------------------------------------
# 4. output escaping
# ---------------------------------------------------------------------------------

ANSI = "\x1b[31mRED\x1b[0m\x9b2J"


def test_to_text_shows_control_characters_as_escapes(engine_en) -> None:
    enc = dict(sample("enc-011"), id=f"enc{ANSI}\nFAKE LINE",
               prescriptions=[{"drug": f"drug{ANSI}"}])
    text = engine_en.check(enc).to_text()
    assert "\x1b" not in text and "\x9b" not in text and "\\x1b[31m" in text
    assert not any(line.startswith("FAKE LINE") for line in text.splitlines())
    assert plain_text("a\u202eb\tc") == "a\\u202eb\\tc" and plain_text("胸痛 ok") == "胸痛 ok"


def test_html_escapes_control_characters_and_markup(engine_en) -> None:
    enc = dict(sample("enc-011"), prescriptions=[{"drug": f"<img src=x>{ANSI}"}])
    page = engine_en.check(enc)._repr_html_()
    assert "<img" not in page and "\x1b" not in page and "&lt;img" in page


def test_cds_hooks_detail_escapes_markdown(engine_en) -> None:
    name = "**bold** [x](javascript:alert(1)) `tick` $x^{$"
    enc = dict(sample("enc-011"), prescriptions=[{"drug": name}])
    cards = engine_en.check(enc).to_cds_hooks()["cards"]
    details = [c["detail"] for c in cards if "bold" in c["detail"]]
    assert details
    for d in details:
        message, _, evidence = d.partition("\n\n")
        assert "**bold**" not in message and "[x](" not in message
        assert "\\*\\*bold\\*\\*" in message and "\\$x^\\{\\$" in message
        # evidence: a code span, fenced longer than the backticks it holds (literal text)
        assert "``prescriptions[0].drug = **bold**" in evidence
    assert _markdown_escape("$x^{$") == "\\$x^\\{\\$"
    assert _code_span("a`b") == "``a`b``" and _code_span("`a") == "`` `a ``"


def test_csv_cells_cannot_be_formulas() -> None:
    assert csv_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    for bad in ("+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(bad).startswith("'")
    assert csv_cell("张医生") == "张医生" and csv_cell(-3) == -3 and csv_cell(None) is None


def _audit_file(tmp_path: Path, physician: str) -> Path:
    path = tmp_path / "visits.jsonl"
    lines = []
    for n in range(3):
        enc = sample("enc-001")
        enc["id"] = f"=cmd|' /C calc'!A{n}"
        enc["record"]["physician"] = physician
        lines.append(json.dumps(enc, ensure_ascii=False))
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_audit_with_a_mathtext_physician_name(tmp_path) -> None:
    """Issue #12: a physician named $x^{$ made the plots and cdss audit fail."""
    pytest.importorskip("matplotlib")
    path = _audit_file(tmp_path, "$x^{$")
    done = subprocess.run([sys.executable, "-m", "cdss", "audit", str(path), "--out",
                           str(tmp_path / "out"), "--no-progress"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "$x^{$" in page
    with (tmp_path / "out" / "encounters.csv").open(encoding="utf-8-sig", newline="") as fh:
        ids = [row["encounter_id"] for row in csv.DictReader(fh)]
    assert ids and all(i.startswith("'=cmd") for i in ids)


def test_plot_escapes_dollar_signs() -> None:
    pytest.importorskip("matplotlib")
    engine = cdss.Engine(lang="en", backend="python")
    encs = []
    for n, name in enumerate(["$x^{$", "$\\frac{1}{0}$", "a$b", "\x1b[31m"]):
        enc = sample("enc-001")
        enc["id"] = f"e{n}"
        enc["record"]["physician"] = name
        encs.append(enc)
    result = engine.audit(encs, progress=False)
    fig = result.plot()
    fig.savefig(os.devnull, format="png")  # mathtext errors are raised at draw time
    labels = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert "\\$x^{\\$" in labels


# ---------------------------------------------------------------------------------
# 5. CLI corners
# ---------------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_check_refuses_a_fifo_instead_of_hanging(tmp_path) -> None:
    fifo = tmp_path / "in.json"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "cdss", "check", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a regular file" in done.stderr
    done = subprocess.run([sys.executable, "-m", "cdss", "audit", str(fifo.with_suffix(
        ".jsonl")), "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2


def test_check_refuses_a_directory_and_a_device(tmp_path, capsys) -> None:
    from cdss.cli import main

    assert main(["check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    if Path("/dev/zero").exists():  # would read for ever
        assert main(["check", "/dev/zero"]) == 2
        assert "not a regular file" in capsys.readouterr().err


def test_audit_out_that_is_a_file_is_an_input_error(tmp_path, capsys) -> None:
    """Issue #12: an existing file as --out exited 70 "internal error"."""
    from cdss.cli import main

    path = _audit_file(tmp_path, "张医生")
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    assert main(["audit", str(path), "--out", str(taken), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not a folder" in err and "internal error" not in err
    assert main(["audit", str(path), "--out", str(taken / "sub"), "--no-progress"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert taken.read_text(encoding="utf-8") == "x"
