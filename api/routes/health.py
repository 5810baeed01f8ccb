"""``/healthz`` (process up), ``/readyz`` (index reachable, models loaded), ``/metrics`` (Prometheus, admins).

``/healthz`` and ``/readyz`` never wait for the worker threads the other routes run on (busy with answers, they
would make a healthy server look dead): ``/healthz`` runs on the event loop, ``/readyz`` runs its checks on
threads of its own (``HEALTH_THREADS``)."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request, Response

from api.deps import Admin, ServicesDep
from api.errors import error_response
from api.services import Services
from citewise.errors import CitewiseError

router = APIRouter(tags=["health"])
HEALTH_THREADS = 2


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no checks, no auth)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> Any:
    """Ready when the index answers and the models are loaded (no auth); 503 with the reason otherwise."""
    state = request.app.state
    if getattr(state, "health_threads", None) is None:
        state.health_threads = anyio.CapacityLimiter(HEALTH_THREADS)
    return await anyio.to_thread.run_sync(_readiness, state.services, limiter=state.health_threads)


def _readiness(services: Services) -> Any:
    try:
        svc = services.require()
        assert svc.index is not None
        points = svc.index.count()
    except CitewiseError as exc:
        return error_response(503, "not_ready", exc.message)
    if svc.write_failure is not None:
        return error_response(503, "not_ready", f"index writes are failing: {svc.write_failure}")
    return {
        "status": "ready",
        "index": {"backend": svc.index.backend, "collection": svc.index.collection, "points": points},
        "models": {"dense": str(svc.retriever.dense.model_id), "reranker": svc.retriever.reranker_state().json()},
        "generation": svc.answerer is not None,
        "jobs_queued": svc.jobs.pending(),
    }


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(caller: Admin, services: ServicesDep) -> Response:
    """Prometheus text format (admins)."""
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
