"""Dependencies of the routes: the services (``ReadyDep``: opened, else 503), and the caller checked against a
minimum role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal
from api.services import ReadyServices, Services

_bearer = HTTPBearer(auto_error=False, description="API key from CITEWISE_API_KEYS_FILE (not needed in open mode)")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def ready_services(request: Request) -> ReadyServices:
    """The opened index and models; ``IndexUnavailable`` (503, the error envelope of ``api.errors``) until then."""
    return get_services(request).require()


def _caller(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    header = f"{creds.scheme} {creds.credentials}" if creds is not None else request.headers.get("authorization")
    principal: Principal = request.app.state.keyring.authenticate(header)
    request.state.principal = principal
    return principal


def reader(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    return _caller(request, creds).require("reader")


def writer(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    return _caller(request, creds).require("writer")


def admin(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    return _caller(request, creds).require("admin")


Reader = Annotated[Principal, Depends(reader)]
Writer = Annotated[Principal, Depends(writer)]
Admin = Annotated[Principal, Depends(admin)]
ServicesDep = Annotated[Services, Depends(get_services)]
ReadyDep = Annotated[ReadyServices, Depends(ready_services)]
