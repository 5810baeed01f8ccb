"""The MCP server with the SDK's own client, over both transports: ``citewise mcp`` as a stdio subprocess and
``/mcp`` on a real uvicorn server. Same keys, tenants and ACL groups as the REST routes.

Two tenants' real corpus files in one collection (MiniLM + BM25, embedded Qdrant): ``acme`` has War and Peace
(page 1), a scanned table (single_table.pdf, read by OCR) and an ACL'd copy of fake-text.txt (group ``hr``),
``beta`` has fake-text.txt.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest

from api import create_app
from citewise.settings import Settings
from tests.api_support import corpus_file
from tests.cli_subprocess import cli_env
from tests.ingest_support import build
from tests.net import serving
from tests.paths import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEYS = {
    "acme-reader-key-0000000001": {"tenant": "acme", "role": "reader"},
    "acme-reader-hr-key-0000001": {"tenant": "acme", "role": "reader", "groups": ["hr"]},
    "beta-reader-key-0000000001": {"tenant": "beta", "role": "reader"},
}
ACME, ACME_HR, BETA = KEYS
BOOK, DOGS, SCAN = "book-war-and-peace-1p.txt", "fake-text.txt", "pdf/single_table.pdf"
QUESTION = "Who was Anna Pavlovna Scherer?"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("mcp")
    keys = root / "keys.json"
    keys.write_text(json.dumps(KEYS))
    settings = Settings(data_dir=root / "data", api_keys_file=keys, ingest={"workers": 0}, retrieval={"rerank": False})
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    book = pipeline.run([corpus_file(BOOK)], tenant="acme").doc_ids[0]
    scan = pipeline.run([corpus_file(SCAN)], tenant="acme").doc_ids[0]
    secret = pipeline.run([corpus_file(DOGS)], tenant="acme", acl=["hr"]).doc_ids[0]
    beta = pipeline.run([corpus_file(DOGS)], tenant="beta").doc_ids[0]
    pipeline.close()
    index.close()
    store.close()
    return SimpleNamespace(root=root, settings=settings, keys=keys, book=book, scan=scan, secret=secret, beta=beta)


@contextmanager
def _serving(settings: Settings, dense_encoder: Any, bm25_encoder: Any) -> Iterator[str]:
    with serving(create_app(settings, dense=dense_encoder, sparse=bm25_encoder), lifespan="on") as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def http_url(data: SimpleNamespace, dense_encoder: Any, bm25_encoder: Any) -> Iterator[str]:
    with _serving(data.settings, dense_encoder, bm25_encoder) as url:
        yield url


def _http_client(url: str, key: str) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=120)
    return Client(streamable_http_client(url, http_client=http))


def _stdio_client(data_dir: Path, keys: Path, key: str) -> Any:
    from mcp import Client, StdioServerParameters

    env = cli_env(
        data_dir,
        CITEWISE_API_KEYS_FILE=str(keys),
        CITEWISE_MCP__API_KEY=key,
        CITEWISE_RETRIEVAL__RERANK="false",
        CITEWISE_ENCODER__BACKEND="torch",  # the vectors were written by the torch encoder (the mixing guard)
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "citewise.cli", "mcp"], env=env, cwd=REPO)
    return Client(params, read_timeout_seconds=180)


async def _call(client: Any, tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args)
    return result


def _sources(result: Any) -> set[str]:
    assert not result.is_error, result.content
    return {Path(h["source"]).name for h in result.structured_content["hits"]}


async def _check_acme(client: Any, data: SimpleNamespace) -> None:
    """What the plain acme key sees (no ACL groups): the book and the scan, never beta's or the hr document."""
    tools = {t.name for t in (await client.list_tools()).tools}
    assert tools == {"search", "ask", "get_document"}
    found = await _call(client, "search", query="Anna Pavlovna Scherer dogs", k=20)
    assert _sources(found) == {BOOK, Path(SCAN).name}
    assert {h["doc_id"] for h in found.structured_content["hits"]} == {data.book, data.scan}
    hit = found.structured_content["hits"][0]
    span = await _call(
        client, "get_document", doc_id=hit["doc_id"], char_start=hit["char_start"], char_end=hit["char_end"]
    )
    assert not span.is_error and span.structured_content["text"] == hit["text"]
    scanned = (await _call(client, "get_document", doc_id=data.scan)).structured_content
    assert scanned["ocr"] is True and scanned["pages"] == [1] and "total chunks" in scanned["text"]
    assert scanned["char_end"] == scanned["length"] and scanned["file_type"] == "pdf"
    answer = await _call(client, "ask", question=QUESTION)
    assert not answer.is_error, answer.content
    citations = answer.structured_content["citations"]
    assert citations and all(c["doc_id"] == data.book for c in citations)
    c = citations[0]
    quoted = await _call(client, "get_document", doc_id=c["doc_id"], char_start=c["char_start"], char_end=c["char_end"])
    assert quoted.structured_content["text"] == c["quote"] and quoted.structured_content["ocr"] is False
    for other in (data.beta, data.secret):  # another tenant's, and one outside the key's groups: not found
        denied = await _call(client, "get_document", doc_id=other)
        assert denied.is_error and "not_found" in denied.content[0].text
    bad = await _call(client, "get_document", doc_id=data.book, char_start=10, char_end=5)
    assert bad.is_error and "invalid_request" in bad.content[0].text and "char_start <= char_end" in bad.content[0].text


