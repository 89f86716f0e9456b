"""Safe YAML reading with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cdss.errors import KnowledgeError

try:  # the C loader is 5-10x faster; fall back when PyYAML was built without it
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


def read_yaml(path: Path) -> Any:
    """Parse one YAML file with a safe loader (no Python objects, no code)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_Loader)
    except FileNotFoundError as exc:
        raise KnowledgeError(str(path), None, "file not found") from exc
    except yaml.YAMLError as exc:
        raise KnowledgeError(str(path), None, f"not valid YAML: {exc}") from exc


def validation_message(exc: ValidationError) -> str:
    """Flatten a pydantic error into ``loc: message`` lines."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate(model: type[BaseModel], data: Any, path: Path, entry: str | None = None) -> Any:
    """Validate ``data`` against ``model``, raising KnowledgeError naming the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError(str(path), entry, validation_message(exc)) from None
