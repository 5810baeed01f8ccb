"""``citewise chat`` end to end (CliRunner, stdin piped): follow-ups, /sources, /history, /new, --json, resume.

Real documents (the SQuAD 2.0 "Normans" article's paragraphs), the real pipeline, embedded Qdrant and MiniLM.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from citewise.cli import app
from citewise.settings import Settings
from tests.ingest_support import build
from tests.paths import SQUAD2, require

pytestmark = pytest.mark.integration

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, dense_encoder: Any, bm25_encoder: Any) -> Path:
    """An index of the article's paragraphs, built once (the shared torch MiniLM: the CLI runs with backend torch)."""
    root = tmp_path_factory.mktemp("chat")
    docs = root / "docs"
    docs.mkdir()
    article = json.loads(require(SQUAD2).read_text(encoding="utf-8"))["data"][0]
    for p, para in enumerate(article["paragraphs"]):
        (docs / f"normans-{p:02d}.txt").write_text(para["context"], encoding="utf-8")
    pipeline, index, store = build(Settings(data_dir=root / "data"), dense_encoder, bm25_encoder)
    pipeline.run([docs], workers=0)
    pipeline.close()
    index.close()
    store.close()
    return root / "data"


@pytest.fixture()
def indexed(settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CITEWISE_DATA_DIR", str(data_dir))
    return data_dir


def chat(*args: str, lines: str) -> Any:
    return runner.invoke(app, ["chat", "--no-rerank", *args], input=lines)


def test_chat_repl_from_stdin(indexed: Path) -> None:
    script = "Who was Harold II?\n\nWhere did he die?\n/sources\n/history\n/new\n/history\n/sources\n/bogus\n"
    script += "/quit\nignored\n"
    result = chat(lines=script)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "asked as: Where did Harold II die?" in out
    assert "Battle of Hastings" in out
    assert "/sources for the quotes" in out and '    "' in out  # /sources printed the quotes
    assert "1. Who was Harold II?" in out and "2. Where did he die?  (asked as: Where did Harold II die?)" in out
    assert "new conversation" in out and "no messages yet" in out and "no sources yet" in out
    assert "unknown command /bogus" in out and "ignored" not in out

    # --json: one object per answered message; a conversation can be resumed by id
    first = chat("--json", lines="Who was Harold II?\n")
    assert first.exit_code == 0, first.output
    turn = json.loads(first.stdout.strip().splitlines()[-1])
    assert (turn["turn"], turn["rewrite"]) == (1, "none")
    again = chat("--json", "--conversation", turn["conversation_id"], lines="Where did he die?\n")
    assert again.exit_code == 0, again.output
    follow = json.loads(again.stdout.strip().splitlines()[-1])
    assert (follow["turn"], follow["rewritten_question"]) == (2, "Where did Harold II die?")
    assert follow["conversation_id"] == turn["conversation_id"]
    assert "Battle of Hastings" in follow["answer"]["answer"]


def test_chat_errors(indexed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = chat("--conversation", "nope", lines="hi\n")
    assert unknown.exit_code == 2 and "--conversation: no conversation 'nope'" in unknown.output
    too_long = chat("--json", lines="x" * 4001 + "\nWho was Harold II?\n")  # reported; the session goes on
    assert too_long.exit_code == 2 and "limit is 4000" in too_long.output
    assert json.loads(too_long.stdout.strip().splitlines()[-1])["question"] == "Who was Harold II?"
    monkeypatch.setenv("CITEWISE_CONVERSATIONS__RETENTION_DAYS", "-3")
    bad = chat(lines="hi\n")
    assert bad.exit_code == 2 and "CITEWISE_CONVERSATIONS__RETENTION_DAYS='-3' is invalid" in bad.output
