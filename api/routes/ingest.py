"""``POST /v1/ingest`` (multipart ``files``) → a job; ``GET /v1/jobs/{job_id}`` → its state and failures;
``DELETE /v1/jobs/{job_id}`` cancels it.

Uploads are saved under ``<data_dir>/api/uploads/<job id>/`` and ingested by the job worker through the
same ``IngestPipeline`` as ``citewise ingest``; each document's source is ``upload:<file name>``, and its
identity includes its ACL groups: uploading a file again under the same name with the same groups replaces
its previous version (and versions with other groups the caller may read); documents the caller may not
read are never touched, nor counted. A writer may only give the groups its key holds.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, UploadFile, status

from api.auth import Principal
from api.deps import Reader, ServicesDep, Writer
from api.schemas import ERRORS, JobCreated, JobOut
from citewise.errors import Forbidden, InvalidRequest
from citewise.types import checked_names

router = APIRouter(prefix="/v1", tags=["ingest"])
_UNSAFE = re.compile(r"[^A-Za-z0-9._ \-()+,@=]")


def safe_name(filename: str | None) -> str:
    """The file's base name, with characters other than letters, digits and ``._ -()+,@=`` replaced by ``_``."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip().lstrip(".~-")[:200]
    return cleaned or "upload"


MAX_TAGS, MAX_TAG_CHARS = 20, 200


def upload_tags(values: Sequence[str]) -> dict[str, str]:
    """``key=value`` form fields as a dict; ``InvalidRequest`` names a bad one."""
    if len(values) > MAX_TAGS:
        raise InvalidRequest(f"{len(values)} tags; at most {MAX_TAGS} per document")
    tags: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip() or not value.strip() or len(raw) > MAX_TAG_CHARS:
            raise InvalidRequest(
                f"tag {raw[:50]!r} must look like key=value (e.g. team=legal), at most {MAX_TAG_CHARS} characters"
            )
        tags[key.strip()] = value.strip()
    return tags


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
    responses={
        **ERRORS,
        413: {"model": ERRORS[422]["model"], "description": "the upload is too large"},
        429: {"model": ERRORS[422]["model"], "description": "too many upload jobs are queued or running"},
    },
)
def ingest(
    files: Annotated[list[UploadFile], File(description="one or more files (field name `files`)")],
    caller: Writer,
    services: ServicesDep,
    acl: Annotated[
        list[str] | None,
        Form(description="ACL groups allowed to read these documents (repeat the field); none: the whole tenant"),
    ] = None,
    tags: Annotated[
        list[str] | None,
        Form(description="key=value tags of these documents (repeat the field), filterable as `tag` in search"),
    ] = None,
) -> dict[str, Any]:
    """Queue the uploaded files for ingestion into the caller's tenant; poll ``GET /v1/jobs/{job_id}``."""
    if not files:
        raise InvalidRequest("no files: send one or more multipart fields named 'files'")
    groups = checked_names(acl or (), "acl group")
    labels = upload_tags(tags or ())
    if caller.groups is not None and not set(groups) <= set(caller.groups):
        foreign = ", ".join(sorted(set(groups) - set(caller.groups)))
        raise Forbidden(
            f"your key may only give ACL groups it holds ({', '.join(caller.groups) or 'none'}); not: {foreign}"
        )
    limit = services.settings.api.max_upload_files
    if len(files) > limit:
        raise InvalidRequest(f"{len(files)} files in one upload; the limit is {limit} (CITEWISE_API__MAX_UPLOAD_FILES)")
    svc = services.require()
    svc.jobs.check_capacity()  # 429 before the files are written
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
        job = svc.jobs.submit(
            caller.tenant, folder, saved, groups, owner=caller.key_id, reader_groups=caller.groups, tags=labels
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"job_id": job.job_id, "state": job.state, "files": sorted(saved.values())}


JobId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]


def _owner(caller: Principal) -> str | None:
    """Whose jobs the caller sees: its own (by key), or all of its tenant's for an admin."""
    return None if caller.role == "admin" else caller.key_id


@router.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def get_job(job_id: JobId, caller: Reader, services: ServicesDep) -> dict[str, Any]:
    """State (queued, running, done, failed, cancelled), progress and per-file failures (listed as they happen)
    of an upload job; only its submitter and the tenant's admins see it."""
    return services.jobs.get(job_id, caller.tenant, _owner(caller)).public()


@router.delete(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={**ERRORS, 409: {"model": ERRORS[422]["model"], "description": "the job has already finished"}},
)
def cancel_job(job_id: JobId, caller: Writer, services: ServicesDep) -> dict[str, Any]:
    """Cancel a queued or running job (documents it already finished stay ingested); 409 once it has finished."""
    return services.jobs.cancel(job_id, caller.tenant, _owner(caller)).public()
