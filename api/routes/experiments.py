"""``GET /v1/experiments/{name}`` (admins): the A/B report of ``citewise experiments report``, caller's tenant."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path

from api.deps import Admin, ServicesDep
from api.schemas import ERRORS

router = APIRouter(prefix="/v1", tags=["experiments"])


@router.get("/experiments/{name}", responses=ERRORS)
def experiment_report(
    caller: Admin, services: ServicesDep, name: str = Path(min_length=1, max_length=64)
) -> dict[str, Any]:
    """Per variant: answers, thumbs-up / abstention / unsupported-sentence rates with 95% intervals, latency,
    tokens, cost; and a verdict against the control (see docs/api.md, "A/B experiments")."""
    from api.experiment_report import experiment_report as report

    running = services.experiment
    order = tuple(v.name for v in running.variants) if running is not None and running.name == name else ()
    return report(services.settings.data_dir, name, order, tenant=caller.tenant)
