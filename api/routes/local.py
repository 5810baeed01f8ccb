"""``/v1/local/...``: what ``citewise ingest|search|ask|index stats|documents delete`` do when this server owns the
data dir (hidden from the OpenAPI schema; only with the server's local token, only from loopback: ``api.local``).

The CLI sends what it would have run itself; the answers are what its ``--json`` forms print, so it can print
the same output and exit with the same code. Ingest runs go through the job queue like uploads (one writer).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from api.deps import ReadyDep, ServicesDep
from api.local import LocalIngest, local_caller
from api.services import ReadyServices, Services
from citewise.errors import CitewiseError, InvalidRequest
from citewise.types import DEFAULT_TENANT, checked_names

router = APIRouter(prefix="/v1/local", include_in_schema=False, dependencies=[Depends(local_caller)])


class Scope(BaseModel):
    collection: str | None = None
    tenant: str = DEFAULT_TENANT
    groups: list[str] | None = None


class LocalIngestRequest(Scope):
    paths: list[str] = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)
    prune: bool = False
    workers: int | None = Field(default=None, ge=0, le=256)
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    acl: list[str] = Field(default_factory=list)


class LocalSearchRequest(Scope):
    query: str
    k: int = Field(default=10, ge=1, le=1000)
    mode: str | None = None
    filters: list[str] = Field(default_factory=list)
    rerank: bool | None = None


class LocalAskRequest(Scope):
    question: str
    k: int = Field(default=5, ge=1, le=50)
    filters: list[str] = Field(default_factory=list)
    llm: str | None = None
    prompt: str | None = None
    rerank: bool | None = None
    stream: bool = False


def _ready(svc: ReadyServices, collection: str | None) -> ReadyServices:
    if collection and collection != svc.index.collection:
        raise InvalidRequest(
            f"the citewise server that owns this data dir serves collection {svc.index.collection!r}, not "
            f"{collection!r}: stop the server to use another collection, or wait for it (--wait)"
        )
    return svc


def summary_json(summary: Any) -> dict[str, Any]:
    return {
        "files": dataclasses.asdict(summary.files),
        "chunks": dataclasses.asdict(summary.chunks),
        "failures": [{"path": f.path, "reason": f.reason} for f in summary.failures],
        "elapsed_s": summary.elapsed_s,
    }


@router.post("/ingest", status_code=status.HTTP_202_ACCEPTED)
def ingest(body: LocalIngestRequest, services: ReadyDep) -> dict[str, Any]:
    svc = _ready(services, body.collection)
    checked_names([body.tenant], "--tenant")
    missing = [p for p in body.paths if not Path(p).exists()]
    if missing:
        raise InvalidRequest(f"path not found (as seen by the server): {', '.join(missing)}")
    run = LocalIngest(
        paths=[str(Path(p).resolve()) for p in body.paths],
        tenant=body.tenant,
        acl=tuple(checked_names(body.acl, "--acl group")),
        options={
            "tags": body.tags,
            "prune": body.prune,
            "workers": body.workers,
            "include": body.include,
            "exclude": body.exclude,
        },
    )
    folder = svc.uploads / f"local-{uuid.uuid4().hex}"  # never created: the job worker removes it when done
    svc.local_ingests.add(folder, run)
    job = svc.jobs.submit(run.tenant, folder, {}, run.acl)
    svc.local_ingests.bind(job.job_id, run)
    return {"job_id": job.job_id, "collection": svc.index.collection}


JobId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]


def _handed_over(services: Services, job_id: str) -> LocalIngest:
    run = services.local_ingests.get(job_id)
    if run is None:
        raise InvalidRequest(f"no local ingest job {job_id!r} on this server (it may have restarted)")
    return run


@router.get("/jobs/{job_id}")
def get_job(job_id: JobId, services: ServicesDep) -> dict[str, Any]:
    run = _handed_over(services, job_id)
    job = services.jobs.get(job_id, run.tenant)
    return {
        "job": job.public(),
        "summary": summary_json(run.summary) if run.summary is not None and job.state == "done" else None,
        "sources": getattr(run, "details", None),  # `citewise sources sync`: per-source results
    }


@router.delete("/jobs/{job_id}")
def cancel_job(job_id: JobId, services: ServicesDep) -> dict[str, Any]:
    """Ctrl-C of the CLI that handed this run over: the job stops at its next step (finished files stay)."""
    run = _handed_over(services, job_id)
    return {"job": services.jobs.cancel(job_id, run.tenant).public()}


class LocalSourcesSync(BaseModel):
    collection: str | None = None
    names: list[str] = Field(min_length=1)


@router.post("/sources/sync", status_code=status.HTTP_202_ACCEPTED)
def sync_sources(body: LocalSourcesSync, services: ReadyDep) -> dict[str, Any]:
    """``citewise sources sync NAME|--all``: a job of the server's queue, followed like a handed-off ingest."""
    svc = _ready(services, body.collection)
    specs = [svc.services.sources.get(name) for name in body.names]  # unknown names: 404 before queueing
    job = svc.services.source_jobs.submit([s.name for s in specs], DEFAULT_TENANT)
    return {"job_id": job.job_id, "collection": svc.index.collection}


