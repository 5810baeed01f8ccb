"""The original files behind documents, for the citation viewer's page images (PDFs only).

Uploads are deleted when their job ends, so an uploaded PDF is copied to
``<data_dir>/api/originals/<doc_id>/<content_hash>.pdf`` once its document is committed with that very content
(the docstore's ``content_hash`` is the sha256 of the file's bytes). A document ingested from a local path
(``citewise ingest``) is read where it is, if its bytes still hash to the committed version. Deleting a document
removes its copy, a new version replaces it, and the server's start sweeps the copies of documents deleted while
it was down (``citewise documents delete``, ``--prune``).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable
from pathlib import Path

from citewise.docstore import DocStore, DocumentRecord
from citewise.telemetry import get_logger
from ingest.discovery import doc_id_for, file_hash

log = get_logger(__name__)
KEPT_SUFFIXES = (".pdf",)


class Originals:
    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "api" / "originals"
        self._hashes: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 of a local source
        self._lock = threading.Lock()

    def keep_uploads(self, files: dict[str, str], tenant: str, acl: Iterable[str], docstore: DocStore) -> list[str]:
        """Copy the uploaded PDFs (saved path -> upload name) whose documents were committed with their bytes;
        returns the doc ids kept."""
        kept = []
        for saved, name in files.items():
            path = Path(saved)
            if path.suffix.lower() not in KEPT_SUFFIXES or not path.is_file():
                continue
            record = docstore.get(doc_id_for(f"upload:{name}", tenant, acl))
            if record is None or record.content_hash is None or record.content_hash != file_hash(path):
                continue  # failed, or not committed: nothing to show
            target = self.root / record.doc_id / f"{record.content_hash}{path.suffix.lower()}"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                for old in target.parent.iterdir():
                    old.unlink(missing_ok=True)
                partial = target.with_suffix(".partial")
                shutil.copyfile(path, partial)
                partial.replace(target)
            kept.append(record.doc_id)
        return kept

    def find(self, record: DocumentRecord) -> Path | None:
        """The original file of the committed version of ``record``, or None when it is not available."""
        if record.content_hash is None or record.file_type.lower().lstrip(".") != "pdf":
            return None
        copy = self.root / record.doc_id / f"{record.content_hash}.pdf"
        if copy.is_file():
            return copy
        local = Path(record.source)
        if record.source.startswith("upload:") or not local.is_absolute() or not local.is_file():
            return None
        stat = local.stat()
        key = (str(local), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            digest = self._hashes.get(key)
        if digest is None:
            digest = file_hash(local)
            with self._lock:
                self._hashes[key] = digest
        return local if digest == record.content_hash else None

    def sweep(self, docstores: Iterable[DocStore]) -> int:
        """Delete the copies no collection's docstore commits any more (a document deleted or replaced while the
        server was down, e.g. by ``citewise documents delete``); returns how many were deleted."""
        if not self.root.is_dir():
            return 0
        current: dict[str, set[str]] = {}
        for store in docstores:
            for doc_id, digest in store.committed_hashes().items():
                current.setdefault(doc_id, set()).add(digest)
        deleted = 0
        for folder in self.root.iterdir():
            for copy in folder.iterdir() if folder.is_dir() else ():
                if copy.suffix == ".partial" or copy.stem not in current.get(folder.name, ()):
                    copy.unlink(missing_ok=True)
                    deleted += 1
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if deleted:
            log.info("originals.swept", deleted=deleted)
        return deleted

    def remove(self, doc_id: str) -> None:
        folder = self.root / doc_id
        if folder.is_dir() and folder.parent == self.root:
            shutil.rmtree(folder, ignore_errors=True)
            log.info("original.removed", doc_id=doc_id)
