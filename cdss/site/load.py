"""Read a site folder: up to three layer files, validated, in stacking order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from cdss.errors import KnowledgeError, SiteError
from cdss.kb._files import read_yaml
from cdss.site.spec import LEVELS, Layer


@dataclass(frozen=True)
class LoadedLayer:
    """A validated layer and the file it came from."""

    path: Path
    layer: Layer

    @property
    def level(self) -> str:
        return self.layer.level


@dataclass(frozen=True)
class Site:
    """The layers of a site, bottom first (province, county, clinic)."""

    folder: Path
    layers: tuple[LoadedLayer, ...]
    #: SHA-256 of the layer files (name and bytes), for receipts and pinning
    sha256: str

    @property
    def rules_dir(self) -> Path | None:
        """The site's own rules (``<site>/rules/<category>/*.yaml``), if it has any."""
        folder = self.folder / "rules"
        return folder if folder.is_dir() else None


def _problem_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_layer(path: Path) -> Layer:
    """One layer file; a :class:`SiteError` names the file and the path of each problem."""
    try:
        data = read_yaml(path)
    except KnowledgeError as exc:
        raise SiteError(str(path), None, exc.problem) from None
    try:
        layer = Layer.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SiteError(str(path), _problem_path(first["loc"]) or None,
                        first["msg"] + more) from None
    if layer.level != path.stem:
        raise SiteError(str(path), "level", f"says {layer.level!r} in a file named "
                        f"{path.name!r} (the file name is the layer: {', '.join(LEVELS)})")
    return layer


def load_site(folder: str | Path) -> Site:
    """The layers of a site folder (``province.yaml``, ``county.yaml``, ``clinic.yaml``)."""
    root = Path(folder)
    if not root.is_dir():
        raise SiteError(str(root), None, "a site is a folder of layer files "
                        "(province.yaml, county.yaml, clinic.yaml)")
    unknown = sorted(p.name for p in root.glob("*.yaml") if p.stem not in LEVELS)
    # (a site's own rules live in <site>/rules/<category>/*.yaml: rules_dir)
    if unknown:
        raise SiteError(str(root / unknown[0]), None, "not a layer file (layers: "
                        + ", ".join(f"{level}.yaml" for level in LEVELS) + ")")
    layers = tuple(LoadedLayer(root / f"{level}.yaml", load_layer(root / f"{level}.yaml"))
                   for level in LEVELS if (root / f"{level}.yaml").is_file())
    if not layers and not (root / "rules").is_dir():
        raise SiteError(str(root), None, "no layer file (province.yaml, county.yaml or "
                        "clinic.yaml) and no rules/ folder")
    digest = hashlib.sha256()
    for loaded in layers:
        digest.update(loaded.path.name.encode() + b"\0" + loaded.path.read_bytes() + b"\0")
    return Site(root, layers, digest.hexdigest())
