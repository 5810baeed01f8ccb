"""``POST /v1/search``: the same JSON as ``citewise search --json``, over the caller's tenant only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Reader, ServicesDep
from api.labels import relabel
from api.schemas import ERRORS, SearchRequest, SearchResponse, checked_filters
from api.tracing import record_stages
from retrieval import access_filter, parse_filter_object, result_json

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
def search(body: SearchRequest, caller: Reader, services: ServicesDep, request: Request) -> dict[str, Any]:
    """Hybrid (or dense / sparse) search; hits carry their source, page and character span."""
    filters = checked_filters(body.filters, services.settings.api.max_filter_values)
    flt = access_filter(caller.tenant, caller.groups) & parse_filter_object(filters)
    retriever = services.require().retriever
    result = retriever.search(body.query, k=body.k, filters=flt, mode=body.mode, rerank=body.rerank)
    services.metrics.observe_stages("search", result.timings_ms)
    record_stages(request.app.state.tracer, "search", result.timings_ms)
    svc = services.require()
    return dict(relabel(result_json(result), svc.docstore, svc.settings))
