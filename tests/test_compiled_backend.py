"""The ``compiled`` backend: generated code, its on-disk cache, and the audit default.

Its reports are compared with durable-rules' by the differential tests that run over
every registered backend (test_properties, test_rule_cases, test_golden_reports).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest

import cdss
import cdss.engine
from cdss import backends
from cdss.backends.compiled import cache
from cdss.backends.compiled.codegen import literal, module_source

from conftest import sample


@pytest.fixture
def cache_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def test_it_is_registered_and_the_audit_default() -> None:
    assert "compiled" in backends.names()
    assert backends.AUDIT_DEFAULT == "compiled"
    assert backends.DEFAULT == "durable"  # check stays on durable-rules


def test_the_second_engine_loads_the_code_from_the_cache(cache_in: Path) -> None:
    first = cdss.Engine(backend="compiled")
    assert first._backend.origin == "compiled"
    assert len(list(cache_in.glob("*.bin"))) == 1
    second = cdss.Engine(backend="compiled")
    assert second._backend.origin == "cache"
    enc = sample("enc-003")
    assert second.matches(_facts(second, enc)) == \
        first.matches(_facts(first, enc))


def _facts(engine: cdss.Engine, enc: dict) -> list[dict]:
    from cdss.derive import build_facts
    return build_facts(engine.parse(enc), engine.kb).facts


def test_other_rules_do_not_share_a_cache_entry(cache_in: Path, tmp_path: Path) -> None:
    cdss.Engine(backend="compiled")
    rules = tmp_path / "rules"
    shutil.copytree(Path(cdss.engine._bundled_rules()), rules)
    next(iter(sorted(rules.glob("*/*.yaml")))).unlink()
    other = cdss.Engine(backend="compiled", rules_dir=rules)
    assert other._backend.origin == "compiled"
    assert len(list(cache_in.glob("*.bin"))) == 2


def test_a_damaged_cache_entry_is_compiled_again(cache_in: Path) -> None:
    cdss.Engine(backend="compiled")
    (entry,) = cache_in.glob("*.bin")
    entry.write_bytes(b"not marshal data")
    engine = cdss.Engine(backend="compiled")
    assert engine._backend.origin == "compiled"
    assert engine.check(sample("enc-001")).suggestions


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setenv(cache.CACHE_ENV, str(folder / "below"))
    try:
        engine = cdss.Engine(backend="compiled")
        assert engine._backend.origin == "compiled"
        assert engine.check(sample("enc-001")).suggestions
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_cache_path_that_is_a_file_is_skipped(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker))
    assert cdss.Engine(backend="compiled").check(sample("enc-002"))


def test_an_empty_variable_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "")
    assert cache.cache_dir() is None
    assert cdss.Engine(backend="compiled")._backend.origin == "compiled"


def test_the_default_folder_is_the_user_cache(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "cdss"


def test_literals_are_never_code() -> None:
    nasty = "x'); import os; os.system('echo hi'); ('"
    assert eval(literal(nasty)) == nasty
    assert literal(float("inf")) == "float('inf')"
    with pytest.raises(TypeError):
        literal(object())


def test_one_module_per_rule_set_with_every_rule(engine: cdss.Engine) -> None:
    source = module_source(engine.rules)
    assert len(re.findall(r"^ +# r\d+$", source, re.M)) == len(engine.rules)
    compile(source, "<test>", "exec")


def test_run_before_prepare_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        backends.create("compiled").run([])
