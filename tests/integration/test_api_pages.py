"""The citation viewer's routes: PDF page images, the quote's boxes from the PDF's own text layer, ``/v1/me``.

A real PDF and a text file from the shared corpus uploaded through the API (embedded Qdrant, MiniLM), two tenants.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.settings import Settings
from tests.api_support import auth, corpus_file, wait_job, write_keys

pytestmark = [pytest.mark.integration]

PDF, TXT = "pdf/layout-parser-paper-fast.pdf", "fake-text.txt"
ACME, BETA = auth("acme", "writer"), auth("beta", "writer")
QUOTE = "deep learning"  # on page 1 of the paper


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("pages")
    settings = Settings(
        data_dir=root / "data", api_keys_file=write_keys(root), ingest={"workers": 0}, retrieval={"rerank": False}
    )
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        files = [("files", (name, corpus_file(name).read_bytes())) for name in (PDF, TXT)]
        created = client.post("/v1/ingest", files=files, data={"tags": ["team=research"]}, headers=ACME)
        assert created.status_code == 202, created.text
        job = wait_job(client, created.json()["job_id"], ACME)
        assert job["state"] == "done" and not job["failures"], job
        docs = {d["file_type"]: d["doc_id"] for d in client.get("/v1/documents", headers=ACME).json()["documents"]}
        yield SimpleNamespace(client=client, pdf=docs["pdf"], txt=docs["txt"], data=root / "data")


def _pdfium_boxes(page_number: int, needle: str) -> list[tuple[float, float, float, float]]:
    """The needle's first occurrence on the page, as (left, top, right, bottom) fractions, by pdfium's search."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(corpus_file(PDF)))
    try:
        page = pdf[page_number - 1]
        width, height = page.get_size()
        textpage = page.get_textpage()
        found = textpage.search(needle, match_case=False).get_next()
        assert found is not None, needle
        start, count = found
        boxes = []
        for i in range(textpage.count_rects(start, count)):
            x0, y0, x1, y1 = textpage.get_rect(i)
            boxes.append((x0 / width, (height - y1) / height, x1 / width, (height - y0) / height))
        return boxes
    finally:
        pdf.close()


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_the_quote_is_boxed_where_the_pdf_text_layer_has_it(api: SimpleNamespace) -> None:
    text = api.client.get(f"/v1/documents/{api.pdf}?text=true", headers=ACME).json()["text"]
    start = text.lower().index(QUOTE)
    body = api.client.get(
        f"/v1/documents/{api.pdf}/pages/1", params={"char_start": start, "char_end": start + len(QUOTE)}, headers=ACME
    ).json()
    assert body["match"] == "exact" and body["coverage"] == 1.0 and body["pages"] == 2, body
    assert body["quote"].lower() == QUOTE and body["image"] == f"/v1/documents/{api.pdf}/pages/1.png"
    ours = [(b["left"], b["top"], b["left"] + b["width"], b["top"] + b["height"]) for b in body["boxes"]]
    assert ours and all(any(_overlap(o, t) for o in ours) for t in _pdfium_boxes(1, QUOTE))
    # the same span asked on the other page is not there
    other = api.client.get(
        f"/v1/documents/{api.pdf}/pages/2", params={"char_start": start, "char_end": start + len(QUOTE)}, headers=ACME
    ).json()
    assert other["match"] in ("none", "partial")


def test_a_page_renders_as_png_of_the_asked_width(api: SimpleNamespace) -> None:
    from PIL import Image

    response = api.client.get(f"/v1/documents/{api.pdf}/pages/2.png?width=400", headers=ACME)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size[0] == 400


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"]["message"])


def test_bad_page_requests_say_what_to_do_and_leak_nothing(api: SimpleNamespace) -> None:
    get, pdf = api.client.get, api.pdf
    unknown = _error(get("/v1/documents/0123456789abcdef/pages/1", headers=ACME), 404)
    foreign = _error(get(f"/v1/documents/{pdf}/pages/1", headers=BETA), 404)
    assert foreign == unknown.replace("0123456789abcdef", pdf)  # another tenant's document: as if it did not exist
    assert _error(get(f"/v1/documents/{pdf}/pages/1.png", headers=BETA), 404) == foreign
    assert "out of range" in _error(get(f"/v1/documents/{pdf}/pages/3", headers=ACME), 404)
    assert "out of range" in _error(get(f"/v1/documents/{pdf}/pages/99.png", headers=ACME), 404)
    _error(get(f"/v1/documents/{pdf}/pages/0", headers=ACME), 422)
    _error(get(f"/v1/documents/{pdf}/pages/1.png?width=5", headers=ACME), 422)
    assert "char_end" in _error(get(f"/v1/documents/{pdf}/pages/1?char_start=5", headers=ACME), 422)
    assert "past the end" in _error(
        get(f"/v1/documents/{pdf}/pages/1?char_start=9999990&char_end=10000000", headers=ACME), 422
    )
    assert "?text=true" in _error(get(f"/v1/documents/{api.txt}/pages/1", headers=ACME), 404)
    _error(get(f"/v1/documents/{pdf}/pages/1"), 401)


