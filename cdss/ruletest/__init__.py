"""The rule test kit: YAML rule cases run against an engine, with a coverage table.

``cdss rules test DIR`` runs a site's cases (and the project runs its own,
``tests/cases/``, through the same kit). See :mod:`.cases` for the case format and
:mod:`.normal` for the normal encounter cases are written against.
"""

from cdss.ruletest.cases import Case, load_cases
from cdss.ruletest.normal import NORMAL, deep_merge, encounter
from cdss.ruletest.run import CaseResult, CoverageRow, KitResult, check_case, run_case, run_cases

__all__ = ["NORMAL", "Case", "CaseResult", "CoverageRow", "KitResult", "check_case",
           "deep_merge", "encounter", "load_cases", "run_case", "run_cases"]
