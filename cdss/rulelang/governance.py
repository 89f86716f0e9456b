"""Governance of rules: who answers for each and whether its review is current.

Rules carry Arden-style maintenance fields (``status``, ``owner``,
``clinical_reviewer``, ``reviewed``, ``expires``; a rule file's ``governance:`` block
gives defaults). :func:`governance_warnings` is what ``cdss rules lint`` says about
them: a production rule nobody reviewed, an expired rule, a review past its date.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from cdss.rulelang.load import CompiledRule


def governance_warnings(rules: Iterable[CompiledRule], today: date) -> list[str]:
    """One line per governance problem of the rules, as of ``today``."""
    out: list[str] = []
    for rule in rules:
        spec = rule.spec
        where = f"{rule.file}: rule '{rule.id}'"
        if spec.status == "expired":
            out.append(f"{where}: status expired (it does not run; delete it or review it)")
        elif spec.expires is not None and spec.expires < today:
            out.append(f"{where}: review expired on {spec.expires.isoformat()} "
                       f"(status {spec.status}); review it and set a new `expires`")
        if spec.status == "production" and (spec.clinical_reviewer is None
                                            or spec.reviewed is None):
            missing = [name for name, value in (("clinical_reviewer", spec.clinical_reviewer),
                                                ("reviewed", spec.reviewed)) if value is None]
            out.append(f"{where}: a production rule without {' and '.join(missing)} "
                       "(unreviewed)")
    return out
