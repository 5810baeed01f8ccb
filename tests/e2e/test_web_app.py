"""The web app in headless Chromium against a real uvicorn server with a keys file, one flow per test, in order:
sign in, upload with progress (and a failing file), ask and follow up (with stop), open a PDF citation (the
highlight overlaps the quote's box in the PDF's own text layer), feedback with a correction, delete, 375 px and
keyboard, sign out, a reader's key. Real files from the shared corpus; embedded Qdrant, MiniLM, the extractive answerer.

``CITEWISE_SCREENSHOTS=docs/screenshots`` also saves a small PNG of each screen (how the README's were made).
"""

from __future__ import annotations

import json
import os
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import create_app
from citewise.settings import Settings
from tests.api_support import corpus_file
from tests.net import serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WRITER, READER, ADMIN = "acme-writer-hr-key-0000001", "acme-reader-key-000000001", "acme-admin-key-0000000001"
KEYS = {
    WRITER: {"tenant": "acme", "role": "writer", "groups": ["hr"]},
    READER: {"tenant": "acme", "role": "reader"},
    ADMIN: {"tenant": "acme", "role": "admin"},
}
PDF, TXT, BAD = "pdf/layout-parser-paper-fast.pdf", "book-war-and-peace-1p.txt", "pdf/password.pdf"
WAIT = 60_000


