"""``/v1/conversations`` end to end: follow-ups rewritten and answered, history, streaming, ownership, bad input.

Real documents (the SQuAD 2.0 "Normans" article's paragraphs, one .txt each, and a War and Peace page from the
shared corpus), the real ingest pipeline, embedded Qdrant, MiniLM and BM25; the API with a keys file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from citewise.settings import IngestSettings, RetrievalSettings, Settings
from evals.gate_train import contains_gold
from tests.api_support import auth, corpus_file, parse_sse, write_keys
from tests.ingest_support import build
from tests.paths import SQUAD2, require

pytestmark = [pytest.mark.integration]

OWNER, SAME_TENANT, OTHER_TENANT = auth("acme", "reader"), auth("acme", "admin"), auth("beta", "admin")
FIRST, FOLLOW_UP, GOLD = "Who was Harold II?", "Where did he die?", "Battle of Hastings"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("conversations")
    docs = root / "docs"
    docs.mkdir()
    article = json.loads(require(SQUAD2).read_text(encoding="utf-8"))["data"][0]
    for p, para in enumerate(article["paragraphs"]):
        (docs / f"normans-{p:02d}.txt").write_text(para["context"], encoding="utf-8")
    (docs / "war-and-peace.txt").write_bytes(corpus_file("book-war-and-peace-1p.txt").read_bytes())
    settings = Settings(
        data_dir=root / "data",
        api_keys_file=write_keys(root),
        ingest=IngestSettings(workers=0),
        retrieval=RetrievalSettings(rerank=False),
    )
    pipeline, index, store = build(settings, dense_encoder, bm25_encoder)
    pipeline.run([docs], tenant="acme")
    index.close()
    store.close()
    with TestClient(create_app(settings, dense=dense_encoder, sparse=bm25_encoder)) as client:
        yield SimpleNamespace(client=client)


def _new(client: TestClient, headers: dict[str, str] = OWNER, **body: Any) -> str:
    response = client.post("/v1/conversations", json=body or None, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["conversation_id"])


def _say(client: TestClient, cid: str, message: str, headers: dict[str, str] = OWNER, **body: Any) -> Any:
    return client.post(f"/v1/conversations/{cid}/messages", json={"message": message, **body}, headers=headers)


def test_a_follow_up_is_answered_where_the_same_question_asked_alone_is_not(api: SimpleNamespace) -> None:
    client = api.client
    alone = client.post("/v1/ask", json={"question": FOLLOW_UP}, headers=OWNER).json()
    assert not contains_gold(alone["answer"], [GOLD]), alone["answer"]
    cid = _new(client)
    first = _say(client, cid, FIRST)
    assert first.status_code == 200, first.text
    assert first.json()["rewrite"] == "none" and first.json()["rewritten_question"] == FIRST
    second = _say(client, cid, FOLLOW_UP).json()
    assert second["turn"] == 2 and second["conversation_id"] == cid
    assert (second["rewritten_question"], second["rewrite"]) == ("Where did Harold II die?", "rule")
    assert contains_gold(second["answer"]["answer"], [GOLD]), second["answer"]["answer"]
    assert second["answer"]["citations"] and all(c["source"].endswith(".txt") for c in second["answer"]["citations"])
    # the answer is an ordinary answer: feedback on it works
    rated = client.post(
        "/v1/feedback", json={"answer_id": second["answer"]["answer_id"], "rating": "up"}, headers=OWNER
    )
    assert rated.status_code == 201, rated.text

    history = client.get(f"/v1/conversations/{cid}", headers=OWNER).json()
    assert (history["title"], history["turns"]) == (FIRST, 2)
    assert [(m["question"], m["rewritten_question"]) for m in history["messages"]] == [
        (FIRST, FIRST),
        (FOLLOW_UP, "Where did Harold II die?"),
    ]
    assert history["messages"][1]["answer"] == second["answer"]
    listed = client.get("/v1/conversations", headers=OWNER).json()
    assert cid in {c["conversation_id"] for c in listed["conversations"]}


def test_a_streamed_message_sends_the_rewrite_first_and_the_stored_message_last(api: SimpleNamespace) -> None:
    client = api.client
    cid = _new(client, title="streamed")
    assert _say(client, cid, FIRST).status_code == 200
    with client.stream(
        "POST", f"/v1/conversations/{cid}/messages", json={"message": FOLLOW_UP, "stream": True}, headers=OWNER
    ) as response:
        assert response.status_code == 200
        events = parse_sse(response.iter_lines())
    kinds = [e for e, _ in events]
    assert kinds[0] == "rewrite" and kinds[-1] == "done" and "token" in kinds and "citations" in kinds
    assert events[0][1] == {"question": FOLLOW_UP, "rewritten_question": "Where did Harold II die?", "rewrite": "rule"}
    done = events[-1][1]
    assert done["turn"] == 2 and contains_gold(done["answer"]["answer"], [GOLD])
    stored = client.get(f"/v1/conversations/{cid}", headers=OWNER).json()
    assert stored["title"] == "streamed" and stored["messages"][-1]["answer"] == done["answer"]


def test_another_key_or_tenant_cannot_read_append_or_delete_and_learns_nothing(api: SimpleNamespace) -> None:
    client = api.client
    cid = _new(client)
    assert _say(client, cid, FIRST).status_code == 200
    unknown = "0123456789abcdef0123456789abcdef"
    for headers in (SAME_TENANT, OTHER_TENANT):
        replies = [
            client.get(f"/v1/conversations/{cid}", headers=headers),
            _say(client, cid, FOLLOW_UP, headers=headers),
            _say(client, cid, FOLLOW_UP, headers=headers, stream=True),
            client.delete(f"/v1/conversations/{cid}", headers=headers),
        ]
        for reply in replies:
            assert reply.status_code == 404, reply.text
            twin = client.get(f"/v1/conversations/{unknown}", headers=headers).json()["error"]["message"]
            assert reply.json()["error"]["message"].replace(cid, unknown) == twin  # same as an id that never existed
        assert cid not in {
            c["conversation_id"] for c in client.get("/v1/conversations", headers=headers).json()["conversations"]
        }
    mine = client.get(f"/v1/conversations/{cid}", headers=OWNER).json()
    assert mine["turns"] == 1  # nothing was appended
    assert client.get("/v1/conversations", headers={}).status_code == 401


def test_delete_removes_the_conversation_and_its_messages(api: SimpleNamespace) -> None:
    client = api.client
    cid = _new(client)
    assert _say(client, cid, FIRST).status_code == 200
    deleted = client.delete(f"/v1/conversations/{cid}", headers=OWNER)
    assert deleted.json() == {"conversation_id": cid, "deleted_turns": 1}
    assert client.get(f"/v1/conversations/{cid}", headers=OWNER).status_code == 404
    assert client.delete(f"/v1/conversations/{cid}", headers=OWNER).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"message": ""}, 422, "message"),
        ({"message": "   "}, 422, "the message is empty"),
        ({"message": "x" * 4001}, 422, "4000"),
        ({"message": "hi", "k": 0}, 422, "k"),
        ({"message": "hi", "colour": "red"}, 422, "colour"),
        ({"message": "hi", "prompt": "nope@1"}, 422, "unknown prompt"),
    ],
)
def test_bad_messages_get_clear_errors(api: SimpleNamespace, body: dict[str, Any], status: int, says: str) -> None:
    cid = _new(api.client)
    reply = api.client.post(f"/v1/conversations/{cid}/messages", json=body, headers=OWNER)
    assert reply.status_code == status, reply.text
    assert says in reply.json()["error"]["message"]
    assert api.client.get(f"/v1/conversations/{cid}", headers=OWNER).json()["turns"] == 0


def test_unknown_ids_and_bad_titles(api: SimpleNamespace) -> None:
    client = api.client
    reply = _say(client, "no-such-conversation", FIRST)
    assert reply.status_code == 404
    assert "no conversation 'no-such-conversation'" in reply.json()["error"]["message"]
    assert "start a new one" in reply.json()["error"]["message"]
    too_long = client.post("/v1/conversations", json={"title": "t" * 201}, headers=OWNER)
    assert too_long.status_code == 422 and "title" in too_long.json()["error"]["message"]
    assert client.get("/v1/conversations?limit=0", headers=OWNER).status_code == 422
