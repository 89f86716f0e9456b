"""Settings of the CDS Hooks service, from arguments or ``CDSS_SERVICE_*`` variables."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: a JWKS given as a URL (fetched and cached) or as the JWKS object itself
Jwks = str | dict[str, Any]


def default_db_url() -> str:
    """The embedded default: a SQLite file in the user's data directory.

    ``$CDSS_DATA_DIR``, else ``$XDG_DATA_HOME/cdss``, else ``~/.local/share/cdss``
    (``%LOCALAPPDATA%\\cdss`` on Windows); the current directory if none is writable.
    """
    base = os.environ.get("CDSS_DATA_DIR")
    if not base:
        if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
            base = str(Path(os.environ["LOCALAPPDATA"]) / "cdss")
        else:
            xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
            base = str(Path(xdg) / "cdss")
    folder = Path(base)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path.cwd()
    return f"sqlite:///{folder / 'feedback.sqlite3'}"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Settings:
    """How the service runs. Every field has a safe default.

    ``require_auth``: ``None`` decides by the address a request arrives on (off on
    loopback, on otherwise); ``serve()`` fixes it by the bind address.
    ``issuers``: ``iss`` -> its JWKS (a URL or the JWKS object); only these are trusted.
    ``public_url``: the base URL clients call (``aud`` is checked against it); by default
    the URL of the request.
    """

    db_url: str | None = None
    lang: str = "zh"
    require_auth: bool | None = None
    issuers: dict[str, Jwks] = field(default_factory=dict)
    public_url: str | None = None
    algorithms: tuple[str, ...] = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
                                   "PS256", "PS384", "PS512")
    #: seconds of clock skew allowed on exp/iat
    leeway: int = 30
    #: a token older than this (by iat) is refused even if exp is later
    max_token_age: int = 3600
    cors_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 5 * 1024 * 1024
    #: seconds for one FHIR server read when prefetch is absent
    fhir_timeout: float = 5.0
    #: the rules engine backend ("python": identical reports, faster; see cdss.Engine)
    backend: str = "python"
    #: a site folder of layer files (docs/site-layers.md); None: the national content
    site: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from ``CDSS_SERVICE_*`` variables, then ``overrides``.

        ``CDSS_SERVICE_DB`` (URL), ``CDSS_SERVICE_LANG``, ``CDSS_SERVICE_AUTH``
        (``on``/``off``), ``CDSS_SERVICE_ISSUERS`` (a JSON object ``{iss: jwks_url}`` or
        the path of such a file), ``CDSS_SERVICE_PUBLIC_URL``, ``CDSS_SERVICE_CORS``
        (comma-separated origins), ``CDSS_SERVICE_SITE`` (a site folder).
        """
        env = os.environ
        kw: dict[str, Any] = {}
        if env.get("CDSS_SERVICE_DB"):
            kw["db_url"] = env["CDSS_SERVICE_DB"]
        if env.get("CDSS_SERVICE_LANG"):
            kw["lang"] = env["CDSS_SERVICE_LANG"]
        if env.get("CDSS_SERVICE_AUTH"):
            kw["require_auth"] = env["CDSS_SERVICE_AUTH"].lower() in ("1", "on", "true", "yes")
        if env.get("CDSS_SERVICE_ISSUERS"):
            raw = env["CDSS_SERVICE_ISSUERS"]
            text = raw if raw.lstrip().startswith("{") else Path(raw).read_text("utf-8")
            kw["issuers"] = json.loads(text)
        if env.get("CDSS_SERVICE_SITE"):
            kw["site"] = env["CDSS_SERVICE_SITE"]
        if env.get("CDSS_SERVICE_PUBLIC_URL"):
            kw["public_url"] = env["CDSS_SERVICE_PUBLIC_URL"]
        if env.get("CDSS_SERVICE_CORS") is not None:
            kw["cors_origins"] = tuple(o.strip() for o in env["CDSS_SERVICE_CORS"].split(",")
                                       if o.strip())
        kw.update(overrides)
        return cls(**kw)