def test_uploads_carry_their_tags_and_a_bad_tag_is_refused(api: SimpleNamespace) -> None:
    listed = api.client.get("/v1/documents", headers=ACME).json()["documents"]
    assert {d["doc_id"]: d["tags"] for d in listed}[api.txt] == {"team": "research"}
    files = [("files", ("x.txt", b"some text"))]
    refused = api.client.post("/v1/ingest", files=files, data={"tags": ["team"]}, headers=ACME)
    assert "key=value" in _error(refused, 422)


def test_me_names_the_keys_tenant_and_role(api: SimpleNamespace) -> None:
    assert api.client.get("/v1/me", headers=ACME).json() == {
        "tenant": "acme",
        "role": "writer",
        "key_id": api.client.get("/v1/me", headers=ACME).json()["key_id"],
        "groups": [],
        "open": False,
    }
    assert "missing credentials" in _error(api.client.get("/v1/me"), 401)
    assert "unknown API key" in _error(api.client.get("/v1/me", headers={"Authorization": "Bearer nope"}), 401)


def test_deleting_the_document_removes_its_kept_pdf(api: SimpleNamespace) -> None:
    kept = Path(api.data) / "api" / "originals" / api.pdf
    assert any(kept.glob("*.pdf"))
    assert api.client.delete(f"/v1/documents/{api.pdf}", headers=ACME).status_code == 200
    assert not kept.exists()
    _error(api.client.get(f"/v1/documents/{api.pdf}/pages/1.png", headers=ACME), 404)


def test_me_in_open_mode_needs_no_key(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path / "data")))  # no lifespan: /v1/me needs no index
    assert client.get("/v1/me").json() == {
        "tenant": "default",
        "role": "admin",
        "key_id": "open",
        "groups": None,
        "open": True,
    }


def test_a_pdf_ingested_from_a_local_path_is_read_where_it_is_while_unchanged(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    import shutil

    from tests.ingest_support import build

    local = tmp_path / "paper.pdf"
    shutil.copyfile(corpus_file(PDF), local)
    settings = Settings(data_dir=tmp_path / "data", ingest={"workers": 0}, retrieval={"rerank": False})
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    doc_id = pipeline.run([local]).doc_ids[0]
    pipeline.close()
    index.close()
    store.close()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        assert client.get(f"/v1/documents/{doc_id}/pages/1.png?width=200").status_code == 200
        with local.open("ab") as fh:
            fh.write(b"\n% changed since it was ingested\n")
        assert "no page images" in _error(client.get(f"/v1/documents/{doc_id}/pages/1.png"), 404)


def test_kept_pdfs_of_documents_deleted_elsewhere_do_not_outlive_them(
    tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    """The copy of an uploaded PDF goes with its document however it is deleted: through the CLI hand-off route of
    a running server, or by `citewise documents delete` while the server is down (swept at its next start)."""
    from api.local import TOKEN_HEADER
    from citewise.docstore import DocStore
    from citewise.index import open_index
    from ingest.steps import delete_document

    settings = Settings(data_dir=tmp_path / "data", ingest={"workers": 0}, retrieval={"rerank": False})
    originals = tmp_path / "data" / "api" / "originals"
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder, local_token="t0ken")
    with TestClient(app, client=("127.0.0.1", 5000)) as client:
        ids = []
        for name in ("one.pdf", "two.pdf"):
            created = client.post("/v1/ingest", files=[("files", (name, corpus_file(PDF).read_bytes()))])
            assert wait_job(client, created.json()["job_id"], {})["state"] == "done"
        ids = sorted(d["doc_id"] for d in client.get("/v1/documents").json()["documents"])
        assert sorted(p.name for p in originals.iterdir()) == ids
        gone = client.delete(f"/v1/local/documents/{ids[0]}", headers={TOKEN_HEADER: "t0ken"})
        assert gone.status_code == 200, gone.text
        assert [p.name for p in originals.iterdir()] == [ids[1]]
    (originals / ids[1] / "deadbeef.partial").write_bytes(b"%PDF-")  # a copy cut short by a crash
    index = open_index(settings)
    store = DocStore(settings.data_dir, index.collection)
    assert delete_document(index, store, ids[1]) > 0  # what `citewise documents delete` does with no server
    index.close()
    store.close()
    assert (originals / ids[1]).is_dir()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        assert client.get("/readyz").status_code == 200
        assert list(originals.iterdir()) == []
