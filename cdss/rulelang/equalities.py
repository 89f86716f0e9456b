"""Literal equalities a condition demands: the keys by which facts are pruned and rules
are indexed (``RuleSet.relevant``, the python backend, durable's condition limits)."""

from __future__ import annotations

from typing import Any

from cdss.rulelang import ir


def literal_equalities(node: ir.Node | None) -> set[tuple[str, Any]]:
    """(field, literal) equalities every fact matching ``node`` must satisfy."""
    if isinstance(node, ir.Compare) and node.op == "eq" and isinstance(node.operand, ir.Value):
        return {(node.field, node.operand.value)}
    if isinstance(node, ir.All):
        out: set[tuple[str, Any]] = set()
        for child in node.children:
            out |= literal_equalities(child)
        return out
    return set()
