from __future__ import annotations

import uuid

from citewise.types import Chunk, point_id


def test_point_id_is_uuid5_and_stable() -> None:
    pid = point_id("doc-1", 3)
    assert uuid.UUID(pid).version == 5
    assert pid == point_id("doc-1", 3)
    assert pid != point_id("doc-1", 4) != point_id("doc-2", 3)
    # no ambiguity from concatenation
    assert point_id("a1", 1) != point_id("a", 11)


def test_chunk_payload_round_trip() -> None:
    chunk = Chunk(
        doc_id="d",
        chunk_index=2,
        text="hello",
        source="/a/b.txt",
        title="B",
        char_start=10,
        char_end=15,
        heading_path=("Intro", "Scope"),
        page_start=1,
        page_end=2,
        element_types=("NarrativeText",),
        tags={"team": "x"},
        acl=("g1",),
        versions={"parser": "1"},
    )
    payload = chunk.payload()
    assert payload["tag_pairs"] == ["team=x"]
    assert payload["heading_path"] == ["Intro", "Scope"]
    assert payload["chunk_hash"]
    back = Chunk.from_payload(payload | {"unknown_field": 1})
    assert back.heading_path == chunk.heading_path
    assert back.tags == chunk.tags and back.id == chunk.id
