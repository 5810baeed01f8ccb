"""Helpers for the generation tests: hits over given texts, a list retriever, scripted chat models."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from citewise.errors import NotFound
from citewise.index import Filter
from citewise.types import Chunk, Hit, SearchResult
from generation.prompts import Messages
from generation.providers import Completion, Delta
from generation.text import terms


class TextStore:
    """Document texts by id (the docstore's ``get_text`` contract)."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts

    def get_text(self, doc_id: str, content_hash: str | None = None) -> str:
        if doc_id not in self.texts:
            raise NotFound(f"no document {doc_id}")
        return self.texts[doc_id]


def chunks_of(doc_id: str, text: str, size: int = 400, prefix: str = "") -> list[Chunk]:
    """Cut ``text`` into chunks at sentence-ish boundaries (offsets exact), as the chunker guarantees."""
    out, start, index = [], 0, 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(". ", start, end)
            end = cut + 2 if cut > start else end
        out.append(
            Chunk(
                doc_id=doc_id,
                chunk_index=index,
                text=text[start:end],
                source=f"{prefix}{doc_id}.txt",
                title=doc_id,
                char_start=start,
                char_end=end,
            )
        )
        start, index = end, index + 1
    return out


class ListRetriever:
    """Returns the given chunks ranked by shared words with the query (enough for unit tests)."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self.calls: list[tuple[str, int, Filter | None]] = []
        self.modes: list[str | None] = []  # the retrieval mode each call asked for (None: the settings')

    def search(
        self,
        query: str,
        k: int = 10,
        filters: Filter | None = None,
        mode: str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult:
        self.calls.append((query, k, filters))
        self.modes.append(mode)
        words = set(terms(query))
        scored = sorted(self.chunks, key=lambda c: (-len(words & set(terms(c.text))), c.doc_id, c.chunk_index))
        return SearchResult(hits=tuple(Hit(c, 1.0 / (i + 1)) for i, c in enumerate(scored[:k])))


@dataclass
class ScriptedChat:
    """A ChatModel that answers with a fixed text (and records the messages it was sent)."""

    reply: str
    provider: str = "scripted"
    model: str = "scripted-1"
    seen: list[Messages] = field(default_factory=list)

    def complete(self, messages: Messages) -> Completion:
        self.seen.append(messages)
        return Completion(self.reply, 100, 20)

    def stream(self, messages: Messages) -> Iterator[Delta]:
        self.seen.append(messages)
        for word in self.reply.split(" "):
            yield Delta(word + " ")
        yield Delta("", 100, 20)


def squad_paragraphs(limit: int, article: int = 0) -> list[tuple[str, str, list[dict]]]:
    """(doc id, paragraph text, qas) of the first ``limit`` paragraphs of one SQuAD 2.0 article."""
    import json

    from tests.paths import SQUAD2, require

    data = json.loads(require(SQUAD2).read_text())["data"][article]
    return [(f"{data['title']}-{i}", p["context"], p["qas"]) for i, p in enumerate(data["paragraphs"][:limit])]


class ScriptedOpenAIServer:
    """A tiny OpenAI-compatible HTTP server on loopback that replies with ``reply`` (or sleeps ``delay_s``).

    Covers what a real model will not do on demand: a malformed ``[99]`` citation, a hang, a 401.
    """

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.reply = "ok"
        self.delay_s = 0.0
        self.status = 200
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                import json
                import time

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                time.sleep(outer.delay_s)
                if outer.status != 200:
                    self._send(
                        outer.status, {"error": {"message": "scripted failure", "type": "invalid_request_error"}}
                    )
                    return
                usage = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i, word in enumerate(outer.reply.split(" ")):
                        delta = {"content": word if i == 0 else " " + word}
                        chunk = {
                            "id": "x",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": body["model"],
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    last = {
                        "id": "x",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        "usage": usage,
                    }
                    self.wfile.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
                    return
                self._send(200, {
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": outer.reply},
                                 "finish_reason": "stop"}],
                    "usage": usage,
                })  # fmt: skip

            def _send(self, status: int, payload: dict) -> None:
                import json

                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that timed out closed the socket: expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


SECRET_PATH = "/srv/citewise/tenant-acme/private/"  # a server path no LLM request or answer may show


def secret_corpus() -> tuple[ListRetriever, TextStore]:
    """Four SQuAD paragraphs as tenant ``acme``'s chunks readable by ``hr-secret`` only, from ``SECRET_PATH``."""
    paragraphs = squad_paragraphs(4)
    chunks = [
        replace(c, tenant="acme", acl=("hr-secret",), title="")
        for d, t, _ in paragraphs
        for c in chunks_of(d, t, size=300, prefix=SECRET_PATH)
    ]
    return ListRetriever(chunks), TextStore({d: t for d, t, _ in paragraphs})
