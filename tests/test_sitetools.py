"""`cdss site diff` and `cdss site impact` (issue #16) on a small site and JSONL."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from _sites import layer, site

import cdss
from cdss._resources import rules_dir
from cdss.cli import main
from cdss.sitetools import impact, layer_diff, site_engine, upstream_changes

from _encounters import encounter, rx, with_rx

RULE = "dosing.interaction.warfarin_nsaid"


PROVINCE = layer("province", rules={"severity": [
    {"rule": RULE, "severity": "critical", "reason": "bleeding audit"}]})
COUNTY = layer("county", rules={"disable": [{"rule": RULE, "reason": "INR clinic",
                                             "author": "王主任"}]},
               knowledge={"names": [{"drug": "amlodipine", "names": ["安内真"]}]})


def test_each_layer_is_diffed_against_the_layers_under_it(tmp_path: Path) -> None:
    province, county = layer_diff(site(tmp_path, PROVINCE, COUNTY))
    assert province.level == "province"
    assert province.rules == [f"{RULE}: severity warning -> critical, stop soft -> hard"]
    assert county.rules == [f"{RULE}: off (was critical, stop hard)"]
    assert county.knowledge == ["knowledge.names[0]: 安内真 names amlodipine (local name)"]
    assert province.knowledge == [] and "no change" not in county.to_text()


def test_upstream_changes_touching_an_override_are_listed(tmp_path: Path) -> None:
    old = tmp_path / "old_rules"
    shutil.copytree(rules_dir(), old)
    path = old / "dosing" / "interactions.yaml"
    # the old version of the interaction template said "major: warning" differently
    text = path.read_text(encoding="utf-8")
    assert "moderate: info" in text
    path.write_text(text.replace("moderate: info", "moderate: warning", 1), encoding="utf-8")
    touched = upstream_changes(site(tmp_path, PROVINCE, COUNTY), old)
    assert touched["province"] == touched["county"] == []  # warfarin_nsaid is major
    old_major = tmp_path / "old2"
    shutil.copytree(rules_dir(), old_major)
    p2 = old_major / "dosing" / "interactions.yaml"
    p2.write_text(p2.read_text(encoding="utf-8").replace("major: warning", "major: info", 1),
                  encoding="utf-8")
    touched = upstream_changes(site(tmp_path, PROVINCE, COUNTY), old_major)
    assert touched["province"] == [f"rule:{RULE}: changed upstream: severity"]
    assert touched["county"][0] == f"rule:{RULE}: changed upstream: severity"


def _visits(tmp_path: Path) -> Path:
    both = with_rx(rx("warfarin", "3 mg"), rx("ibuprofen", "200 mg", "tid"))
    plain = encounter()
    lines = [dict(both, id="a"), dict(plain, id="b"),
             dict(both, id="c", record=dict(both["record"], physician="李医生"))]
    path = tmp_path / "visits.jsonl"
    path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in lines)
                    + "\n{broken\n", encoding="utf-8")
    return path


def test_impact_counts_alerts_per_rule_severity_and_physician(tmp_path: Path) -> None:
    folder = site(tmp_path, COUNTY)
    result = impact(site_engine("national"), site_engine(str(folder)), _visits(tmp_path))
    assert result.checked == 3 and len(result.errors) == 1
    assert result.errors[0][0] == "line 4"
    by_rule = {k: (b, a, c) for k, b, a, c in result.table("rule")}
    assert by_rule[RULE] == (2, 0, -2)
    assert result.table("rule")[0][0] == RULE  # the largest change first
    by_doc = {k: (b, a, c) for k, b, a, c in result.table("physician")}
    assert by_doc["李医生"][2] == -1 and by_doc["张医生"][2] == -1
    assert dict((k, c) for k, _, _, c in result.table("severity"))["warning"] == -2


def test_cli_site_diff_and_impact(tmp_path: Path, capsys) -> None:
    folder = site(tmp_path, PROVINCE, COUNTY)
    assert main(["site", "diff", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "province (" in out and "county (" in out and "off (was critical" in out
    visits = _visits(tmp_path)
    out_dir = tmp_path / "out"
    assert main(["site", "impact", str(visits), "--after", str(folder),
                 "--out", str(out_dir)]) == 0
    assert "3 encounters replayed, 1 could not be read" in capsys.readouterr().out
    raw = (out_dir / "impact_by_rule.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: Excel on Chinese Windows reads UTF-8
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["rule", "before", "after", "change"]
    assert [RULE, "2", "0", "-2"] in rows


def test_a_hostile_physician_name_is_escaped_in_the_csv(tmp_path: Path) -> None:
    enc = with_rx(rx("warfarin", "3 mg"), rx("ibuprofen", "200 mg", "tid"))
    enc["record"]["physician"] = '=HYPERLINK("http://x","y")'
    visits = tmp_path / "v.jsonl"
    visits.write_text(json.dumps(enc) + "\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    assert main(["site", "impact", str(visits), "--after", str(site(tmp_path, COUNTY)),
                 "--out", str(out_dir)]) == 0
    text = (out_dir / "impact_by_physician.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text


def test_impact_engines(tmp_path: Path) -> None:
    assert site_engine(None).site is None and site_engine("national").site is None
    assert isinstance(site_engine(str(site(tmp_path, COUNTY))).site, cdss.site.Site)
