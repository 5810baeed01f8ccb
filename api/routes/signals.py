"""``POST /v1/signals``: implicit feedback on an answer you were given (``copy``, ``open_citation``; api.signals)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import Field

from api.deps import Reader, ServicesDep
from api.schemas import ERRORS, _Body

router = APIRouter(prefix="/v1", tags=["feedback"])


class SignalRequest(_Body):
    answer_id: str = Field(min_length=1, max_length=128)
    kind: Literal["copy", "open_citation"] = Field(description="copied the answer, or opened one of its citations")


@router.post("/signals", status_code=status.HTTP_201_CREATED, responses=ERRORS)
def post_signal(body: SignalRequest, caller: Reader, services: ServicesDep) -> dict[str, Any]:
    """Record that the answer was copied or a citation opened (once per answer and kind: ``recorded`` says if new).
    Re-asking the same question within a minute is recorded by the server (``reask``)."""
    services.feedback.require_answer(caller.tenant, body.answer_id)
    recorded = services.signals.add(body.answer_id, caller.tenant, body.kind)
    if recorded:
        services.metrics.signals.labels(kind=body.kind).inc()
    return {"recorded": recorded}
