"""Knowledge tables (knowledge/*.yaml): schemas, loading, look-up."""

from cdss.kb.base import CLASS_PREFIX, KnowledgeBase, load_knowledge

__all__ = ["CLASS_PREFIX", "KnowledgeBase", "load_knowledge"]
