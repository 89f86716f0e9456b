"""Fast snapshots for mutation testing: the facts and the rendered report forms of a
panel of encounters, as fingerprints (tests/golden/snapshots.json).

The golden reports (``reports.py``) cover ~960 encounters on both backends and take
seconds; these cover a few dozen in a fraction of a second, so that a mutation run
(docs/mutation-testing.md) can afford them for every mutant of ``cdss/derive`` and
``cdss/report.py``. Rewrite with ``python tests/golden/snapshots.py --write`` when a
change is meant to alter facts or renderings.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

import cdss  # noqa: E402
from cdss.derive import build_facts  # noqa: E402

from _encounters import encounter  # noqa: E402

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots.json"
#: every n-th rule case, to keep the panel small but varied
EVERY = 4


def panel() -> Iterator[tuple[str, dict[str, Any]]]:
    """The samples, every EVERY-th rule case and every EVERY-th sparse panel entry."""
    for path in sorted((Path(cdss.__file__).parent / "samples").glob("*.json")):
        yield f"samples/{path.stem}", json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((TESTS / "cases").glob("*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        for i, case in enumerate(cases[::EVERY]):
            yield f"cases/{path.stem}#{i * EVERY}", encounter(case.get("encounter") or {})
    for path in sorted((TESTS / "cases" / "sparse").glob("*.yaml")):
        cases = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("cases", [])
        for i, case in enumerate(cases[::EVERY]):
            yield f"sparse/{path.stem}#{i * EVERY}", case["encounter"]


def _digest(obj: Any) -> str:
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False,
                                                        sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fingerprints(engine: cdss.Engine) -> dict[str, dict[str, str]]:
    """Per encounter: its facts (with derivations, notes, missing) and each rendering."""
    out = {}
    for name, enc in panel():
        parsed = engine.parse(enc)
        fs = build_facts(parsed, engine.kb)
        forms = {"facts": _digest({"facts": fs.facts, "notes": fs.notes,
                                   "missing": {k: list(v) for k, v in fs.missing.items()},
                                   "derived": {k: v.to_dict() for k, v in fs.derived.items()},
                                   "paths": fs.paths})}
        for lang in ("zh", "en"):
            report = engine.check(enc, lang=lang)
            data = report.to_dict()
            data["engine"] = {}
            # the receipt holds file hashes and the wall-clock time: tests/test_receipt.py
            data["receipt"] = {k: v for k, v in data["receipt"].items()
                               if k in ("input_sha256", "now", "now_source")}
            forms[f"json.{lang}"] = _digest(data)
            forms[f"cards.{lang}"] = _digest(report.to_cds_hooks())
            forms[f"text.{lang}"] = _digest(report.to_text())
            forms[f"html.{lang}"] = _digest(report._repr_html_())
        out[name] = forms
    return out


def main() -> int:
    current = fingerprints(cdss.Engine(backend="python"))
    if "--write" in sys.argv:
        SNAPSHOTS.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n",
                             encoding="utf-8")
        print(f"wrote {len(current)} snapshots")
        return 0
    old = json.loads(SNAPSHOTS.read_text(encoding="utf-8"))
    diff = sorted(f"{n}:{k}" for n in current for k in current[n]
                  if old.get(n, {}).get(k) != current[n][k])
    print("\n".join(diff) or "unchanged")
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
