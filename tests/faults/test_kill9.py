"""kill -9 of ``citewise ingest`` at random crash points, then recovery: nothing lost, nothing duplicated.

Each run starts from the same version-1 data dir, ingests version 2 of the corpus with ``--prune`` in a
real ``citewise ingest`` (the CLI app, see ``tests.faults.forkserver``) that SIGKILLs itself at the n-th pass
of a crash point, both drawn from a seeded RNG (``CITEWISE_FAULT_SEED``, ``CITEWISE_FAULT_RUNS``). Then it
recovers: odd runs with ``index check --repair`` first, every run with the same ``citewise ingest`` again;
``index check`` must then be clean, and the points and docstore records must equal those of a clean run (0 lost,
0 duplicated).
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from citewise.faults import POINTS
from tests.faults import harness
from tests.faults.harness import Launcher
from tests.paths import CORPUS, require

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.integration]

SEED = int(os.environ.get("CITEWISE_FAULT_SEED", "1414"))
RUNS = int(os.environ.get("CITEWISE_FAULT_RUNS", "30"))


def plan(seed: int, runs: int) -> list[tuple[str, float]]:
    """(crash point, where among its passes) per run: every point once (shuffled), then random points."""
    rng = random.Random(seed)
    points = list(POINTS)
    rng.shuffle(points)
    points += [rng.choice(POINTS) for _ in range(max(0, runs - len(points)))]
    return [(p, rng.random()) for p in points[:runs]]


PLAN = plan(SEED, RUNS)


class Scenario:
    """The version-1 baseline data dir, the corpus at version 2, and what a clean version-2 run leaves."""

    def __init__(self, root: Path, dense: Any, sparse: Any) -> None:
        self.root = root
        self.corpus = root / "corpus"
        self.base = root / "base-v1"
        harness.write_v1(self.corpus)
        harness.ingest(self.base, self.corpus, dense, sparse)
        harness.write_v2(self.corpus)
        clean = root / "clean-v2"
        harness.copy_data_dir(self.base, clean)
        self.hits: Counter[str] = Counter()
        summary = harness.ingest(clean, self.corpus, dense, sparse, count_hits=self.hits)
        assert summary.ok and summary.files.changed == 2 and summary.files.removed == 1, summary
        assert harness.check(clean).clean
        self.points, self.records = harness.snapshot(clean)
        self.results: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, launcher: Launcher, dense_encoder: Any, bm25_encoder: Any):  # type: ignore[no-untyped-def]
    require(CORPUS)
    s = Scenario(tmp_path_factory.mktemp("kill9"), dense_encoder, bm25_encoder)
    yield s
    lines = [f"{r['run']:>2} {r['point']}:{r['n']} inconsistent={r['inconsistent']} via={r['via']}" for r in s.results]
    print(f"\nkill -9 runs (seed {SEED}):\n" + "\n".join(lines))


def test_the_scenario_passes_every_crash_point(scenario: Scenario) -> None:
    assert set(scenario.hits) == set(POINTS), scenario.hits


@pytest.mark.parametrize(("run", "step"), list(enumerate(PLAN)), ids=[f"{i}-{p}" for i, (p, _) in enumerate(PLAN)])
def test_killed_ingest_recovers_exactly(
    run: int, step: tuple[str, float], scenario: Scenario, launcher: Launcher, dense_encoder: Any, bm25_encoder: Any
) -> None:
    point, where = step
    n = 1 + int(where * scenario.hits[point])  # one of the passes this run really makes
    data = scenario.root / f"run-{run}"
    harness.copy_data_dir(scenario.base, data)
    env = harness.cli_env(data, CITEWISE_FAULT_POINT=f"{point}:{n}")
    args = ["ingest", str(scenario.corpus), "--prune", "--workers", "0"]
    rc, log = launcher.run(args, env, scenario.root, scenario.root / f"run-{run}.log")
    assert rc == -signal.SIGKILL, f"the run was not killed at {point}:{n} (rc {rc}):\n{log[-2000:]}"

    killed = harness.check(data)
    via = "re-run"
    if run % 2:  # recover with the repair first; the re-run then finishes the job (e.g. the prune)
        repaired = harness.check(data, repair_with=(dense_encoder, bm25_encoder))
        assert repaired.clean, repaired.as_dict()
        assert harness.check(data).clean
        via = "repair+re-run"
    env.pop("CITEWISE_FAULT_POINT")
    rc, log = launcher.run(args, env, scenario.root, scenario.root / f"run-{run}-again.log")
    assert rc == 0, log[-2000:]  # the same command again, as a user would after the crash

    report = harness.check(data)
    assert report.clean and report.lost == 0 and report.duplicated == 0, report.as_dict()
    points, records = harness.snapshot(data)
    assert records == scenario.records  # docstore: same documents, versions and chunk counts
    lost, duplicated = scenario.points - points, points - scenario.points
    assert not lost and not duplicated, (sorted(lost), sorted(duplicated))
    scenario.results.append(
        {"run": run, "point": point, "n": n, "inconsistent": not killed.clean, "via": via, "lost": 0, "duplicated": 0}
    )
