"""A CDS Hooks 2.0 service over the cdss engine (``pip install 'cdss[service]'``).

``create_app()`` gives the ASGI app; ``serve()`` runs it with uvicorn; see
docs/service.md.
"""

from __future__ import annotations

from cdss.service.app import create_app, serve
from cdss.service.settings import Settings

__all__ = ["Settings", "create_app", "serve"]
