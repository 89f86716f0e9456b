"""Compiled code on disk, so that start-up does not pay the compile.

One file per key (a digest of the rules, the knowledge, the generator and the Python
version) under :func:`cache_dir`. Caching is best effort: a folder that cannot be made
or written, or a file that cannot be read, is skipped silently and the code compiled.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType

#: the environment variable that sets the cache folder (empty: no cache)
CACHE_ENV = "CDSS_CACHE_DIR"


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


def load(key: str) -> CodeType | None:
    """The code stored under ``key``, or None (absent, unreadable, not code)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        code = marshal.loads((folder / f"{key}.bin").read_bytes())
    except Exception:  # missing, unreadable or damaged: compile instead
        return None
    return code if isinstance(code, CodeType) else None


def store(key: str, code: CodeType) -> None:
    """Write ``code`` under ``key`` (atomically); silently nothing if it cannot."""
    folder = cache_dir()
    if folder is None:
        return
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".bin")
        with os.fdopen(fd, "wb") as out:
            out.write(marshal.dumps(code))
        os.replace(tmp, folder / f"{key}.bin")
        tmp = None
    except Exception:  # a read-only or full disk: no cache, never an error
        pass
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
