"""Safe YAML reading with errors that name the file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cdss import _cache
from cdss.errors import KnowledgeError

try:  # the C loader is 5-10x faster; fall back when PyYAML was built without it
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader

#: the cache files of parsed YAML (compiled code is ``.bin``)
DATA = ".data"
#: what a cached parse depends on besides the text: the YAML library and its loader
YAML_FORMAT = f"{yaml.__version__}:{_Loader.__name__}"

#: values of a document once every alias is expanded (the largest bundled knowledge
#: file has 2,655): an alias bomb ("billion laughs") is refused before it is built
MAX_EXPANDED_NODES = 100_000
#: nesting of mappings and lists (the bundled files nest at most 12 deep); deeper
#: documents used to end in a RecursionError
MAX_DEPTH = 32


def _check_shape(root: yaml.Node, path: Path, max_nodes: int) -> None:
    """Refuse a document too deep, or too large once its aliases are expanded.

    Aliases are shared nodes in the composed graph, so the expanded size and height
    are worked out once per distinct node (memoised, iteratively: no recursion).
    """
    done: dict[int, tuple[int, int]] = {}  # node -> (expanded size, expanded height)
    busy: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, expanded = stack.pop()
        if depth > MAX_DEPTH:
            raise KnowledgeError(str(path), None, f"nested deeper than {MAX_DEPTH} levels")
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            done[key] = (1, 1)
            continue
        if key in done and not expanded:
            continue
        children = ([c for pair in node.value for c in pair]
                    if isinstance(node, yaml.MappingNode) else list(node.value))
        if not expanded:
            if key in busy:
                raise KnowledgeError(str(path), None, "a YAML alias refers to itself")
            busy.add(key)
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children)
            continue
        busy.discard(key)
        size = 1 + sum(done[id(c)][0] for c in children)
        height = 1 + max((done[id(c)][1] for c in children), default=0)
        if size > max_nodes:
            raise KnowledgeError(str(path), None, f"more than {max_nodes:,} values once its "
                                 "YAML aliases are expanded (an alias bomb?)")
        if height > MAX_DEPTH:
            raise KnowledgeError(str(path), None, f"nested deeper than {MAX_DEPTH} levels "
                                 "once its YAML aliases are expanded")
        done[key] = (size, height)


def read_yaml(path: Path, max_nodes: int = MAX_EXPANDED_NODES) -> Any:
    """Parse one YAML file with a safe loader (no Python objects, no code).

    Every failure is a :class:`KnowledgeError` naming the file: missing, a folder,
    unreadable, not UTF-8, not YAML, nested deeper than :data:`MAX_DEPTH`, or larger
    than ``max_nodes`` once its aliases are expanded.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise KnowledgeError(str(path), None, "file not found") from exc
    except IsADirectoryError as exc:
        raise KnowledgeError(str(path), None, "is a folder, not a file") from exc
    except UnicodeDecodeError as exc:
        raise KnowledgeError(str(path), None, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise KnowledgeError(str(path), None, f"cannot read: {exc.strerror}") from exc
    # the parsed data of a text already read (checked and constructed) is kept in the
    # user cache: start-up reads ~120 knowledge and rule files (issue #17)
    key = _cache.file_key("yaml", YAML_FORMAT, str(max_nodes),
                          hashlib.sha256(text.encode("utf-8")).hexdigest())
    cached = _cache.load(key, DATA)
    if cached is not _cache.MISSING:
        return cached
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_shape(root, path, max_nodes)
        data = loader.construct_document(root)
        _cache.store(key, data, DATA)  # nothing when marshal cannot write it (a date)
        return data
    except yaml.YAMLError as exc:
        raise KnowledgeError(str(path), None, f"not valid YAML: {exc}") from exc
    except RecursionError as exc:  # pragma: no cover - MAX_DEPTH stops it first
        raise KnowledgeError(str(path), None, "nested too deeply") from exc
    finally:
        loader.dispose()


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
