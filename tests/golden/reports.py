"""Golden hashes of the reports of every rule case, sparse panel entry and sample.

The contract's reports must not change when the code is restructured (issue #13). For
each encounter this hashes the report in zh and in en, as JSON, as CDS Hooks cards and
as text; ``tests/test_golden_reports.py`` compares with the manifest committed in
``tests/golden/reports.json``. After a change that is MEANT to alter reports, rewrite the
manifest and say in the commit message which reports changed and why::

    python tests/golden/reports.py --write          # rewrite the manifest
    python tests/golden/reports.py --diff           # list the encounters that changed
"""

from __future__ import annotations

import argparse
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

from _encounters import encounter  # noqa: E402

MANIFEST = Path(__file__).resolve().parent / "reports.json"
LANGS = ("zh", "en")


def encounters() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, encounter) for every rule case, sparse panel entry and bundled sample."""
    for path in sorted((TESTS / "cases").glob("*.yaml")):
        for i, case in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            yield f"cases/{path.stem}#{i}", encounter(case.get("encounter") or {})
    for path in sorted((TESTS / "cases" / "sparse").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for i, case in enumerate(data.get("cases", [])):
            yield f"sparse/{path.stem}#{i}", case["encounter"]
    for path in sorted((Path(cdss.__file__).parent / "samples").glob("*.json")):
        yield f"samples/{path.stem}", json.loads(path.read_text(encoding="utf-8"))


def fingerprint(engine: cdss.Engine, enc: dict[str, Any]) -> str:
    """One hash over the JSON (without the engine's metadata), CDS Hooks and text forms
    of the report in zh and en."""
    digest = hashlib.sha256()
    for lang in LANGS:
        report = engine.check(enc, lang=lang)
        as_json = report.to_dict()
        # the engine's metadata (versions, the knowledge files' hash, the number of
        # rules) changes in every report with any edit of rules/ or knowledge/, which
        # would hide what else changed: it is left out
        as_json.pop("engine", None)
        as_json.pop("receipt", None)  # hashes of files and the time of evaluation
        digest.update(json.dumps(as_json, ensure_ascii=False, indent=2).encode())
        digest.update(json.dumps(report.to_cds_hooks(), ensure_ascii=False,
                                 sort_keys=True).encode())
        digest.update(report.to_text().encode())
    return digest.hexdigest()[:16]


def compute(backend: str = "durable") -> dict[str, str]:
    engine = cdss.Engine(backend=backend)
    return {name: fingerprint(engine, enc) for name, enc in encounters()}


def changed(current: dict[str, str], manifest: dict[str, str]) -> list[str]:
    names = sorted(set(current) | set(manifest))
    return [n for n in names if current.get(n) != manifest.get(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the manifest")
    parser.add_argument("--diff", action="store_true", help="list what changed")
    args = parser.parse_args()
    current = compute()
    if args.write:
        MANIFEST.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")
        print(f"wrote {len(current)} fingerprints to {MANIFEST}")
        return 0
    diff = changed(current, json.loads(MANIFEST.read_text(encoding="utf-8")))
    print("\n".join(diff) if diff else f"all {len(current)} reports unchanged")
    return 1 if diff and args.diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
