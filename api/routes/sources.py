"""``/v1/sources`` (admin): named folders and object stores kept in sync, as ``citewise sources`` (docs/sources.md).

``GET /v1/sources``, ``POST /v1/sources``, ``GET /v1/sources/{name}``, ``PATCH /v1/sources/{name}`` (its globs),
``POST /v1/sources/{name}/sync`` (a job: poll ``GET /v1/jobs/{job_id}``), ``DELETE /v1/sources/{name}[?purge=true]``.
A source belongs to the caller's tenant; other tenants' sources are reported as not found. Local folders may be
added over the API only under ``CITEWISE_SOURCES__API_LOCAL_ROOTS``; object stores are read with the server's own
credentials (environment).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from api.auth import Principal
from api.deps import Admin, ServicesDep
from api.schemas import ERRORS, SourceGlobsIn, SourceIn, SourceList, SourceOut, SourceRemoved, SourceSyncOut
from api.services import Services
from citewise.errors import InvalidRequest, NotFound, SourceUnavailable
from ingest.sources.spec import SourceSpec, make_spec, with_globs

router = APIRouter(prefix="/v1/sources", tags=["sources"])
Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
API_OPTIONS = {"region_name", "anon", "requester_pays", "version_aware", "default_block_size"}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ERRORS[422]["model"], "description": "a source with this name exists"}
}


def _out(services: Services, spec: SourceSpec) -> dict[str, Any]:
    last = services.sources.status(spec.name)
    return {**spec.body(), "last_sync": None if last is None else {**last.__dict__, "failures": list(last.failures)}}


def _own(services: Services, name: str, caller: Principal) -> SourceSpec:
    spec = services.sources.get(name)
    if spec.tenant != caller.tenant:
        raise NotFound(f"no source named {name!r}; see GET /v1/sources")
    return spec


@router.get("", response_model=SourceList, responses=ERRORS)
def list_sources(caller: Admin, services: ServicesDep) -> dict[str, Any]:
    """The tenant's sources and how their last sync ended."""
    return {"sources": [_out(services, s) for s in services.sources.list(caller.tenant)]}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SourceOut, responses={**ERRORS, **CONFLICT})
def add_source(body: SourceIn, caller: Admin, services: ServicesDep) -> dict[str, Any]:
    """Add a source to the caller's tenant; it syncs on its schedule, its watch, or ``POST .../sync``."""
    from ingest.sources.listing import check_reachable

    spec = make_spec(
        body.name,
        body.uri,
        tenant=caller.tenant,
        acl=body.acl,
        tags=body.tags,
        schedule=body.schedule,
        watch=body.watch,
        options=body.options,
        local_roots=services.settings.sources.api_local_roots,
        include=body.include,
        exclude=body.exclude,
    )
    unsafe = sorted(set(body.options) - API_OPTIONS)
    if unsafe:  # an endpoint or client setting would point the server's credentials at any host the caller names
        raise InvalidRequest(
            f"storage option(s) {', '.join(unsafe)} cannot be set over the API (allowed: "
            f"{', '.join(sorted(API_OPTIONS))}); the S3 endpoint is the server's CITEWISE_SOURCES__S3_ENDPOINT_URL, "
            "or add the source with the CLI"
        )
    if body.check:
        try:
            check_reachable(spec, services.settings)
        except SourceUnavailable as exc:  # the request names a store this server cannot reach: the caller's to fix
            raise InvalidRequest(f"{exc.message}; or add it with check=false") from None
    services.sources.add(spec)
    return _out(services, spec)


@router.get("/{name}", response_model=SourceOut, responses=ERRORS)
def get_source(name: Name, caller: Admin, services: ServicesDep) -> dict[str, Any]:
    return _out(services, _own(services, name, caller))


@router.patch("/{name}", response_model=SourceOut, responses=ERRORS)
def update_source(name: Name, body: SourceGlobsIn, caller: Admin, services: ServicesDep) -> dict[str, Any]:
    """Replace the source's include and/or exclude globs (a field left out is kept; ``[]`` clears it). The next
    sync ingests what they now select and prunes, from this source only, what they now leave out."""
    if body.include is None and body.exclude is None:
        raise InvalidRequest("nothing to change: give include and/or exclude (a list of globs; [] clears it)")
    spec = with_globs(_own(services, name, caller), body.include, body.exclude)
    return _out(services, services.sources.update(spec))


@router.post(
    "/{name}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SourceSyncOut,
    responses={**ERRORS, 429: {"model": ERRORS[422]["model"], "description": "too many jobs are queued"}},
)
def sync_source(name: Name, caller: Admin, services: ServicesDep) -> dict[str, Any]:
    """Queue a sync of the source (a sync already waiting for it is returned instead of a second one)."""
    spec = _own(services, name, caller)
    job = services.source_jobs.submit([spec.name], spec.tenant, owner=caller.key_id)
    return {"source": spec.name, "job_id": job.job_id, "state": job.state}


@router.delete("/{name}", response_model=SourceRemoved, responses=ERRORS)
def remove_source(
    name: Name,
    caller: Admin,
    services: ServicesDep,
    purge: Annotated[bool, Query(description="also delete its documents (those no other source lists)")] = False,
) -> dict[str, Any]:
    """Forget the source; with ``purge=true`` also delete its documents."""
    _own(services, name, caller)
    if not purge:
        services.sources.remove(name)
        return {"source": name, "documents_deleted": 0}
    return {"source": name, "documents_deleted": purge_source(services.require(), name)}


def purge_source(svc: Any, name: str) -> int:
    """``ReadyServices`` ``svc``: delete source ``name``'s documents under the write lock, then forget it."""
    from ingest.sources.sync import purge

    with svc.writing():
        return purge(svc.services.sources, name, svc.index, svc.docstore, svc.write_lock)
