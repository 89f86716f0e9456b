"""JWT bearer authentication of CDS Clients, as CDS Hooks 2.0 requires.

Asymmetric algorithms only (``none`` and HMAC are refused), issuers from an allow-list
each with its JWKS (a URL, fetched and cached, or a JWKS object), ``kid`` required,
``jku`` accepted only when it is the issuer's configured JWKS URL, ``exp``/``iat``/
``jti``/``aud`` required, ``aud`` the URL called, ``jti`` never accepted twice while
the token could still be valid. Messages name what failed, never the token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient

from cdss.service.settings import Jwks, Settings


class AuthError(Exception):
    """Authentication failed; ``str()`` is safe to return to the client."""


class ReplayCache:
    """``jti`` values seen, each kept until its token expires (per process)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def check_and_add(self, key: str, expires: float) -> bool:
        """True the first time ``key`` is seen while unexpired; False on a replay."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if self._seen.get(key, 0) > now:
                return False
            self._seen[key] = expires
            return True


class Verifier:
    """Verifies ``Authorization: Bearer <JWT>`` headers against the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.replays = ReplayCache()
        self._clients: dict[str, PyJWKClient] = {}
        self._lock = threading.Lock()
        unsafe = [a for a in settings.algorithms if a.upper().startswith("HS")
                  or a.lower() == "none"]
        if unsafe:
            raise ValueError(f"JWT algorithms must be asymmetric; refused: {unsafe}")

    def _key(self, jwks: Jwks, kid: str, jku: str | None) -> Any:
        if isinstance(jwks, str):
            if jku is not None and jku != jwks:
                raise AuthError("jku is not the JWKS URL registered for this issuer")
            with self._lock:
                client = self._clients.get(jwks)
                if client is None:
                    client = PyJWKClient(jwks, cache_keys=True, lifespan=3600, timeout=5)
                    self._clients[jwks] = client
            try:
                return client.get_signing_key(kid).key
            except jwt.PyJWKClientError as exc:
                raise AuthError(f"no key {kid!r} in the issuer's JWKS") from exc
        if jku is not None:
            raise AuthError("jku is not the JWKS URL registered for this issuer")
        for k in jwks.get("keys", []):
            if k.get("kid") == kid:
                return PyJWK(k).key
        raise AuthError(f"no key {kid!r} in the issuer's JWKS")

    def verify(self, header: str | None, audience: str) -> dict[str, Any]:
        """The verified claims; :class:`AuthError` otherwise."""
        if not header or not header.startswith("Bearer "):
            raise AuthError("missing bearer token (Authorization: Bearer <JWT>)")
        token = header[len("Bearer "):].strip()
        try:
            head = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError("malformed JWT") from exc
        alg = str(head.get("alg", ""))
        if alg not in self.settings.algorithms:
            raise AuthError(f"JWT algorithm {alg!r} not accepted (asymmetric only)")
        if head.get("typ", "JWT").upper() != "JWT":
            raise AuthError("JWT typ must be 'JWT'")
        kid = head.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("JWT header lacks kid")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self.settings.issuers:
            raise AuthError("issuer not on the allow-list")
        key = self._key(self.settings.issuers[iss], kid, head.get("jku"))
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=iss,
                leeway=self.settings.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("JWT expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("JWT aud is not this service's URL") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWT refused: {type(exc).__name__}") from exc
        if time.time() - float(claims["iat"]) > self.settings.max_token_age:
            raise AuthError("JWT issued too long ago")
        if not self.replays.check_and_add(f"{iss}|{claims['jti']}",
                                          float(claims["exp"]) + self.settings.leeway):
            raise AuthError("JWT jti already used (replay)")
        return claims
