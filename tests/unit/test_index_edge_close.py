"""Closing the embedded index flushes only what this handle wrote: a read-only command skips a ~0.3 s flush."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from citewise.index import CollectionSpec, IndexPoint, SearchQuery
from citewise.index_edge import EdgeIndex
from citewise.types import Chunk, SparseVector


class CountingShard:
    """Delegates to the real Qdrant Edge shard and counts its flushes."""

    def __init__(self, shard: Any) -> None:
        self.shard = shard
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        self.shard.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


def _point(n: int) -> IndexPoint:
    chunk = Chunk(
        doc_id=f"d{n}", chunk_index=0, text=f"text {n}", source=f"/x/{n}", title="t", char_start=0, char_end=6
    )
    return IndexPoint(chunk.id, [1.0, float(n)], SparseVector((n,), (1.0,)), chunk.payload())


def _counting(index: EdgeIndex) -> CountingShard:
    shard = CountingShard(index._open())
    index._shard = shard
    return shard


def test_reads_close_without_a_flush_and_writes_are_flushed_and_kept(tmp_path: Path) -> None:
    index = EdgeIndex(tmp_path / "index", "c")
    index.ensure(CollectionSpec(dense_size=2, encoder="none"))
    shard = _counting(index)
    index.upsert([_point(1), _point(2)])
    index.close()
    assert shard.flushes == 1  # what was written is flushed

    index = EdgeIndex(tmp_path / "index", "c")
    shard = _counting(index)
    assert index.count() == 2 and index.query(SearchQuery(mode="dense", limit=5, dense=[1.0, 0.0]))
    index.close()
    assert shard.flushes == 0  # nothing written: nothing to flush

    index = EdgeIndex(tmp_path / "index", "c")
    shard = _counting(index)
    index.delete_ids([_point(1).id])
    index.close()
    assert shard.flushes == 1
    index = EdgeIndex(tmp_path / "index", "c")
    try:
        assert index.count() == 1
    finally:
        index.close()
