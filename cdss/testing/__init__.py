"""Helpers for testing rules and integrations against ``cdss`` (see :mod:`.strategies`).

Needs hypothesis (``pip install 'cdss[test]'``).
"""

from cdss.testing import strategies
from cdss.testing.strategies import *  # noqa: F403 - the public strategies, re-exported

__all__ = list(strategies.__all__)
