"""Knowledge tables of the prescription rules of issue #15: drugs that need a skin test
before use (``knowledge/skin_test/``) and the antimicrobial tiers with the tier each
prescriber title may be granted (``knowledge/antimicrobial_tiers/``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdss.kb.schema import Frozen, Source, Text

SkinResult = Literal["negative", "positive", "not_done"]
Tier = Literal["non_restricted", "restricted", "special"]
Title = Literal["village_doctor", "assistant", "junior", "intermediate", "senior"]


class SkinTestRow(Frozen):
    """A drug (or class, ``class:<id>``) whose use requires a skin test first."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    drug: str
    #: the test, in words ("青霉素皮试")
    test: Text
    source: Source


class SkinTestWord(Frozen):
    """A way a record writes a skin-test result ("皮试(-)", "皮试阳性")."""

    text: str = Field(min_length=2)
    result: SkinResult


class SkinTestTable(Frozen):
    skin_tests: tuple[SkinTestRow, ...] = ()
    #: record words (matched after full-width brackets and spaces are normalised)
    record_words: tuple[SkinTestWord, ...] = ()
    record_words_source: Source | None = None


class TierRow(Frozen):
    """The tier of one antimicrobial in the catalogue (抗菌药物分级管理目录)."""

    drug: str
    tier: Tier
    source: Source


class TierLevel(Frozen):
    """A tier: its rank (1 lowest) and its name."""

    tier: Tier
    rank: int = Field(ge=1, le=3)
    name: Text


class TitleGrant(Frozen):
    """The highest tier a prescriber of a title may be granted."""

    title: Title
    name: Text
    highest: Tier
    source: Source


class TierTable(Frozen):
    tiers: tuple[TierRow, ...] = ()
    levels: tuple[TierLevel, ...] = ()
    titles: tuple[TitleGrant, ...] = ()
