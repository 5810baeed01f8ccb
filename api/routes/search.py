"""``POST /v1/search``: the same JSON as ``citewise search --json``, over the caller's tenant only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.auth import Principal
from api.deps import Reader, ReadyDep
from api.labels import relabel
from api.schemas import ERRORS, SearchRequest, SearchResponse, checked_filters
from api.services import ReadyServices
from api.tracing import record_stages
from retrieval import access_filter, parse_filter_object, result_json

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse, responses=ERRORS)
def search(body: SearchRequest, caller: Reader, services: ReadyDep, request: Request) -> dict[str, Any]:
    """Hybrid (or dense / sparse) search; hits carry their source, page and character span."""
    return search_json(body, caller, services, request.app.state.tracer)


def search_json(body: SearchRequest, caller: Principal, services: ReadyServices, tracer: Any) -> dict[str, Any]:
    """The search of ``POST /v1/search`` over the caller's tenant and ACL groups (also the MCP ``search`` tool)."""
    filters = checked_filters(body.filters, services.settings.api.max_filter_values)
    flt = access_filter(caller.tenant, caller.groups) & parse_filter_object(filters)
    result = services.retriever.search(body.query, k=body.k, filters=flt, mode=body.mode, rerank=body.rerank)
    services.metrics.observe_stages("search", result.timings_ms)
    record_stages(tracer, "search", result.timings_ms)
    return dict(relabel(result_json(result), services.docstore, services.settings))
