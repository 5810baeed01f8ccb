"""Discovery: recursion, globs, hidden files, missing paths; stable document ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from citewise.errors import InvalidRequest
from ingest.discovery import discover, doc_id_for, file_hash


def tree(root: Path) -> None:
    for rel in ["a.txt", "b.md", "sub/c.txt", "sub/deep/d.pdf", ".hidden/e.txt", "sub/.f.txt", "~$lock.docx"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


def test_recursive_with_default_style_excludes(tmp_path: Path) -> None:
    tree(tmp_path)
    found = discover([tmp_path], exclude=(".*", "~$*"))
    assert names(found, tmp_path) == ["a.txt", "b.md", "sub/c.txt", "sub/deep/d.pdf"]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    tree(tmp_path)
    assert names(discover([tmp_path], include=("*.txt",), exclude=(".*",)), tmp_path) == ["a.txt", "sub/c.txt"]
    assert names(discover([tmp_path], exclude=(".*", "~$*", "sub")), tmp_path) == ["a.txt", "b.md"]
    assert names(discover([tmp_path], include=("sub/deep/*",)), tmp_path) == ["sub/deep/d.pdf"]


def test_explicit_file_always_taken_and_deduplicated(tmp_path: Path) -> None:
    tree(tmp_path)
    found = discover([tmp_path / "sub" / ".f.txt", tmp_path / "a.txt", tmp_path], exclude=(".*", "~$*"))
    assert "sub/.f.txt" in names(found, tmp_path)
    assert len(found) == len(set(found))


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="path not found"):
        discover([tmp_path / "nope"])


def test_doc_ids_are_stable_and_tenant_scoped(tmp_path: Path) -> None:
    assert doc_id_for("/a/b.txt") == doc_id_for("/a/b.txt")
    assert len(doc_id_for("/a/b.txt")) == 32
    assert doc_id_for("/a/b.txt", "acme") != doc_id_for("/a/b.txt")
    (tmp_path / "x").write_bytes(b"hello")
    assert file_hash(tmp_path / "x") == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
