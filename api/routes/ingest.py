"""``POST /v1/ingest`` (multipart ``files``) → a job; ``GET /v1/jobs/{job_id}`` → its state and failures.

Uploads are saved under ``<data_dir>/api/uploads/<job id>/`` and ingested by the job worker through the
same ``IngestPipeline`` as ``citewise ingest``; each document's source is ``upload:<file name>``, so
uploading a file again under the same name replaces its previous version.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile, status

from api.deps import Reader, ServicesDep, Writer
from api.schemas import ERRORS, JobCreated, JobOut
from citewise.errors import InvalidRequest
from citewise.types import checked_names

router = APIRouter(prefix="/v1", tags=["ingest"])
MAX_FILES = 1000
_UNSAFE = re.compile(r"[^A-Za-z0-9._ \-()+,@=]")


def safe_name(filename: str | None) -> str:
    """The file's base name, with characters other than letters, digits and ``._ -()+,@=`` replaced by ``_``."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip().lstrip(".~-")[:200]
    return cleaned or "upload"


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


@router.post(
    "/ingest",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobCreated,
    responses={**ERRORS, 413: {"model": ERRORS[422]["model"], "description": "the upload is too large"}},
)
def ingest(
    files: Annotated[list[UploadFile], File(description="one or more files (field name `files`)")],
    caller: Writer,
    services: ServicesDep,
    acl: Annotated[
        list[str] | None,
        Form(description="ACL groups allowed to read these documents (repeat the field); none: the whole tenant"),
    ] = None,
) -> dict[str, Any]:
    """Queue the uploaded files for ingestion into the caller's tenant; poll ``GET /v1/jobs/{job_id}``."""
    if not files:
        raise InvalidRequest("no files: send one or more multipart fields named 'files'")
    groups = checked_names(acl or (), "acl group")
    if len(files) > MAX_FILES:
        raise InvalidRequest(f"{len(files)} files in one upload; the limit is {MAX_FILES}")
    svc = services.require()
    folder = svc.uploads / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    saved: dict[str, str] = {}
    taken: set[str] = set()
    try:
        for upload in files:
            name = _unique(safe_name(upload.filename), taken)
            target = folder / name
            with target.open("wb") as out:
                shutil.copyfileobj(upload.file, out, 1 << 20)
            saved[str(FsPath(target).resolve())] = name
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = svc.jobs.submit(caller.tenant, folder, saved, groups)
    return {"job_id": job.job_id, "state": job.state, "files": sorted(saved.values())}


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def get_job(
    job_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")],
    caller: Reader,
    services: ServicesDep,
) -> dict[str, Any]:
    """State (queued, running, done, failed), progress and per-file failures of an upload job."""
    return services.jobs.get(job_id, caller.tenant).public()
