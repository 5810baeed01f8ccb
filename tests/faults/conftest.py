"""Fixtures of the fault suite: the warm CLI launcher, shared by every test of a run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.harness import Launcher


@pytest.fixture(scope="session")
def launcher() -> Iterator[Launcher]:
    runner = Launcher()
    yield runner
    runner.close()