def shot(page: Any, name: str, target: Any = None) -> None:
    """A screenshot for the docs, when CITEWISE_SCREENSHOTS names a folder (palette PNG, to stay small)."""
    folder = os.environ.get("CITEWISE_SCREENSHOTS")
    if not folder:
        return
    from PIL import Image

    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    (target or page).screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(colors=64).save(path, optimize=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[str]:
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed here (`apt-get install chromium`; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    root: Path = tmp_path_factory.mktemp("webapp")
    keys = root / "keys.json"
    keys.write_text(json.dumps(KEYS))
    settings = Settings(data_dir=root / "data", api_keys_file=keys, ingest={"workers": 0}, retrieval={"rerank": False})
    with serving(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as base:
        yield base


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1000, "height": 720})
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(server + "/")
            yield tab
            assert not errors, errors
        finally:
            browser.close()


def _ask(page: Any, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    from playwright.sync_api import expect

    expect(page.locator("#feedback")).to_be_visible(timeout=WAIT)  # the verified answer is in


def test_sign_in_refuses_a_wrong_key_clearly_then_signs_in(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#ask-view")).to_be_hidden()
    page.fill("#signin-key", "not-a-key-of-this-server")
    page.press("#signin-key", "Enter")
    expect(page.locator("#signin-error")).to_contain_text("This key was not accepted")
    shot(page, "sign-in")
    page.fill("#signin-key", WRITER)
    page.click("#signin-button")
    expect(page.locator("#who-label")).to_have_text("acme · writer · groups hr")
    expect(page.locator("#ask-view")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('citewise.key')") == WRITER
    assert page.evaluate("localStorage.length") == 0


def test_upload_shows_progress_job_state_and_failures_with_reasons(page: Any) -> None:
    from playwright.sync_api import expect

    page.click("#show-library")
    expect(page.locator("#upload-acl-choices input")).to_have_count(1)  # the key's one group: hr
    page.set_input_files("#upload-files", [str(corpus_file(n)) for n in (PDF, TXT, BAD)])
    page.fill("#upload-tags", "team=research")
    page.click("#upload-button")
    upload = page.locator("#uploads li").first
    expect(upload).to_have_attribute("data-state", "done", timeout=WAIT)
    assert upload.get_attribute("data-sent") == "1.00"  # the XHR reported the upload's progress to the end
    assert float(upload.locator("progress").get_attribute("value") or 0) == 1.0
    expect(upload.locator(".upload-state")).to_contain_text("3 of 3 file(s) done, 1 failed")
    expect(upload.locator(".failures")).to_contain_text("password.pdf: password-protected PDF: remove the password")
    expect(page.locator("#documents li")).to_have_count(2)
    expect(page.locator("#documents")).to_contain_text("team=research")
    page.fill("#documents-filter", "pdf")
    expect(page.locator("#documents li")).to_have_count(1)
    expect(page.locator("#documents-count")).to_have_text("1 of 2 document(s) match")
    page.fill("#documents-filter", "")
    shot(page, "library")


def test_ask_follow_up_stop_and_a_text_citation(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    page.click("#show-ask")
    page.click("#new-conversation")
    first, follow_up = "Who was Anna Pavlovna Scherer?", "What was she suffering from?"
    _ask(page, first)
    _ask(page, follow_up)
    expect(page.locator("#asked-as")).to_have_text("Asked as: What was Anna Pavlovna Scherer suffering from?")
    answer = page.locator("#answer").inner_text()
    assert "cough" in answer or "grippe" in answer, answer
    expect(page.locator("#history li")).to_have_count(1)
    current = page.locator('#conversation-list li:has(a[aria-current="true"])')
    expect(current).to_contain_text(first)
    shot(page, "conversation")
    # a text document's citation opens its extracted text, scrolled to the marked quote
    page.locator("#citations a.cite").first.click()
    expect(page.locator("#viewer .doc-text mark.quote")).to_be_visible()
    marked = page.locator("#viewer .doc-text mark.quote").inner_text()
    assert marked.split() == page.locator("#viewer-quote").inner_text().split()
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    # stop: the answer's stream is held by the network; the stop button aborts it
    page.route("**/messages", lambda route: None)  # never answered
    page.fill("#question", "And who was her guest?")
    page.press("#question", "Enter")
    expect(page.locator("#stop-button")).to_be_visible()
    page.click("#stop-button")
    expect(page.locator("#status")).to_contain_text("Stopped.")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#ask-button")).to_be_enabled()
    page.unroute("**/messages")


def _quote_boxes_in_pdf(page_number: int, quote: str) -> list[tuple[float, float, float, float]]:
    """Where the quote's first words are in the PDF's own text layer (pdfium's characters and rectangles), as
    (left, top, right, bottom) fractions of the page: found on whitespace-collapsed text, independently of the
    server's matching."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    words = unicodedata.normalize("NFKC", quote).split()[:4]
    pdf = pdfium.PdfDocument(str(corpus_file(PDF)))
    try:
        pdf_page = pdf[page_number - 1]
        width, height = pdf_page.get_size()
        textpage = pdf_page.get_textpage()
        chars = [chr(raw.FPDFText_GetUnicode(textpage, i)) for i in range(textpage.count_chars())]
        kept = [(i, unicodedata.normalize("NFKC", c)) for i, c in enumerate(chars) if not c.isspace() and c != "\x00"]
        flat = "".join(c for _, c in kept)
        at = flat.find("".join(words))
        assert at >= 0, (words, flat[:200])
        first, last = kept[at][0], kept[at + len("".join(words)) - 1][0]
        boxes = []
        for r in range(textpage.count_rects(first, last - first + 1)):
            x0, y0, x1, y1 = textpage.get_rect(r)
            boxes.append((x0 / width, (height - y1) / height, x1 / width, (height - y0) / height))
        return boxes
    finally:
        pdf.close()


def test_a_pdf_citation_opens_the_page_with_the_quote_highlighted(page: Any) -> None:
    from playwright.sync_api import expect

    page.click("#new-conversation")
    _ask(page, "What has primarily driven recent advances in document image analysis?")
    link = page.locator("#citations li:has-text('layout-parser') a.cite").first
    link.focus()
    page.keyboard.press("Enter")  # keyboard: a citation opens with Enter
    frame = page.locator("#viewer .page-frame")
    expect(frame.locator("img")).to_be_visible(timeout=WAIT)
    expect(frame).to_have_attribute("data-match", "exact")
    page.wait_for_function("document.querySelector('#viewer .page-frame img').complete")
    number = int(page.locator("#viewer-page-label").inner_text().split()[1])
    quote = page.locator("#viewer-quote").inner_text()
    img = frame.locator("img").bounding_box()
    marks = [frame.locator(".hl").nth(i).bounding_box() for i in range(frame.locator(".hl").count())]
    assert marks
    expected = [
        (
            img["x"] + x0 * img["width"],
            img["y"] + y0 * img["height"],
            img["x"] + x1 * img["width"],
            img["y"] + y1 * img["height"],
        )
        for x0, y0, x1, y1 in _quote_boxes_in_pdf(number, quote)
    ]
    on_screen = [(m["x"], m["y"], m["x"] + m["width"], m["y"] + m["height"]) for m in marks]
    assert any(a[0] < e[2] and e[0] < a[2] and a[1] < e[3] and e[1] < a[3] for a in on_screen for e in expected), (
        on_screen,
        expected,
    )
    shot(page, "citation-pdf", page.locator("#viewer"))
    page.locator("#viewer .close").click()


def test_feedback_with_a_thumb_and_a_correction_is_stored(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    page.click("#thumb-down")
    expect(page.locator("#thumb-down")).to_have_attribute("aria-pressed", "true")
    page.fill("#feedback-correction", "It should name the layout detection models too.")
    shot(page, "feedback", page.locator("#answer-section"))
    page.click("#feedback-send")
    expect(page.locator("#feedback-status")).to_have_text("Thanks for the feedback.")
    stored = httpx.get(f"{server}/v1/feedback", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).json()
    assert stored["total"] == 1
    assert stored["feedback"][0]["rating"] == "down"
    assert stored["feedback"][0]["correction"] == "It should name the layout detection models too."


def test_unsupported_sentences_carry_a_visible_mark(page: Any) -> None:
    from playwright.sync_api import expect

    page.evaluate(
        """renderAnswer({answer: "Checked. Not checked.", citations: [], sentences: [
            {text: "Checked.", supported: true, citations: []},
            {text: "Not checked.", supported: false, citations: []}]})"""
    )
    expect(page.locator("#answer .sentence.unsupported .badge")).to_have_text("unsupported")
    expect(page.locator("#answer .sentence:not(.unsupported) .badge")).to_have_count(0)
    expect(page.locator("#answer-legend")).to_be_visible()


def test_edit_a_documents_tags_in_the_library(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    page.click("#show-library")
    row = page.locator("#documents li:has-text('layout-parser')")
    doc_id = row.get_attribute("data-id")
    page.once("dialog", lambda dialog: dialog.accept("team=legal, year=2024"))
    row.locator("button.retag").click()
    expect(page.locator("#documents-count")).to_contain_text("tags of upload:layout-parser-paper-fast.pdf changed")
    expect(row.locator(".tag")).to_have_text(["team=legal", "year=2024"])
    shot(page, "library-tags", page.locator("#documents"))
    stored = httpx.get(f"{server}/v1/documents/{doc_id}", headers={"Authorization": f"Bearer {WRITER}"}, timeout=10)
    assert stored.json()["tags"] == {"team": "legal", "year": "2024"}
    page.once("dialog", lambda dialog: dialog.accept("team"))  # not key=value: refused, said why, nothing changed
    row.locator("button.retag").click()
    expect(page.locator("#documents-count")).to_contain_text("key=value")
    expect(row.locator(".tag")).to_have_count(2)


def test_delete_a_document_from_the_library(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    page.click("#show-library")
    row = page.locator("#documents li:has-text('layout-parser')")
    doc_id = row.get_attribute("data-id")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.delete").click()
    expect(page.locator("#documents li")).to_have_count(1)
    expect(page.locator("#documents-count")).to_contain_text("deleted upload:layout-parser-paper-fast.pdf")
    gone = httpx.get(f"{server}/v1/documents/{doc_id}/pages/1.png", headers={"Authorization": f"Bearer {WRITER}"})
    assert gone.status_code == 404


def test_375_px_wide_and_the_viewer_fits_then_sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 375, "height": 740})
    for view in ("#show-library", "#show-ask"):
        page.click(view)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.locator("#conversation-list li a", has_text="Anna Pavlovna").click()
    expect(page.locator("#answer-section")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "mobile")
    page.locator("#citations a.cite").first.click()
    expect(page.locator("#viewer .doc-text mark.quote")).to_be_visible()
    viewer = page.locator("#viewer").bounding_box()
    assert viewer["x"] >= 0 and viewer["x"] + viewer["width"] <= 375
    page.keyboard.press("Escape")
    page.click("#sign-out")
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_have_text("You are signed out.")
    assert page.evaluate("sessionStorage.getItem('citewise.key')") is None
    page.reload()
    expect(page.locator("#signin")).to_be_visible()


def test_a_readers_key_sees_the_library_without_upload_or_delete(page: Any) -> None:
    from playwright.sync_api import expect

    page.fill("#signin-key", READER)
    page.press("#signin-key", "Enter")
    expect(page.locator("#who-label")).to_have_text("acme · reader")
    page.click("#show-library")
    expect(page.locator("#upload-denied")).to_be_visible()
    expect(page.locator("#upload-form")).to_be_hidden()
    expect(page.locator("#documents li")).to_have_count(1)
    expect(page.locator("#documents button.delete")).to_have_count(0)
    expect(page.locator("#documents button.retag")).to_have_count(0)
