"""Fixtures of the runbook integration tests (helpers: runbook_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.paths import StateDirs
from tests.integration.runbooks.runbook_helpers import Runner, make_runner


@pytest.fixture
def dirs(tmp_path: Path) -> StateDirs:
    return StateDirs(tmp_path / "data").ensure()


@pytest.fixture
def runner(dirs: StateDirs) -> Runner:
    """run(module, estate, params=..., names=..., observers=..., resume=...)."""
    return make_runner(dirs)
