"""Building blocks for site-layer tests: a layer and a site folder of layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def layer(level: str, **parts: Any) -> dict[str, Any]:
    """A layer file's content at ``level`` (province, county, clinic), by 李药师."""
    return {"level": level, "name": f"某{level}", "author": "李药师", **parts}


def site(tmp_path: Path, *layers: dict[str, Any]) -> Path:
    """A site folder under ``tmp_path`` with one ``<level>.yaml`` per layer."""
    folder = tmp_path / "site"
    folder.mkdir(parents=True, exist_ok=True)
    for data in layers:
        (folder / f"{data['level']}.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder
