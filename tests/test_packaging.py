"""Packaging: one version string; rules/ and knowledge/ ship inside the wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import cdss
from cdss._resources import data_root

REPO = Path(__file__).resolve().parents[1]


def test_version_is_written_in_one_place() -> None:
    text = (REPO / "cdss" / "_version.py").read_text(encoding="utf-8")
    assert re.search(rf'__version__ = "{re.escape(cdss.__version__)}"', text)
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and "\nversion =" not in pyproject


def test_installed_package_uses_its_bundled_data_when_installed() -> None:
    root = data_root()
    assert (root / "rules").is_dir() and (root / "knowledge" / "drugs" / "core.yaml").is_file()
    if os.environ.get("CDSS_EXPECT_INSTALLED"):  # set by .ci/run (non-editable install)
        assert root == Path(cdss.__file__).parent / "data", root


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_wheel_contains_rules_knowledge_and_samples(tmp_path) -> None:
    if not (REPO / "pyproject.toml").exists():
        pytest.skip("not a source checkout")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(tmp_path), str(REPO)], capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0 and "hatchling" in done.stderr + done.stdout:
        pytest.skip("build backend not available offline")
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("cdss-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted((REPO / "rules").rglob("*.yaml")):
        assert f"cdss/data/rules/{path.relative_to(REPO / 'rules').as_posix()}" in names
    for path in sorted((REPO / "knowledge").rglob("*.yaml")):
        assert f"cdss/data/knowledge/{path.relative_to(REPO / 'knowledge').as_posix()}" in names
    assert any(n.startswith("cdss/samples/") and n.endswith(".json") for n in names)
    # the unpacked wheel works on its own, away from the source tree
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import cdss, cdss._resources as r; e = cdss.Engine(); "
            "print(r.data_root()); print(len(e.rules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == str(site / "cdss" / "data")
