"""``POST /v1/feedback`` (thumbs up/down on an answer) and ``GET /v1/feedback`` (admins: export)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from api.deps import Admin, Reader, ServicesDep
from api.schemas import ERRORS, FeedbackCreated, FeedbackList, FeedbackRequest
from citewise.telemetry import request_id_var

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", status_code=status.HTTP_201_CREATED, response_model=FeedbackCreated, responses=ERRORS)
def post_feedback(body: FeedbackRequest, caller: Reader, services: ServicesDep) -> dict[str, Any]:
    """Rate an answer you were given (by its ``answer_id``), optionally with a comment and a correction."""
    feedback_id = services.feedback.add(
        caller.tenant, body.answer_id, body.rating, body.comment, body.correction, request_id_var.get() or ""
    )
    services.metrics.feedback.labels(rating=body.rating).inc()
    return {"feedback_id": feedback_id}


@router.get("/feedback", response_model=FeedbackList, responses=ERRORS)
def list_feedback(
    caller: Admin,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    rating: Annotated[Literal["up", "down"] | None, Query()] = None,
) -> dict[str, Any]:
    """The tenant's feedback with each answer's question, text and citations (material for eval sets)."""
    store = services.feedback
    return {
        "total": store.count(caller.tenant, rating),
        "offset": offset,
        "limit": limit,
        "feedback": store.list(caller.tenant, offset, limit, rating),
    }
