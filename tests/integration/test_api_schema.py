"""Schemathesis against the app's own OpenAPI schema: generated requests never cause a 500.

The app runs open (no keys file) on the real embedded index with one real document; schemathesis starts the
app's lifespan once and drives it in-process. ``max_examples`` is kept small for CI time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from api import create_app
from citewise.settings import Settings
from tests.api_support import corpus_file
from tests.ingest_support import build

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Iterator[Any]:
    root: Path = tmp_path_factory.mktemp("schema")
    config = Settings(
        data_dir=root / "data", ingest={"workers": 0}, retrieval={"rerank": False}, api={"max_upload_mb": 0.2}
    )
    pipeline, index, store = build(config, dense_encoder, bm25_encoder)
    pipeline.run([corpus_file("fake-text.txt")])
    pipeline.close()
    index.close()
    store.close()
    app = create_app(config, dense=dense_encoder, sparse=bm25_encoder)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    shutdown_lifespans()


def test_generated_requests_never_cause_a_server_error(api_schema: Any) -> None:
    # schemathesis' pytest plugin does not work with pytest 9 yet; drive its strategies with hypothesis directly
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def run(case: Any) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and body["error"]["request_id"] == response.headers["x-request-id"][0]

        run()
