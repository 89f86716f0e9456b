"""The ASGI app (FastAPI) of the CDS Hooks service, and ``serve`` to run it.

Routes: ``GET /cds-services`` (discovery), ``POST /cds-services/{id}`` (a hook call),
``POST /cds-services/{id}/feedback``. Logs carry service ids, counts and timings, never
request bodies or patient data.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cdss.errors import InputError
from cdss.limits import load_json
from cdss.service.auth import AuthError, Verifier
from cdss.service.catalog import ServiceDef, build_services
from cdss.service.feedback import feedback_rows
from cdss.service.hooks import BadRequest, run_hook, validate
from cdss.service.mapping import PrefetchMissing
from cdss.service.settings import Settings, default_db_url, is_loopback
from cdss.service.store import FeedbackStore

log = logging.getLogger("cdss.service")


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _too_large(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"error":"request body too large"}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _lang(request: Request, default: str) -> str:
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return default


def create_app(engine: Any = None, *, db_url: str | None = None,
               settings: Settings | None = None) -> FastAPI:
    """The CDS Hooks service as an ASGI app (mount it in an existing server or run it
    with :func:`serve`). ``engine``: a :class:`cdss.Engine` (default: bundled rules, the
    settings' backend); ``db_url``: feedback database (default: a SQLite file, see
    :func:`cdss.service.settings.default_db_url`)."""
    import cdss

    settings = settings or Settings.from_env()
    store = FeedbackStore(db_url or settings.db_url or default_db_url())
    # the feedback store is where overrides are: a site's repeat suppression reads them
    engine = engine or cdss.Engine(lang=settings.lang, backend=settings.backend,
                                   site=settings.site, overrides=store)
    services: dict[str, ServiceDef] = build_services(engine.rules, engine.kb)
    rule_category = {r.spec.id: r.spec.category for r in engine.rules}
    verifier = Verifier(settings)

    app = FastAPI(title="cdss CDS Hooks service", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.store, app.state.engine, app.state.services = store, engine, services
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type", "Accept-Language"],
                           allow_credentials=False, max_age=600)

    def auth_required(request: Request) -> bool:
        if settings.require_auth is not None:
            return settings.require_auth
        server = request.scope.get("server") or ("", 0)
        return not is_loopback(str(server[0]))

    def authenticate(request: Request) -> JSONResponse | None:
        if not auth_required(request):
            return None
        base = settings.public_url.rstrip("/") if settings.public_url else \
            str(request.base_url).rstrip("/")
        try:
            verifier.verify(request.headers.get("authorization"), base + request.url.path)
        except AuthError as exc:
            log.info("auth refused on %s: %s", request.url.path, exc)
            return JSONResponse({"error": "unauthorized", "detail": str(exc)},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return None

    async def json_body(request: Request) -> Any:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/fhir+json"):
            raise StarletteHTTPException(415, "Content-Type must be application/json")
        raw = await request.body()
        try:
            return load_json(raw)
        except InputError as exc:
            raise StarletteHTTPException(400, f"malformed JSON: {exc}") from None

    @app.get("/cds-services")
    async def discovery(request: Request) -> Any:
        if (denied := authenticate(request)) is not None:
            return denied
        lang = _lang(request, settings.lang)
        return {"services": [s.to_discovery(lang) for s in services.values()]}

    @app.post("/cds-services/{service_id}")
    async def call(service_id: str, request: Request) -> Any:
        service = services.get(service_id)
        if service is None:
            return _error(404, "no such CDS service")
        if (denied := authenticate(request)) is not None:
            return denied
        body = await json_body(request)
        try:
            req = validate(service, body)
        except BadRequest as exc:
            return _error(400, "invalid CDS Hooks request", problems=exc.problems)
        start = time.perf_counter()
        try:
            result = await run_in_threadpool(
                run_hook, engine, service, req, _lang(request, settings.lang), rule_category,
                settings.fhir_timeout)
        except PrefetchMissing as exc:
            log.info("%s: 412, missing prefetch %s", service_id, exc.keys)
            return _error(412, "required data missing: " + ", ".join(exc.keys) + f" ({exc.why})",
                          missing={k: service.prefetch[k] for k in exc.keys})
        if result.served:
            await run_in_threadpool(store.record_cards, service_id, result.served)
        log.info("%s: %d card(s) in %.1f ms", service_id, len(result.body["cards"]),
                 (time.perf_counter() - start) * 1000)
        return result.body

    @app.post("/cds-services/{service_id}/feedback")
    async def post_feedback(service_id: str, request: Request) -> Any:
        if service_id not in services:
            return _error(404, "no such CDS service")
        if (denied := authenticate(request)) is not None:
            return denied
        body = await json_body(request)
        try:
            rows = feedback_rows(body)
        except BadRequest as exc:
            return _error(400, "invalid feedback", problems=exc.problems)
        stored = await run_in_threadpool(store.add_feedback, service_id, rows)
        log.info("%s: %d feedback item(s) stored", service_id, stored)
        return {"stored": stored}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)  # no message: it may hold data
        return _error(500, "internal error of cdss; please report it")

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, db_url: str | None = None, *,
          settings: Settings | None = None, log_level: str = "info") -> None:
    """Run the service with uvicorn (one worker). JWT authentication is on for any bind
    address other than loopback unless the settings say otherwise."""
    import uvicorn

    settings = settings or Settings.from_env()
    if settings.require_auth is None:
        settings.require_auth = not is_loopback(host)
    if settings.require_auth and not settings.issuers:
        raise SystemExit(
            f"cdss serve: binding to {host} requires JWT authentication, but no issuer is "
            "configured: set CDSS_SERVICE_ISSUERS to a JSON object {iss: jwks_url} "
            "(or CDSS_SERVICE_AUTH=off behind a trusted gateway)")
    app = create_app(db_url=db_url, settings=settings)
    uvicorn.run(app, host=host, port=port, workers=1, log_level=log_level,
                server_header=False)
