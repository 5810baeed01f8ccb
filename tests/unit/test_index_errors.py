"""Index errors mapped by type and status code: qdrant-client's REST errors (a scripted Qdrant HTTP server on
loopback), its local mode, and Qdrant Edge's bare exceptions all end as the ``Index`` contract's errors."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from citewise.errors import IndexUnavailable, InvalidRequest
from citewise.index import CollectionSpec, IndexPoint, SearchQuery
from citewise.index_edge import EdgeIndex
from citewise.index_server import ServerIndex
from citewise.settings import QdrantSettings
from citewise.types import SparseVector

SPEC = CollectionSpec(dense_size=4, encoder="test")


def ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"result": result, "status": "ok", "time": 0.0}


def fail(status: int, error: str) -> tuple[int, dict[str, Any]]:
    return status, {"status": {"error": error}, "time": 0.0}


class ScriptedQdrant:
    """A Qdrant REST API on loopback that answers what a test scripts, per ``(method, path)``, after ``delay_s``."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self.delay_s = 0.0
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                key = (self.command, self.path.split("?")[0])
                scripted.calls[key] += 1
                time.sleep(scripted.delay_s)
                status, body = scripted.routes.get(key, fail(404, f"Not found: no route {key}"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def qdrant() -> Iterator[ScriptedQdrant]:
    srv = ScriptedQdrant()
    srv.routes[("GET", "/collections/c/exists")] = ok({"exists": True})
    srv.routes[("POST", "/collections/c/points/count")] = ok({"count": 3})
    yield srv
    srv.close()


def connect(url: str, timeout_s: float = 5.0) -> ServerIndex:
    return ServerIndex.connect(QdrantSettings(backend="server", url=url, prefer_grpc=False, timeout_s=timeout_s), "c")


def point(i: int, dims: int = 4) -> IndexPoint:
    return IndexPoint(str(uuid.UUID(int=i + 1)), [1.0] * dims, SparseVector((1,), (1.0,)), {"doc_id": f"d{i}"})


def test_existence_is_checked_once_not_before_every_call(qdrant: ScriptedQdrant) -> None:
    index = connect(qdrant.url)
    assert [index.count() for _ in range(5)] == [3] * 5
    assert qdrant.calls[("GET", "/collections/c/exists")] == 1
    assert qdrant.calls[("POST", "/collections/c/points/count")] == 5


def test_a_collection_gone_is_forgotten_reads_answer_empty_writes_say_so(qdrant: ScriptedQdrant) -> None:
    index = connect(qdrant.url)
    assert index.count() == 3
    gone = fail(404, "Collection `c` doesn't exist!")
    qdrant.routes[("POST", "/collections/c/points/count")] = gone
    qdrant.routes[("PUT", "/collections/c/points")] = gone
    assert index.count() == 0
    qdrant.routes[("GET", "/collections/c/exists")] = ok({"exists": False})
    assert index.count() == 0  # asked again: the remembered answer was dropped with the 404
    assert qdrant.calls[("GET", "/collections/c/exists")] == 2
    with pytest.raises(IndexUnavailable, match=r"does not exist .*ingest something first"):
        index.upsert([point(0)])


def test_a_rejected_request_is_a_bad_request_not_a_server_that_did_not_answer(qdrant: ScriptedQdrant) -> None:
    qdrant.routes[("POST", "/collections/c/points/query")] = fail(400, "Wrong input: Vector dimension error")
    index = connect(qdrant.url)
    with pytest.raises(InvalidRequest, match=r"rejected the request \(400: Wrong input: Vector dimension error\)"):
        index.query(SearchQuery(mode="dense", limit=3, dense=[1.0, 2.0]))


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_names_the_key_setting(qdrant: ScriptedQdrant, status: int) -> None:
    qdrant.routes[("GET", "/collections/c/exists")] = fail(status, "Invalid API key")
    with pytest.raises(IndexUnavailable, match=r"refused the API key.*CITEWISE_QDRANT__API_KEY") as caught:
        connect(qdrant.url).count()
    assert "did not answer" not in caught.value.message


def test_a_server_error_is_unavailable_with_its_status(qdrant: ScriptedQdrant) -> None:
    qdrant.routes[("POST", "/collections/c/points/count")] = fail(500, "Service internal error: disk")
    with pytest.raises(IndexUnavailable, match=r"failed \(500: Service internal error: disk\)"):
        connect(qdrant.url).count()


def test_half_a_second_timeout_is_not_truncated_to_zero(qdrant: ScriptedQdrant) -> None:
    qdrant.delay_s = 0.2
    assert connect(qdrant.url, timeout_s=0.5).count() == 3  # int(0.5) == 0 made every call time out
    qdrant.delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(IndexUnavailable, match=r"did not answer within 1 s.*CITEWISE_QDRANT__TIMEOUT_S"):
        connect(qdrant.url, timeout_s=0.5).count()
    assert time.monotonic() - started < 2.5


def test_an_unreachable_server_names_the_url_setting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(IndexUnavailable, match=r"did not answer.*CITEWISE_QDRANT__URL"):
        connect(f"http://127.0.0.1:{port}").count()


def test_local_mode_finds_a_dropped_collection_by_asking_not_by_reading_text() -> None:
    client = QdrantClient(":memory:")
    mine, other = ServerIndex(client, "c", ":memory:"), ServerIndex(client, "c", ":memory:")
    mine.ensure(SPEC)
    mine.upsert([point(0)])
    assert mine.count() == 1
    other.drop()  # another handle drops it: `mine` still remembers it existing
    assert mine.query(SearchQuery(mode="dense", limit=3, dense=[1.0] * 4)) == []
    with pytest.raises(IndexUnavailable, match="does not exist"):
        mine.upsert([point(1)])


def test_edge_query_and_update_errors_are_index_unavailable(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "index", "c", data_dir=tmp_path)
    try:
        index.ensure(SPEC)
        with pytest.raises(IndexUnavailable, match=r"embedded index .* failed: Vector dimension error"):
            index.query(SearchQuery(mode="dense", limit=3, dense=[1.0, 2.0]))
        with pytest.raises(IndexUnavailable, match=r"embedded index .* failed: Vector dimension error"):
            index.upsert([point(0, dims=2)])
    finally:
        index.close()


@pytest.mark.slow  # 100,007 points (~11 s here)
def test_stats_count_documents_past_one_hundred_thousand(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "index", "c", data_dir=tmp_path)
    try:
        index.ensure(CollectionSpec(dense_size=2, encoder="test"))
        n = 100_007
        for start in range(0, n, 20_000):
            index.upsert([point(i, dims=2) for i in range(start, min(n, start + 20_000))])
        stats = index.stats()
        assert (stats.points, stats.documents) == (n, n)  # the facet used to stop at 100,000 values
        assert len(index.distinct("doc_id", limit=10)) == 10
    finally:
        index.close()


class AbortingGrpc:
    """A gRPC server on loopback: the collection exists, and every other call ends with ``code`` after ``delay_s``
    (Qdrant's gRPC API failing)."""

    def __init__(self) -> None:
        from concurrent import futures

        import grpc  # type: ignore[import-untyped]

        self.code = grpc.StatusCode.NOT_FOUND
        self.delay_s = 0.0
        outer = self

        from qdrant_client import grpc as messages

        exists = messages.CollectionExistsResponse(result=messages.CollectionExists(exists=True), time=0)

        def fail(request: bytes, context: Any) -> bytes:
            time.sleep(outer.delay_s)
            context.abort(outer.code, f"scripted {outer.code.name}")
            return b""

        class Handler(grpc.GenericRpcHandler):
            def service(self, handler_call_details: Any) -> Any:
                if handler_call_details.method.endswith("/CollectionExists"):
                    return grpc.unary_unary_rpc_method_handler(lambda request, context: exists.SerializeToString())
                return grpc.unary_unary_rpc_method_handler(fail)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((Handler(),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def index(self, timeout_s: int = 5) -> ServerIndex:
        url = f"http://127.0.0.1:{self.port}"
        client = QdrantClient(
            url=url, grpc_port=self.port, prefer_grpc=True, timeout=timeout_s, check_compatibility=False
        )
        return ServerIndex(client, "c", url, timeout_s)


@pytest.fixture()
def grpc_qdrant() -> Iterator[AbortingGrpc]:
    srv = AbortingGrpc()
    yield srv
    srv.server.stop(None)


def test_grpc_status_codes_are_mapped_like_rest_statuses(grpc_qdrant: AbortingGrpc) -> None:
    import grpc

    index = grpc_qdrant.index()
    grpc_qdrant.code = grpc.StatusCode.NOT_FOUND
    assert index.count() == 0  # the collection went away: reads answer empty
    with pytest.raises(IndexUnavailable, match="does not exist"):
        index.upsert([point(0)])
    grpc_qdrant.code = grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(IndexUnavailable, match="refused the API key"):
        index.count()
    grpc_qdrant.code = grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(InvalidRequest, match="rejected the request"):
        index.count()
    grpc_qdrant.code = grpc.StatusCode.UNAVAILABLE
    with pytest.raises(IndexUnavailable, match="did not answer"):
        index.count()
    grpc_qdrant.code, grpc_qdrant.delay_s = grpc.StatusCode.OK, 2.0
    with pytest.raises(IndexUnavailable, match=r"did not answer within 1 s"):
        grpc_qdrant.index(timeout_s=1).count()
