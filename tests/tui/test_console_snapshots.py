"""Pictures of the console in the states a DBA must read at a glance.

Each picture is drawn from a constructed Snapshot (mesh's own types, assessed
by mesh's own `assess`) at a frozen moment, so it changes only when what the
console shows changes. Sync tests: snap_compare runs its own event loop.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import console_estates as estates
import pytest
from textual.pilot import Pilot

from runbooks import events
from runbooks.confirm import ConfirmationRequest
from runbooks.model import Danger, StepState
from tui.app import ConsoleApp
from tui.runner_host import ConsoleConfirmer
from tui.screens.runner import RunnerScreen
from tui.settings import ConsoleSettings

NARROW = (80, 24)
WIDE = (200, 50)


async def settle(pilot: Pilot[None]) -> None:
    """Until the first look has been drawn and nothing else is running."""
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    while app.mesh_screen.looks_shown < 1:
        await pilot.pause(0.02)
    await app.workers.wait_for_complete()
    await pilot.pause()


def app_on(kind: str) -> ConsoleApp:
    return ConsoleApp(estates.frozen_session(kind), ConsoleSettings(refresh_seconds=60))


@pytest.mark.parametrize("kind", ["healthy", "degraded", "critical"])
@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["wide", "narrow"])
def test_mesh_view(kind: str, size: tuple[int, int], snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_on(kind), terminal_size=size, run_before=settle)


RUN = "20261203T030000Z-rotation-abc123"


def runner_app(tmp_path: Path) -> ConsoleApp:
    session = estates.frozen_session(
        "healthy", runbooks=estates.RecordedHost(tmp_path / "data")
    )
    return ConsoleApp(session, ConsoleSettings(refresh_seconds=60))


async def open_rotation(pilot: Pilot[None]) -> RunnerScreen:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    app.action_choose_runbook("rotation")
    await settle(pilot)
    runner = app.screen
    assert isinstance(runner, RunnerScreen)
    return runner


def mid_run(runner: RunnerScreen) -> None:
    """Feed the screen what the engine says two steps into a rotation."""
    assert runner.plan is not None
    first, create, copy = runner.plan.actions[:3]
    said = [
        events.RunStarted(RUN, "rotation", "sim", resumed=False),
        events.StepChanged(RUN, first.step_id, first.title, StepState.RUNNING),
        events.CallStarted(RUN, first.step_id, "mesh.probe", "mesh sim"),
        events.CallFinished(
            RUN, first.step_id, "mesh.probe", "mesh sim", "ok", 0.41, 1
        ),
        events.StepChanged(RUN, first.step_id, first.title, StepState.DONE),
        events.StepChanged(RUN, create.step_id, create.title, StepState.RUNNING),
        events.ConfirmationAsked(RUN, create.step_id, create.danger, None),
        events.CallStarted(RUN, create.step_id, create.operation, create.target),
        events.CallFinished(
            RUN, create.step_id, create.operation, create.target, "ok", 0.12, 1
        ),
        events.StepChanged(RUN, create.step_id, create.title, StepState.DONE),
        events.StepChanged(RUN, copy.step_id, copy.title, StepState.RUNNING),
        events.CallStarted(RUN, copy.step_id, "keys.backup_key", copy.target),
        events.CallRetried(
            RUN,
            copy.step_id,
            "keys.backup_key",
            copy.target,
            2,
            5,
            "429 Throttled (VaultRequestTypeLimitReached)",
            1.0,
        ),
    ]
    runner.running = True
    for event in said:
        runner.on_run_event(event)


def test_runner_mid_run(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        mid_run(await open_rotation(pilot))
        await pilot.pause()

    assert snap_compare(runner_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_runner_at_a_confirmation(tmp_path: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        runner = await open_rotation(pilot)
        mid_run(runner)
        assert runner.plan is not None
        step = next(a for a in runner.plan.actions if "protector" in a.step_id)
        request = ConfirmationRequest(
            step.step_id,
            step.title,
            step.why,
            step.danger,
            step.operation,
            step.target,
            step.target.rsplit("/", 1)[-1],
            step.arguments,
        )
        ConsoleConfirmer(pilot.app, "dba")._ask(request, Future())
        await pilot.pause()

    assert snap_compare(runner_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_typed_confirmation_for_an_irreversible_step(
    tmp_path: Path, snap_compare
) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot[None]) -> None:
        runner = await open_rotation(pilot)
        mid_run(runner)
        plan = estates.recorded_plan("vault-loss")
        cut = next(a for a in plan.actions if a.danger is Danger.IRREVERSIBLE)
        request = ConfirmationRequest(
            cut.step_id,
            cut.title,
            cut.why,
            cut.danger,
            cut.operation,
            cut.target,
            cut.target.rsplit("/", 1)[-1],
            cut.arguments,
        )
        ConsoleConfirmer(pilot.app, "dba")._ask(request, Future())
        await pilot.pause()

    assert snap_compare(
        runner_app(tmp_path), terminal_size=NARROW, run_before=run_before
    )
