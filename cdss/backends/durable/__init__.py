"""The durable-rules backend: every line of cdss that knows durable-rules.

Importing this package imports nothing of ``durable``; ``host.py`` alone does (the
import contract in ``pyproject.toml`` checks it), when ``backend.py`` is loaded by the
registry (``cdss.backends.create("durable")``).
"""
