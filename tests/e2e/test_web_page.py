"""The web page in headless Chromium against a real uvicorn server: ask, see the answer, open a citation's quote."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import create_app
from citewise.settings import Settings
from tests.api_support import corpus_file

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed here (`apt-get install chromium`; .ci/run installs it)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    return path


@pytest.fixture(scope="module")
def server(
    chromium: str, tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any
) -> Iterator[str]:
    import uvicorn

    root: Path = tmp_path_factory.mktemp("web")
    settings = Settings(data_dir=root / "data", ingest={"workers": 0}, retrieval={"rerank": False})
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.started, "uvicorn did not start"
    name = "book-war-and-peace-1p.txt"
    files = [("files", (name, corpus_file(name).read_bytes(), "text/plain"))]
    job_id = httpx.post(f"{base}/v1/ingest", files=files, timeout=30).json()["job_id"]
    while httpx.get(f"{base}/v1/jobs/{job_id}", timeout=10).json()["state"] not in ("done", "failed"):
        time.sleep(0.2)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(30)


def test_ask_on_the_page_shows_the_answer_hits_and_a_citations_quote(chromium: str, server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            page.fill("#question", "Who was Anna Pavlovna Scherer?")
            page.press("#question", "Enter")
            # the streamed answer is replaced by the verified one, with citation links
            expect(page.locator("#answer a.cite").first).to_be_visible(timeout=60_000)
            answer_text = page.locator("#answer").inner_text()
            assert "Anna Pavlovna" in answer_text
            expect(page.locator("#hits li.hit").first).to_be_visible()
            assert "book-war-and-peace-1p.txt" in page.locator("#hits").inner_text()
            # a citation opens the quoted passage with its source, inside the document's text
            page.locator("#citations a.cite").first.click()
            dialog = page.locator("#passage")
            expect(dialog).to_be_visible()
            expect(page.locator("#passage-meta")).to_contain_text("upload:book-war-and-peace-1p.txt")
            quote = page.locator("#passage-context mark.quote").inner_text()
            assert quote.strip() and quote.split()[0] in page.locator("#passage-context").inner_text()
            expect(page.locator("#passage-context")).not_to_have_text(quote)  # context around it was loaded
            page.locator("#passage .close").click()
            # thumbs up is stored as feedback for this answer
            page.locator("#thumb-up").click()
            expect(page.locator("#feedback-status")).to_have_text("Thanks for the feedback.")
            assert not errors, errors
        finally:
            browser.close()
    feedback = httpx.get(f"{server}/v1/feedback", timeout=10).json()
    assert feedback["total"] == 1 and feedback["feedback"][0]["rating"] == "up"


def test_a_follow_up_on_the_page_is_rewritten_and_the_conversation_is_listed(chromium: str, server: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    first, follow_up = "Who was Anna Pavlovna Scherer?", "What was she suffering from?"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            page.locator("#new-conversation").click()
            for question in (first, follow_up):
                page.fill("#question", question)
                page.press("#question", "Enter")
                expect(page.locator("#feedback")).to_be_visible(timeout=60_000)  # the verified answer is in
            expect(page.locator("#asked-as")).to_have_text("Asked as: What was Anna Pavlovna Scherer suffering from?")
            answer = page.locator("#answer").inner_text()
            assert "cough" in answer or "grippe" in answer, answer
            expect(page.locator("#history li")).to_have_count(1)
            assert first in page.locator("#history").inner_text()
            current = page.locator('#conversation-list li:has(a[aria-current="true"])')
            expect(current).to_have_count(1)
            expect(current).to_contain_text(first)
            listed = page.locator(f'#conversation-list li[data-id="{current.get_attribute("data-id")}"]')
            # a new conversation clears the page; the listed one opens again with its messages
            page.locator("#new-conversation").click()
            expect(page.locator("#history li")).to_have_count(0)
            listed.locator("a").click()
            expect(page.locator("#history li")).to_have_count(1)
            expect(page.locator("#asked-as")).to_contain_text("Anna Pavlovna Scherer suffering")
            listed.locator("button.delete").click()
            expect(listed).to_have_count(0)
            assert not errors, errors
        finally:
            browser.close()
