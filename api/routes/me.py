"""``GET /v1/me``: who the key is (tenant, role, ACL groups), so the web app can sign in and show what it may do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Reader
from api.schemas import ERRORS, CallerOut

router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/me", response_model=CallerOut, responses=ERRORS)
def me(caller: Reader, request: Request) -> dict[str, Any]:
    """The caller's tenant, role, key id and ACL groups; 401 for a missing or unknown key."""
    groups = None if caller.groups is None else list(caller.groups)
    return {
        "tenant": caller.tenant,
        "role": caller.role,
        "key_id": caller.key_id,
        "groups": groups,
        "open": request.app.state.keyring.open,
    }
