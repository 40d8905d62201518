"""Pictures of the console in the states a DBA must read at a glance.

Each picture is drawn from a constructed Snapshot (mesh's own types, assessed
by mesh's own `assess`) at a frozen moment, so it changes only when what the
console shows changes. Sync tests: snap_compare runs its own event loop.
"""

from __future__ import annotations

from pathlib import Path

import console_estates as estates
import pytest
from textual.pilot import Pilot

from runbooks.model import Danger
from tui.app import ConsoleApp
from tui.settings import ConsoleSettings

NARROW = (80, 24)
WIDE = (200, 50)


def app_on(kind: str) -> ConsoleApp:
    return ConsoleApp(estates.frozen_session(kind), ConsoleSettings(refresh_seconds=60))


@pytest.mark.parametrize("kind", ["healthy", "degraded", "critical"])
@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["wide", "narrow"])
def test_mesh_view(kind: str, size: tuple[int, int], snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_on(kind), terminal_size=size, run_before=estates.settle)


def runner_app(tmp_path: Path) -> ConsoleApp:
    session = estates.frozen_session(
        "healthy", runbooks=estates.RecordedHost(tmp_path / "data")
    )
    return ConsoleApp(session, ConsoleSettings(refresh_seconds=60))


def test_runner_mid_run(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        estates.mid_run(await estates.open_rotation(pilot))
        await pilot.pause()

    assert snap_compare(runner_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_runner_at_a_confirmation(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        runner = await estates.open_rotation(pilot)
        estates.mid_run(runner)
        assert runner.plan is not None
        step = next(a for a in runner.plan.actions if "protector" in a.step_id)
        estates.ask(pilot, step)
        await pilot.pause()

    assert snap_compare(runner_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_typed_confirmation_for_an_irreversible_step(
    tmp_path: Path, snap_compare
) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        runner = await estates.open_rotation(pilot)
        estates.mid_run(runner)
        plan = estates.recorded_plan("vault-loss")
        cut = next(a for a in plan.actions if a.danger is Danger.IRREVERSIBLE)
        estates.ask(pilot, cut)
        await pilot.pause()

    assert snap_compare(
        runner_app(tmp_path), terminal_size=NARROW, run_before=run_before
    )
