"""An A/B experiment on two prompt versions through the API: real embedded index, real MiniLM, a real corpus file,
and a scripted OpenAI-compatible server (tests.generation_support.ScriptedOpenAIServer) as the LLM. Thirty reader
keys are assigned sticky variants; scripted feedback rates one variant up and the other down; `citewise
experiments report` counts them and names the better variant."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import create_app
from api.experiments import Experiment
from citewise.cli import app as cli
from citewise.settings import Settings
from tests.api_support import upload, wait_job
from tests.generation_support import ScriptedOpenAIServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOOK = "book-war-and-peace-1p.txt"
QUESTION = "Who was Anna Pavlovna Scherer?"
REPLY = "Anna Pavlovna Scherer was a maid of honor and favorite of the Empress Marya Fedorovna [1]."
READERS = [f"acme-reader-exp-key-{n:04d}" for n in range(30)]
WRITER = "acme-writer-exp-key-0001"
ADMIN = "acme-admin-exp-key-00001"
EXPERIMENT = {
    "name": "prompt-v2",
    "variants": [
        {"name": "control", "share": 0.5, "prompt": "answer@1"},
        {"name": "new", "share": 0.5, "prompt": "answer@2"},
    ],
}


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _settings(root: Path, server: ScriptedOpenAIServer) -> Settings:
    """The server's settings: keys and experiment files in ``root``, the scripted LLM, no reranker."""
    return Settings(
        data_dir=root / "data",
        api_keys_file=root / "keys.json",
        experiments_file=root / "experiment.json",
        ingest={"workers": 0},
        retrieval={"rerank": False},
        generation={"llm": "openai-like", "model": "scripted-model", "base_url": server.base_url, "retries": 0},
    )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("experiments")
    keys = {key: {"tenant": "acme", "role": "reader"} for key in READERS}
    keys[WRITER] = {"tenant": "acme", "role": "writer"}
    keys[ADMIN] = {"tenant": "acme", "role": "admin"}
    (root / "keys.json").write_text(json.dumps(keys))
    (root / "experiment.json").write_text(json.dumps(EXPERIMENT))
    server = ScriptedOpenAIServer()
    server.reply = REPLY
    settings = _settings(root, server)
    app = create_app(settings, dense=dense_encoder, sparse=bm25_encoder)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert wait_job(client, upload(client, (BOOK,), _headers(WRITER)), _headers(WRITER))["state"] == "done"
        yield SimpleNamespace(client=client, root=root, server=server)
    server.close()


