"""Parsed knowledge and rule files are kept in the user cache (issue #17, start-up):
a cached parse is the parse, keyed by the text; damaged entries and values marshal
cannot write fall back to parsing; a cache folder set empty turns it off."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from cdss import _cache
from cdss._resources import knowledge_dir
from cdss.kb._files import read_yaml


@pytest.fixture
def cache_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(_cache.CACHE_ENV, str(folder))
    return folder


def test_a_cached_parse_is_the_parse(cache_in: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = knowledge_dir() / "products" / "cold_remedies.yaml"
    first = read_yaml(path)
    assert len(list(cache_in.glob("*.data"))) == 1
    again = read_yaml(path)  # from the cache
    monkeypatch.setenv(_cache.CACHE_ENV, "")  # off: parsed afresh
    assert again == first == read_yaml(path)


def test_another_text_never_reuses_an_entry(cache_in: Path, tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("a: 1\nb: [x, y]\n", encoding="utf-8")
    assert read_yaml(path) == {"a": 1, "b": ["x", "y"]}
    path.write_text("a: 2\nb: [x, y]\n", encoding="utf-8")
    assert read_yaml(path) == {"a": 2, "b": ["x", "y"]}


def test_a_damaged_entry_is_parsed_again(cache_in: Path, tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("a: 1\n", encoding="utf-8")
    read_yaml(path)
    for entry in cache_in.glob("*.data"):
        entry.write_bytes(b"\x00damaged")
    assert read_yaml(path) == {"a": 1}


def test_values_marshal_cannot_write_are_parsed_each_time(cache_in: Path,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("reviewed: 2026-12-05\n", encoding="utf-8")
    assert read_yaml(path) == {"reviewed": datetime.date(2026, 12, 5)}
    assert not list(cache_in.glob("*.data"))
    assert read_yaml(path) == {"reviewed": datetime.date(2026, 12, 5)}


def test_a_limit_is_part_of_the_key(cache_in: Path, tmp_path: Path) -> None:
    from cdss.errors import KnowledgeError

    path = tmp_path / "k.yaml"
    path.write_text("a: [1, 2, 3, 4, 5]\n", encoding="utf-8")
    assert read_yaml(path) == {"a": [1, 2, 3, 4, 5]}
    with pytest.raises(KnowledgeError, match="more than 3 values"):
        read_yaml(path, max_nodes=3)  # the cached parse under the default limit is not used
