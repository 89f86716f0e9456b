"""The layers of docs/architecture.md hold: import-linter's contracts (pyproject.toml),
and durable-rules is imported only when the durable backend is used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cdss
from cdss import backends

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(cdss.__file__).resolve().parent
CONTRACTS = ("Layers: apps", "No import cycles", "Only the durable host imports durable")


def _lint_imports(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or \
        shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed (it is in the `test` extra)")
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([exe, "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for name in CONTRACTS:
        assert f"{name}" in run.stdout
    assert "3 kept, 0 broken" in run.stdout, run.stdout


def test_the_contracts_break_on_a_wrong_arrow_a_cycle_and_a_stray_durable(tmp_path) -> None:
    # a copy of the package with three bad imports: each contract must catch its own
    copy = tmp_path / "cdss"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("data", "__pycache__"))
    with (copy / "rulelang" / "spec.py").open("a") as f:
        f.write("\nimport cdss.cli  # upward: the rule language importing an app\n")
    with (copy / "audit_views.py").open("a") as f:
        f.write("\nimport cdss.audit  # a cycle: audit imports audit_views\n")
    with (copy / "derive" / "values.py").open("a") as f:
        f.write("\nimport durable  # durable-rules outside its backend\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    run = _lint_imports(tmp_path, pythonpath=str(tmp_path))
    assert run.returncode != 0
    out = run.stdout
    assert "0 kept, 3 broken" in out, out[-4000:]
    assert "cdss.rulelang.spec -> cdss.cli" in out
    assert ".audit_views -> .audit" in out  # the cycle
    assert "cdss.derive.values -> durable" in out


@pytest.mark.parametrize("backend", backends.names())
def test_durable_rules_is_imported_only_by_its_backend(backend: str) -> None:
    code = f"""
import sys
import cdss
engine = cdss.Engine(backend={backend!r})
engine.check({{"id": "e", "time": "2026-11-20T09:00:00", "patient": {{"id": "p"}}}})
loaded = sorted(m for m in ("durable", "durable_rules_engine") if m in sys.modules)
print("LOADED", loaded)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = "['durable', 'durable_rules_engine']" if backend == "durable" else "[]"
    assert f"LOADED {loaded}" in run.stdout, run.stdout


def test_every_registered_backend_implements_the_protocol() -> None:
    for name in backends.names():
        backend = backends.create(name)
        assert backend.name == name
        for method in ("validate", "prepare", "run"):
            assert callable(getattr(backend, method)), (name, method)
    with pytest.raises(ValueError, match="backend must be one of"):
        backends.create("drools")
