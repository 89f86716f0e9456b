"""The bundled words of prescriptions (knowledge/prescribing.yaml), read alone.

The models' default vocabulary when a parse is given none (``cdss/__init__.py``); an
engine passes its own knowledge's (``KnowledgeBase.prescribing``).
"""

from __future__ import annotations

from functools import cache

from cdss._resources import knowledge_dir
from cdss.kb._files import read_yaml, validate
from cdss.kb.schema import PrescribingWords


@cache
def bundled_words() -> PrescribingWords:
    path = knowledge_dir() / "prescribing.yaml"
    return validate(PrescribingWords, read_yaml(path), path)
