"""The rule language: YAML specs -> IR -> durable-rules JSON (and a Python evaluator)."""

from cdss.rulelang.load import CompiledRule, RuleSet, build_ruleset, compile_all
from cdss.rulelang.spec import KINDS, SEVERITIES, RuleSpec

__all__ = ["KINDS", "SEVERITIES", "CompiledRule", "RuleSet", "RuleSpec", "build_ruleset",
           "compile_all"]
