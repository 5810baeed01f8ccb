"""Spend budgets on POST /v1/ask: real embedded index, real MiniLM, a real corpus file, and a scripted
OpenAI-compatible server (tests.generation_support.ScriptedOpenAIServer: it reports 42 + 7 tokens per answer,
priced here at $1000 per million, so each LLM answer costs $0.049). A key crosses its soft budget (answers come
from the extractive answerer and say so), then the tenant crosses its hard budget (429 with Retry-After)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from citewise.cli import app as cli
from citewise.settings import Settings
from tests.api_support import auth, key_for, upload, wait_job, write_keys
from tests.generation_support import ScriptedOpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOK = "book-war-and-peace-1p.txt"
QUESTION = "Who was Anna Pavlovna Scherer?"
REPLY = "Anna Pavlovna Scherer was a maid of honor and favorite of the Empress Marya Fedorovna [1]."
COST = round(49 * 1000 / 1e6, 6)
READER, WRITER, ADMIN = auth("acme", "reader"), auth("acme", "writer"), auth("acme", "admin")
READER_ID = hashlib.sha256(key_for("acme", "reader").encode()).hexdigest()[:8]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("budgets")
    server = ScriptedOpenAIServer()
    server.reply = REPLY
    settings = Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest={"workers": 0},
        retrieval={"rerank": False},
        generation={
            "llm": "openai-like",
            "model": "scripted-model",
            "base_url": server.base_url,
            "retries": 0,
            "prices": {"scripted-model": (1000.0, 1000.0)},
        },
        budgets={"period": "month", "tenants": {"acme": {"hard_usd": 0.18}}, "keys": {READER_ID: {"soft_usd": 0.06}}},
    )
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert wait_job(client, upload(client, (BOOK,), WRITER), WRITER)["state"] == "done"
        yield SimpleNamespace(client=client, server=server, data_dir=root / "data")
    server.close()


def _ask(api: SimpleNamespace, headers: dict[str, str]) -> Any:
    return api.client.post("/v1/ask", json={"question": QUESTION, "k": 3}, headers=headers)


def test_soft_budget_falls_back_to_extractive_then_hard_budget_refuses(
    api: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):  # the reader's key: two LLM answers, the second crossing its soft budget
        answer = _ask(api, READER).json()
        assert answer["model"] == "openai-like:scripted-model" and answer["usage"]["cost_usd"] == pytest.approx(COST)
        assert answer["budget"]["state"] == "ok" and answer["budget"]["resets_at"].endswith("Z")
    calls = len(api.server.requests)
    soft = _ask(api, READER).json()
    assert soft["model"] == "extractive" and soft["usage"]["cost_usd"] == 0 and soft["citations"]
    assert soft["budget"]["state"] == "soft" and soft["budget"]["scope"] == f"key {READER_ID}"
    assert "extractive answerer" in soft["budget"]["message"] and len(api.server.requests) == calls  # no LLM call
    talk = api.client.post("/v1/conversations", headers=READER).json()["conversation_id"]
    said = api.client.post(f"/v1/conversations/{talk}/messages", json={"message": QUESTION}, headers=READER).json()
    assert said["answer"]["model"] == "extractive" and said["budget"]["state"] == "soft"  # conversations say so too
    assert len(api.server.requests) == calls

    for _ in range(2):  # another key of the tenant still gets LLM answers, up to the tenant's hard budget
        assert _ask(api, WRITER).json()["model"] == "openai-like:scripted-model"
    for headers in (WRITER, READER):
        refused = _ask(api, headers)
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert set(error) == {"code", "message", "request_id"} and error["code"] == "budget_exceeded"
        assert "hard budget of $0.18" in error["message"] and "answers resume at" in error["message"]
        assert int(refused.headers["Retry-After"]) > 0
    assert len(api.server.requests) == calls + 2
    conversation = api.client.post("/v1/conversations", headers=READER).json()["conversation_id"]
    message = api.client.post(f"/v1/conversations/{conversation}/messages", json={"message": QUESTION}, headers=READER)
    assert message.status_code == 429 and message.json()["error"]["code"] == "budget_exceeded"  # conversations too

    metrics = api.client.get("/metrics", headers=ADMIN).text
    assert f'citewise_llm_spend_usd_total{{tenant="acme"}} {4 * COST}' in metrics
    assert 'citewise_budget_events_total{state="soft",tenant="acme"} 2.0' in metrics  # /v1/ask and the conversation
    assert 'citewise_budget_events_total{state="hard",tenant="acme"} 3.0' in metrics

    monkeypatch.setenv("CITEWISE_DATA_DIR", str(api.data_dir))
    monkeypatch.setenv("CITEWISE_BUDGETS__TENANTS", json.dumps({"acme": {"hard_usd": 0.18}}))
    result = CliRunner().invoke(cli, ["usage", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_key = {r["key_id"]: r for r in report["rows"]}
    reader = by_key[READER_ID]
    assert reader["answers"] == 4 and reader["cost_usd"] == pytest.approx(2 * COST)  # 3 asks + 1 message
    assert report["budgets"]["acme"]["state"] == "hard"
    bad = CliRunner().invoke(cli, ["usage", "--period", "last week"])
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output
