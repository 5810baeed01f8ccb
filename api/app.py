"""``create_app(settings)``: the FastAPI app. Nothing is global; everything hangs off ``app.state``.

The index and models are opened in the lifespan (at server start), so creating an app is cheap and a
test client or uvicorn decides when the work happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from api import mcp_http
from api.auth import KeyRing
from api.capacity import Slots
from api.errors import install_error_handlers
from api.experiments import Experiment, ExperimentStore
from api.metrics import Metrics
from api.middleware import BodyLimit, RequestContextMiddleware
from api.routes import (
    ask,
    conversations,
    documents,
    experiments,
    feedback,
    health,
    ingest,
    local,
    me,
    pages,
    search,
    signals,
    sources,
    web,
)
from api.services import Services
from api.serving import check_experiment
from api.tracing import exporter_from_env, make_provider
from citewise import __version__
from citewise.offline import apply_offline_defaults
from citewise.settings import Settings
from citewise.telemetry import get_logger

log = get_logger(__name__)
UPLOAD_PATHS = {"/v1/ingest"}
LOCAL_PREFIX = "/v1/local/"  # the CLI hand-off (loopback, the server's token): its bodies list paths, not capped


def create_app(
    settings: Settings,
    *,
    dense: Any = None,
    sparse: Any = None,
    span_exporter: Any = None,
    local_token: str | None = None,
) -> FastAPI:
    """The API over ``settings``; ``dense``/``sparse`` reuse already loaded encoders (tests, benchmarks);
    ``span_exporter`` receives OpenTelemetry spans (default: whatever ``OTEL_TRACES_EXPORTER`` asks for)."""
    apply_offline_defaults()
    keyring = KeyRing.load(settings.api_keys_file)  # a bad keys file stops the app before it serves anything
    experiment = check_experiment(Experiment.load(settings.experiments_file), settings)  # so does a bad experiment
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if keyring.open:
            log.warning(
                "auth.open",
                note="no CITEWISE_API_KEYS_FILE: every caller is tenant 'default' with the admin role",
            )
        else:
            log.info("auth.keys", tenants=sorted(keyring.tenants))
        services = Services(settings, metrics, dense=dense, sparse=sparse)
        if experiment is not None:
            services.experiment, services.experiments = experiment, ExperimentStore(settings.data_dir)
        app.state.services = services
        await run_in_threadpool(services.start)
        try:
            async with mcp_running():
                yield
        finally:
            await run_in_threadpool(services.close)
            if app.state.tracer_provider is not None:
                await run_in_threadpool(app.state.tracer_provider.shutdown)  # export the spans still queued

    app = FastAPI(
        title="citewise",
        version=__version__,
        summary="Search and question answering over your documents, with checked citations.",
        lifespan=lifespan,
    )
    app.state.keyring = keyring
    app.state.local_token = local_token  # the CLI hand-off (api.routes.local); None: those routes are hidden
    app.state.metrics = metrics
    provider = make_provider(span_exporter if span_exporter is not None else exporter_from_env())
    app.state.tracer_provider = provider
    app.state.tracer = provider.get_tracer("citewise.api") if provider is not None else None
    app.state.answer_slots = Slots(
        settings.api.max_concurrent_answers,
        "CITEWISE_API__MAX_CONCURRENT_ANSWERS",
        "answers (POST /v1/ask, conversation messages)",
    )
    install_error_handlers(app)
    mcp_running = mcp_http.mount(app, keyring, settings.api.allow_open)  # /mcp: search, ask, get_document
    for module in (
        search,
        ask,
        conversations,
        pages,
        documents,
        ingest,
        me,
        sources,
        feedback,
        health,
        web,
        local,
        experiments,
        signals,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    upload_mb, body_kb = settings.api.max_upload_mb, settings.api.max_body_kb
    upload = BodyLimit(
        int(upload_mb * 1e6),
        f"the upload is larger than the limit of {upload_mb:g} MB (CITEWISE_API__MAX_UPLOAD_MB); "
        "send fewer or smaller files",
    )
    body = BodyLimit(
        int(body_kb * 1e3),
        f"the request body is larger than the limit of {body_kb:g} kB (CITEWISE_API__MAX_BODY_KB); "
        "send a shorter request",
    )

    def body_limit(scope: Scope) -> BodyLimit | None:
        if scope["path"] in UPLOAD_PATHS and scope["method"] == "POST":
            return upload
        return None if scope["path"].startswith(LOCAL_PREFIX) else body

    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, tracer=lambda: app.state.tracer, body_limit=body_limit
    )
    return app
