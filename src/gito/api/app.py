"""The FastAPI application: routers, error envelope, middleware, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gito import __version__
from gito.alarms.routes import router as alarms_router
from gito.api.dashboard import mount_dashboard
from gito.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from gito.api.ratelimit import RateLimits
from gito.api.schemas import ERROR_RESPONSES, JSON
from gito.api.ws import router as ws_router
from gito.audit.routes import router as audit_router
from gito.auth.routes import router as auth_router
from gito.broker.provisioning import make_provisioner
from gito.commands.routes import router as commands_router
from gito.config import Settings, get_settings
from gito.db.engine import db_ping, dispose_engine, init_engine, sessionmaker
from gito.db.rawpool import asyncpg_dsn
from gito.devices.routes import router as devices_router
from gito.errors import GitoError, RateLimited
from gito.events.bus import Hub, pump_postgres, pump_redis
from gito.health.routes import router as health_router
from gito.logging import configure_logging
from gito.notifications.routes import router as notifications_router
from gito.sites.routes import router as sites_router
from gito.telemetry.ingest import router as ingest_router
from gito.telemetry.routes import router as telemetry_router
from gito.tenants.routes import router as tenants_router
from gito.users.routes import router as users_router

log = structlog.get_logger("gito.api")

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "NOT_AUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSON:
    return JSON(
        {"success": False, "error": {"code": code, "message": message, "details": details}},
        status_code=status,
        headers=headers,
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Input echoes are dropped: they may be huge or binary, and the location says enough.
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg")),
            "type": err.get("type"),
        }
        for err in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GitoError)
    async def gito_error(_: Request, exc: GitoError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return error_response(
            422, "VALIDATION_ERROR", "request is invalid", _validation_details(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        return error_response(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", error=type(exc).__name__)
        return error_response(500, "INTERNAL_ERROR", "internal server error")

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        # SQLSTATE class 22 ("data exception") means PostgreSQL cannot store or compare a
        # value as given (a NUL in a search string, say): the request's fault, so a 422.
        # Every other database error is ours.
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if sqlstate.startswith("22"):
            log.info("value refused by the database", sqlstate=sqlstate)
            return error_response(
                422, "INVALID_VALUE", "a value in the request cannot be stored or compared"
            )
        return await unexpected(request, exc)


async def _event_pump(settings: Settings, hub: Hub) -> None:
    """Feed this process's WebSockets. PostgreSQL NOTIFY always: events raised inside API
    and scheduler transactions (an alarm acknowledged, a command sent) travel that way, and
    commit with their change. Redis too when configured: processors publish their
    high-volume telemetry stream there instead. Each event takes exactly one of the two."""
    pumps = []
    if settings.database_url:
        pumps.append(pump_postgres(asyncpg_dsn(settings.database_url), hub))
    if settings.redis_url:
        pumps.append(pump_redis(settings.redis_url, hub))
    await asyncio.gather(*pumps)


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        # Called as the ASGI factory (`uvicorn gito.api.app:create_app --factory`, and each
        # worker process of `gito api --workers N`): the process entry point, so it sets up
        # the JSON logs the CLI would have set up.
        settings = get_settings()
        configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.database_url:
            raise RuntimeError("DATABASE_URL is not set (gito up provides an embedded one)")
        init_engine(settings.database_url, pool_size=settings.db_pool_size)
        await app.state.provisioner.start(sessionmaker())  # dynsec: reconcile in background
        # One upstream subscription per API process feeds every WebSocket of this process.
        pump = asyncio.create_task(_event_pump(settings, app.state.hub), name="gito-event-pump")
        try:
            yield
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await app.state.provisioner.close()
            await dispose_engine()

    app = FastAPI(
        title="Gito IoT Platform",
        version=__version__,
        description="Multi-tenant IoT platform API. Every response uses the envelope "
        "`{success, data, meta?}` or `{success: false, error: {code, message, details}}`.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url="/api/redoc",
        openapi_url="/api/openapi.json",
        default_response_class=JSON,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits(settings)
    app.state.hub = Hub()
    # Broker credential provisioning for the device routes (gito.broker.provisioning).
    app.state.provisioner = make_provisioner(settings)
    install_error_handlers(app)

    api = APIRouter(prefix="/api/v1")
    for router in (
        auth_router,
        tenants_router,
        users_router,
        sites_router,
        devices_router,
        health_router,
        audit_router,
        telemetry_router,
        ingest_router,
        alarms_router,
        commands_router,
        notifications_router,
        ws_router,
    ):
        api.include_router(router)
    app.include_router(api)

    @app.get("/api/health", operation_id="health", tags=["health"])
    async def health() -> Response:
        """Liveness and database check: 200 when the database answers, 503 otherwise."""
        try:
            database = await db_ping()
        except Exception as exc:
            log.warning("health check failed", error=str(exc))
            return JSON(
                {
                    "success": False,
                    "error": {
                        "code": "DATABASE_UNAVAILABLE",
                        "message": "database unreachable",
                        "details": None,
                    },
                },
                status_code=503,
            )
        return JSON(
            {
                "success": True,
                "data": {"status": "healthy", "version": __version__, "database": database},
            }
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        max_import_bytes=settings.max_import_bytes,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "X-Device-Token"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(RequestContextMiddleware)
    # Keep last: the dashboard's mount at `/` would shadow any route added after it.
    mount_dashboard(app)
    return app
