"""Ctrl-C during ``citewise ingest``: one line saying how to resume, exit 130, no traceback; a re-run finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.env_support import clean_environ
from tests.ingest_support import committed_documents
from tests.paths import REPO, scifact_docs

pytestmark = [pytest.mark.integration]

N_DOCS = 8


def _ingest(data_dir: Path, folder: Path) -> subprocess.Popen[str]:
    env = clean_environ()
    env.update(
        CITEWISE_DATA_DIR=str(data_dir),
        CITEWISE_INGEST__BATCH_CHUNKS="1",  # many small write steps, so the interrupt lands mid-run
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
    )
    # parser processes too (--workers 1): a terminal's Ctrl-C reaches the whole process group
    return subprocess.Popen(
        [sys.executable, "-m", "citewise.cli", "ingest", str(folder), "--workers", "1", "--json"],
        cwd=data_dir.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_ctrl_c_says_how_to_resume_and_a_rerun_finishes(clean_env: Path) -> None:
    folder = clean_env / "abstracts"
    folder.mkdir()
    for d in scifact_docs(N_DOCS):
        (folder / f"{d['_id']}.md").write_text(f"# {d['title']}\n\n{d['text']}\n")
    data_dir = clean_env / "data"
    data_dir.mkdir()
    proc = _ingest(data_dir, folder)
    deadline = time.monotonic() + 120
    while committed_documents(data_dir / "docstore" / "citewise.sqlite") < 1:
        assert proc.poll() is None, f"the run ended before the interrupt: {proc.communicate()}"
        assert time.monotonic() < deadline, "no document was committed in time"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; re-run the same command to resume" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err

    rerun = _ingest(data_dir, folder)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert '"failed": 0' in out and committed_documents(data_dir / "docstore" / "citewise.sqlite") == N_DOCS
