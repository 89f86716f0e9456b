"""The user's cache folder for derived data (compiled rule code, parsed knowledge), so
that start-up does not pay the work again.

One file per key (a digest of what the data was made from and of this interpreter)
under :func:`cache_dir`. Caching is best effort: a folder that cannot be made or
written, or a file that cannot be read, is skipped silently and the work done again.
Only ``marshal`` data is kept (plain values and code objects, never pickles); what reads
an entry checks its type.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

#: the environment variable that sets the cache folder (empty: no cache)
CACHE_ENV = "CDSS_CACHE_DIR"

#: what :func:`load` returns for an entry that is absent, unreadable or damaged
MISSING = object()


def cache_dir() -> Path | None:
    """``$CDSS_CACHE_DIR``, else the user cache folder (``$XDG_CACHE_HOME/cdss`` or
    ``~/.cache/cdss``); None when caching is off (the variable set but empty)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen) if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cdss"


def file_key(*parts: str) -> str:
    """A cache file name for ``parts`` and this interpreter's bytecode format."""
    digest = hashlib.sha256("\0".join((*parts, sys.implementation.cache_tag or "",
                                       sys.version)).encode())
    return digest.hexdigest()[:40]


def load(key: str, suffix: str = ".bin") -> Any:
    """The value stored under ``key`` (a file ``<key><suffix>``: ``.bin`` for code,
    ``.data`` for parsed files), or :data:`MISSING`."""
    folder = cache_dir()
    if folder is None:
        return MISSING
    try:
        return marshal.loads((folder / f"{key}{suffix}").read_bytes())
    except Exception:  # missing, unreadable or damaged: do the work instead
        return MISSING


def store(key: str, value: Any, suffix: str = ".bin") -> None:
    """Write ``value`` under ``key`` (atomically); silently nothing if it cannot be
    (no folder, a read-only or full disk, a value marshal cannot write)."""
    folder = cache_dir()
    if folder is None:
        return
    tmp = None
    try:
        data = marshal.dumps(value)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, folder / f"{key}{suffix}")
        tmp = None
    except Exception:  # no cache, never an error
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