def test_stdio_tools_act_as_the_configured_key(data: SimpleNamespace, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data.settings.data_dir, copy)  # its own data dir: the HTTP test's server holds the other

    async def main() -> None:
        async with _stdio_client(copy, data.keys, ACME) as client:  # one process: models load in ~20 s
            await _check_acme(client, data)

    anyio.run(main)


def test_stdio_refuses_a_bad_key(data: SimpleNamespace, tmp_path: Path) -> None:
    import subprocess

    env = cli_env(
        tmp_path / "data", CITEWISE_API_KEYS_FILE=str(data.keys), CITEWISE_MCP__API_KEY="not-a-key-of-the-file"
    )
    done = subprocess.run(
        [sys.executable, "-m", "citewise.cli", "mcp"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "CITEWISE_MCP__API_KEY is not a key of CITEWISE_API_KEYS_FILE" in done.stderr


def test_http_tools_honour_each_requests_key(data: SimpleNamespace, http_url: str) -> None:
    async def main() -> None:
        async with _http_client(http_url, ACME) as client:
            await _check_acme(client, data)
        async with _http_client(http_url, ACME_HR) as client:  # in group hr: the ACL'd document too
            found = await _call(client, "search", query="Anna Pavlovna Scherer dogs", k=20)
            assert {h["doc_id"] for h in found.structured_content["hits"]} == {data.book, data.scan, data.secret}
        async with _http_client(http_url, BETA) as client:
            found = await _call(client, "search", query="Anna Pavlovna Scherer dogs", k=20)
            assert {h["doc_id"] for h in found.structured_content["hits"]} == {data.beta}
            denied = await _call(client, "get_document", doc_id=data.book)
            assert denied.is_error and "not_found" in denied.content[0].text
            unfit = await _call(client, "ask", question=QUESTION, llm="x" * 300)  # the REST body's own rules
            assert unfit.is_error and "invalid_request: llm: String should have at most 200" in unfit.content[0].text

    anyio.run(main)


def test_http_refuses_a_missing_or_bad_key(http_url: str) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer not-a-key-of-the-file"}):
        response = httpx.post(http_url, json=init, headers={**accept, **headers}, timeout=30)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"

    async def main() -> None:
        from mcp.shared.exceptions import MCPError

        with pytest.raises(ExceptionGroup) as raised:  # the SDK client cannot even start its session
            async with _http_client(http_url, "not-a-key-of-the-file") as client:
                await client.list_tools()
        assert raised.group_contains(MCPError, depth=2)

    anyio.run(main)


def test_http_open_mode_admits_loopback_hosts_only(
    data: SimpleNamespace, tmp_path: Path, dense_encoder: Any, bm25_encoder: Any
) -> None:
    """Without a keys file (tenant ``default``, as the REST API): no key needed, but a browser's DNS-rebound
    request (a foreign ``Host``) is refused."""
    shutil.copytree(data.settings.data_dir, tmp_path / "data")
    settings = data.settings.model_copy(update={"data_dir": tmp_path / "data", "api_keys_file": None})
    with _serving(settings, dense_encoder, bm25_encoder) as url:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        accept = {"Accept": "application/json, text/event-stream"}
        rebound = httpx.post(url, json=init, headers={**accept, "Host": "evil.example"}, timeout=30)
        assert rebound.status_code in (400, 421), rebound.text

        async def main() -> None:
            async with _http_client(url, "") as client:
                found = await _call(client, "search", query="Anna Pavlovna Scherer dogs", k=20)
                assert found.structured_content["hits"] == []  # tenant default: acme's and beta's stay theirs

        anyio.run(main)