def test_two_prompt_variants_get_sticky_traffic_feedback_and_a_verdict(
    api: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = Experiment.load(api.root / "experiment.json")
    assert experiment is not None
    expected = {key: experiment.assign(hashlib.sha256(key.encode()).hexdigest()[:8]).name for key in READERS}
    counts = Counter(expected.values())
    assert counts["control"] >= 10 and counts["new"] >= 10  # enough for a verdict with these 30 keys

    prompts_sent, first_answer = set(), {}
    for key in READERS:
        response = api.client.post("/v1/ask", json={"question": QUESTION}, headers=_headers(key))
        assert response.status_code == 200, response.text
        answer = response.json()
        variant = expected[key]
        assert answer["experiment"] == {"name": "prompt-v2", "variant": variant}
        assert answer["prompt"] == ("answer@1" if variant == "control" else "answer@2")
        prompts_sent.add(api.server.requests[-1]["messages"][0]["content"][:200])
        first_answer[key] = answer["answer_id"]
        rating = "down" if variant == "control" else "up"
        feedback = {"answer_id": answer["answer_id"], "rating": rating}
        assert api.client.post("/v1/feedback", json=feedback, headers=_headers(key)).status_code == 201
    again = api.client.post("/v1/ask", json={"question": QUESTION}, headers=_headers(READERS[0])).json()
    assert again["experiment"]["variant"] == expected[READERS[0]]  # sticky; and a re-ask within a minute (signal)
    copied = [key for key in READERS if expected[key] == "new"][:3]
    for key in copied:  # implicit feedback sent by the client
        signal = {"answer_id": first_answer[key], "kind": "copy"}
        assert api.client.post("/v1/signals", json=signal, headers=_headers(key)).json() == {"recorded": True}
    assert api.client.post("/v1/signals", json=signal, headers=_headers(copied[-1])).json() == {"recorded": False}
    bad = {"answer_id": first_answer[copied[0]], "kind": "shared"}
    assert api.client.post("/v1/signals", json=bad, headers=_headers(copied[0])).status_code == 422
    other = {"answer_id": "not-an-answer", "kind": "copy"}
    assert api.client.post("/v1/signals", json=other, headers=_headers(copied[0])).status_code == 404
    assert len(prompts_sent) == 2  # the two prompt versions really reached the LLM

    metrics = api.client.get("/metrics", headers=_headers(ADMIN)).text
    answered = counts["new"] + (expected[READERS[0]] == "new")
    line = f'citewise_experiment_answers_total{{experiment="prompt-v2",outcome="answered",variant="new"}} {answered}.0'
    assert line in metrics

    monkeypatch.setenv("CITEWISE_DATA_DIR", str(api.root / "data"))
    monkeypatch.setenv("CITEWISE_EXPERIMENTS_FILE", str(api.root / "experiment.json"))
    result = CliRunner().invoke(cli, ["experiments", "report", "prompt-v2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["control"] == "control"
    control, new = report["variants"]["control"], report["variants"]["new"]
    first = expected[READERS[0]]
    assert control["answers"] == counts["control"] + (first == "control")
    assert new["answers"] == counts["new"] + (first == "new")
    assert control["thumbs_up"]["n"] == counts["control"] and control["thumbs_up"]["rate"] == 0.0
    assert new["thumbs_up"]["n"] == counts["new"] and new["thumbs_up"]["rate"] == 1.0
    assert new["thumbs_up"]["ci95"][0] > control["thumbs_up"]["ci95"][1]
    assert new["tokens_mean"] == 49 and new["latency_ms"]["p50"] > 0
    assert new["signals"]["copy"]["successes"] == 3 and control["signals"]["copy"]["successes"] == 0
    reasked = report["variants"][expected[READERS[0]]]["signals"]["reask"]
    assert reasked["successes"] == 1 and sum(v["signals"]["reask"]["successes"] for v in (control, new)) == 1
    assert report["verdict"][0].startswith("thumbs_up: new better than control")
    assert report["verdict"][1].startswith("abstention: no clear difference")

    route = api.client.get("/v1/experiments/prompt-v2", headers=_headers(ADMIN))
    assert route.status_code == 200 and route.json() == report  # the admin route gives the same report
    assert api.client.get("/v1/experiments/prompt-v2", headers=_headers(READERS[0])).status_code == 403
    assert api.client.get("/v1/experiments/nope", headers=_headers(ADMIN)).status_code == 404

    table = CliRunner().invoke(cli, ["experiments", "report", "prompt-v2"])
    assert table.exit_code == 0 and "new better than control" in table.stdout
    missing = CliRunner().invoke(cli, ["experiments", "report", "nope"])
    assert missing.exit_code == 1 and "no answers were served under experiment 'nope'" in missing.output


PER_CONVERSATION = {
    "name": "retrieval-mode",
    "sticky": "conversation",
    "variants": [
        {"name": "sparse", "share": 0.5, "mode": "sparse", "k": 2},
        {"name": "dense", "share": 0.5, "mode": "dense", "k": 3},
    ],
}


def test_conversations_are_assigned_by_id_and_their_messages_carry_the_variant(
    tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any
) -> None:
    """An experiment sticky per conversation, over retrieval mode and k: one key's conversations spread over both
    variants, each message says its variant, and the variant's k and mode decide what the LLM is shown."""
    root = tmp_path_factory.mktemp("per-conversation")
    (root / "keys.json").write_text(json.dumps({READERS[0]: {"tenant": "acme", "role": "reader"},
                                                WRITER: {"tenant": "acme", "role": "writer"}}))  # fmt: skip
    (root / "experiment.json").write_text(json.dumps(PER_CONVERSATION))
    server = ScriptedOpenAIServer()
    server.reply = REPLY
    settings = _settings(root, server)
    experiment = Experiment.load(root / "experiment.json")
    assert experiment is not None
    try:
        with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
            assert wait_job(client, upload(client, (BOOK,), _headers(WRITER)), _headers(WRITER))["state"] == "done"
            seen = {}
            for _ in range(8):
                made = client.post("/v1/conversations", json={}, headers=_headers(READERS[0]))
                assert made.status_code == 201, made.text
                cid = made.json()["conversation_id"]
                for _turn in range(2):  # both messages of a conversation get its variant
                    sent = client.post(
                        f"/v1/conversations/{cid}/messages", json={"message": QUESTION}, headers=_headers(READERS[0])
                    )
                    assert sent.status_code == 200, sent.text
                    variant = experiment.assign(READERS[0], cid).name
                    assert sent.json()["experiment"] == {"name": "retrieval-mode", "variant": variant}
                    passages = server.requests[-1]["messages"][-1]["content"].count("<<SOURCE-")
                    seen[variant] = passages
            assert set(seen) == {"sparse", "dense"}  # one key, both variants (by conversation)
            assert seen == {"sparse": 2, "dense": 3}  # the variant's k reached retrieval and the prompt
            asked = client.post("/v1/ask", json={"question": QUESTION}, headers=_headers(READERS[0])).json()
            key_id = hashlib.sha256(READERS[0].encode()).hexdigest()[:8]
            assert asked["experiment"]["variant"] == experiment.assign(key_id).name  # /v1/ask: per key
    finally:
        server.close()
