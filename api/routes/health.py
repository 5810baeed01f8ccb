"""``/healthz`` (process up), ``/readyz`` (index reachable, models loaded), ``/metrics`` (Prometheus, admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import Admin, ServicesDep
from api.errors import error_response
from citewise.errors import CitewiseError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (no checks, no auth)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(services: ServicesDep) -> Any:
    """Ready when the index answers and the models are loaded (no auth); 503 with the reason otherwise."""
    try:
        svc = services.require()
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
