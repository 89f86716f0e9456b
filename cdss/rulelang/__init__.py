"""The rule language: YAML specs -> IR, checked against the facts and the knowledge (the
backends in ``cdss.backends`` run it)."""

from cdss.rulelang.load import CompiledRule, RuleSet, build_ruleset, compile_all
from cdss.rulelang.spec import KINDS, SEVERITIES, RuleSpec

__all__ = ["KINDS", "SEVERITIES", "CompiledRule", "RuleSet", "RuleSpec", "build_ruleset",
           "compile_all"]