@router.delete("/sources/{name}")
def remove_source(
    name: Annotated[str, PathParam(min_length=1, max_length=64)],
    services: ReadyDep,
    collection: str | None = None,
    purge: bool = False,
) -> dict[str, Any]:
    """``citewise sources remove NAME --purge``: the documents are deleted by the index's owner."""
    from api.routes.sources import purge_source

    svc = _ready(services, collection)
    svc.services.sources.get(name)
    if not purge:
        svc.services.sources.remove(name)
        return {"source": name, "documents_deleted": 0}
    return {"source": name, "documents_deleted": purge_source(svc, name)}


@router.delete("/documents/{doc_id}")
def delete_document(
    doc_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    services: ReadyDep,
    collection: str | None = None,
) -> dict[str, Any]:
    from ingest.steps import delete_document as delete

    svc = _ready(services, collection)
    with svc.write_lock, svc.writing():
        removed = delete(svc.index, svc.docstore, doc_id)
    svc.originals.remove(doc_id)
    return {"doc_id": doc_id, "deleted_chunks": removed}


class LocalRetag(BaseModel):
    tags: dict[str, str]


@router.patch("/documents/{doc_id}")
def retag_document(
    doc_id: Annotated[str, PathParam(min_length=1, max_length=128)],
    body: LocalRetag,
    services: ReadyDep,
    collection: str | None = None,
) -> dict[str, Any]:
    from ingest.steps import retag_document as retag

    svc = _ready(services, collection)
    with svc.write_lock, svc.writing():
        chunks = retag(svc.index, svc.docstore, doc_id, body.tags)
    return {"doc_id": doc_id, "tags": body.tags, "chunks": chunks}


@router.get("/index/stats")
def index_stats(services: ReadyDep, collection: str | None = None) -> dict[str, Any]:
    svc = _ready(services, collection)
    return dataclasses.asdict(svc.index.stats())


def _filter(body: Scope, filters: list[str]) -> Any:
    from retrieval import access_filter, parse_filter_args

    groups = checked_names(body.groups, "--group") if body.groups else None
    return access_filter(body.tenant, groups) & parse_filter_args(filters)


@router.post("/search")
def search(body: LocalSearchRequest, services: ReadyDep) -> dict[str, Any]:
    from retrieval import result_json
    from retrieval.retriever import check_mode

    svc = _ready(services, body.collection)
    flt = _filter(body, body.filters)
    if body.mode is not None:
        check_mode(body.mode)
    result = svc.retriever.search(body.query, k=body.k, filters=flt, mode=body.mode, rerank=body.rerank)
    return result_json(result)


@router.post("/ask")
def ask(body: LocalAskRequest, services: ReadyDep) -> Any:
    """``citewise ask``'s answer (its ``--json``), or with ``stream`` the same as Server-Sent Events: ``token``
    (``{"text"}``), then ``done`` (the answer) or ``error`` (``{"code", "message", "status"}``)."""
    from generation import answer_json

    svc = _ready(services, body.collection)
    answerer = svc.answers()
    flt = _filter(body, body.filters)
    args: dict[str, Any] = {"k": body.k, "filters": flt, "llm": body.llm, "prompt": body.prompt, "rerank": body.rerank}
    if body.stream:
        events = answerer.stream(body.question, **args)  # input errors raise here, as ordinary 4xx
        return EventSourceResponse(_local_sse(events), ping=10)
    return answer_json(answerer.answer(body.question, **args))


def _local_sse(events: Iterator[Any]) -> Iterator[dict[str, str]]:
    from generation import answer_json

    try:
        for event in events:
            if event.kind == "token":
                yield {"event": "token", "data": json.dumps({"text": event.data}, ensure_ascii=False)}
            elif event.kind == "done":
                yield {"event": "done", "data": json.dumps(answer_json(event.data), ensure_ascii=False)}
            elif event.kind == "error":
                yield {"event": "error", "data": json.dumps(event.data, ensure_ascii=False)}
    except CitewiseError as exc:
        yield {"event": "error", "data": json.dumps({"code": exc.code, "message": exc.message, "status": exc.status})}
