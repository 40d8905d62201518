"""Each runbook, driven through the console on the simulator.

The operator's path exactly: open the runner (palette or key), read the plan,
arm, run, answer every confirmation in its modal (Proceed for a change; the
typed name and a reason for an irreversible step), read the report. Then the
estate is probed through mesh (real SDK calls) and checked.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, RichLog

from azuresim.process import SimProcess
from mesh.assess import assess
from mesh.assessment import Verdict
from mesh.config import load_config
from mesh.gateway import Gateway
from mesh.probe import probe
from mesh.snapshot import Snapshot
from runbooks import events
from runbooks.confirm import UnattendedConfirmer
from runbooks.model import StepState
from tests.tui.conftest import ConsoleFactory
from tui.app import ConsoleApp
from tui.screens.modals import ConfirmModal, ErrorModal, TypedConfirmModal
from tui.screens.runner import ReportScreen, RunnerScreen

SIZE = (160, 48)
RUN_TIMEOUT = 240.0

pytestmark = pytest.mark.slow


class Answers:
    """What the operator was asked, and what they answered."""

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.irreversible: list[str] = []
        self.errors: list[str] = []


def look_at(sim: SimProcess) -> tuple[Snapshot, Any]:
    name, mesh = load_config(sim.config_path).mesh(None)
    snapshot = probe(Gateway(mesh.endpoints()), name, mesh)
    return snapshot, assess(snapshot)


async def wait_for(pilot: Pilot[None], check: Any, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the console")
        await pilot.pause(0.05)


async def run_through_console(
    app: ConsoleApp, pilot: Pilot[None], runbook: str, parameters: str = ""
) -> tuple[RunnerScreen, Answers]:
    await wait_for(pilot, lambda: app.mesh_screen.look is not None)
    app.action_choose_runbook(runbook)
    await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
    runner = app.screen
    assert isinstance(runner, RunnerScreen)
    await wait_for(pilot, lambda: runner.plan is not None)
    if parameters:
        runner.query_one("#runner-params", Input).value = parameters
        runner.plan = None
        runner.action_replan()
        await wait_for(pilot, lambda: runner.plan is not None)

    await pilot.press("ctrl+r")
    answers = Answers()
    deadline = time.monotonic() + RUN_TIMEOUT
    while runner.result is None:
        assert time.monotonic() < deadline, "the run did not finish"
        await answer(app, pilot, answers)
        await pilot.pause(0.05)
    await pilot.pause()
    if isinstance(app.screen, ErrorModal):
        answers.errors.append(app.screen.problem.message)
    return runner, answers


async def answer(app: ConsoleApp, pilot: Pilot[None], answers: Answers) -> None:
    screen = app.screen
    if isinstance(screen, TypedConfirmModal):
        answers.irreversible.append(screen.name_to_type)
        screen.query_one("#typed-name", Input).value = screen.name_to_type
        screen.query_one("#reason", Input).value = "console drill"
        await pilot.pause()
        await pilot.click("#proceed")
    elif isinstance(screen, ConfirmModal):
        await pilot.pause()  # let the modal mount and take the focus
        assert app.focused is not None and app.focused.id == "cancel"
        answers.changes.append(str(screen._title))
        await pilot.click("#proceed")
    elif isinstance(screen, ErrorModal):
        answers.errors.append(screen.problem.message)
        await pilot.press("escape")


def states_of(runner: RunnerScreen) -> set[StepState]:
    return set(runner.states.values())


async def test_setup_through_the_console_protects_both_instances(
    greenfield: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(greenfield)
    async with app.run_test(size=SIZE) as pilot:
        runner, answers = await run_through_console(app, pilot, "setup")

    assert runner.result is not None and runner.result.ok, answers.errors
    assert answers.changes, "setup changes the estate, so it must have asked"
    assert StepState.FAILED not in states_of(runner)
    snapshot, assessment = look_at(greenfield)
    protectors = [i.protector for i in snapshot.instances]
    assert all(p is not None and p.customer_managed for p in protectors)
    assert len({p.thumbprint for p in protectors if p}) == 1
    assert assessment.verdict is Verdict.HEALTHY, assessment.codes()


async def test_rotation_through_the_console_switches_both_protectors(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    before, _ = look_at(simulator)
    old = {i.protector.thumbprint for i in before.instances if i.protector}

    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        runner, answers = await run_through_console(app, pilot, "rotation")

    assert runner.result is not None and runner.result.ok, answers.errors
    after, assessment = look_at(simulator)
    new = {i.protector.thumbprint for i in after.instances if i.protector}
    assert len(new) == 1 and new != old
    assert assessment.verdict is Verdict.HEALTHY, assessment.codes()


async def test_vault_loss_drill_through_the_console_restores_the_estate(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        runner, answers = await run_through_console(app, pilot, "vault-loss")

    assert runner.result is not None and runner.result.ok, answers.errors
    assert answers.irreversible, "cutting a key path must ask for the typed name"
    after, assessment = look_at(simulator)
    rules = [
        rule.name
        for group in after.network_security_groups
        for rule in group.outbound_rules or ()
    ]
    assert not [r for r in rules if r.startswith("tdemesh-drill")]
    assert all(path.usable for path in assessment.paths)


async def test_failover_drill_through_the_console_fails_back(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        runner, answers = await run_through_console(app, pilot, "failover-drill")
        await pilot.press("ctrl+o")
        await pilot.pause()
        report_screen = app.screen

    assert runner.result is not None and runner.result.ok, answers.errors
    assert answers.irreversible, "a failover must ask for the typed name"
    assert isinstance(report_screen, ReportScreen)
    assert "failover-drill" in report_screen.text
    after, _ = look_at(simulator)
    assert after.failover_group is not None
    assert after.failover_group.primary_instance == "sqlmi-tde-eastus2"
    assert runner.result.reports
    assert all(os.path.exists(p) for p in runner.result.reports)  # noqa: ASYNC240


async def test_cancel_at_the_first_confirmation_declines_and_changes_nothing(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    before, _ = look_at(simulator)
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.mesh_screen.look is not None)
        app.action_choose_runbook("rotation")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        await wait_for(pilot, lambda: runner.plan is not None)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.pause()
        await pilot.press("enter")  # Cancel has the focus
        await wait_for(pilot, lambda: runner.result is not None)
        await pilot.pause()
        assert app.screen is runner, "a decline is the operator's no, not an error"

    assert runner.result is not None and runner.result.outcome == "declined"
    after, _ = look_at(simulator)
    assert [i.protector for i in after.instances] == [
        i.protector for i in before.instances
    ]


async def test_a_run_needs_writes_armed(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.mesh_screen.look is not None)
        app.set_armed(False)
        app.action_choose_runbook("rotation")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        await wait_for(pilot, lambda: runner.plan is not None)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "not armed" in app.screen.problem.title
        assert not runner.running and runner.result is None


async def test_an_interrupted_run_is_offered_at_start_and_resumes(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    host = app.session.runbooks
    assert host is not None

    def interrupt_at_third_step(event: object) -> None:
        if isinstance(event, events.StepChanged) and event.state is StepState.RUNNING:
            seen.append(event.step_id)
            if len(seen) == 3:
                raise KeyboardInterrupt

    seen: list[str] = []
    first = host.run("rotation", {}, UnattendedConfirmer(True), interrupt_at_third_step)
    assert first.outcome == "interrupted"

    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.pause()
        assert first.run_id in str(app.screen._message)
        await pilot.click("#proceed")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        assert runner.resume_run == first.run_id
        await pilot.press("ctrl+r")
        answers = Answers()
        while runner.result is None:
            await answer(app, pilot, answers)
            await pilot.pause(0.05)

    assert runner.result.run_id == first.run_id
    assert runner.result.ok, answers.errors
    after, assessment = look_at(simulator)
    assert len({i.protector.thumbprint for i in after.instances if i.protector}) == 1
    assert assessment.verdict is Verdict.HEALTHY, assessment.codes()


async def test_a_drill_that_died_after_its_cut_is_offered_first_and_restored(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    host = app.session.runbooks
    assert host is not None

    def die_after_the_cut(event: object) -> None:
        if (
            isinstance(event, events.StepChanged)
            and event.state is StepState.DONE
            and event.step_id.startswith("cut-")
        ):
            raise SystemExit("the console's process was killed")

    with pytest.raises(SystemExit):
        host.run(
            "vault-loss",
            {},
            UnattendedConfirmer(True, ["nsg-sqlmi-eastus2"], "drill"),
            die_after_the_cut,
        )
    cut, _ = look_at(simulator)
    assert any(
        rule.name.startswith("tdemesh-drill")
        for group in cut.network_security_groups
        for rule in group.outbound_rules or ()
    ), "the drill's cut should still be in place"

    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.pause()
        assert "not put it back" in str(app.screen._message)
        await pilot.click("#proceed")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        await pilot.press("ctrl+r")
        answers = Answers()
        while runner.result is None:
            await answer(app, pilot, answers)
            await pilot.pause(0.05)

    assert runner.result.ok, answers.errors
    after, assessment = look_at(simulator)
    rules = [
        rule.name
        for group in after.network_security_groups
        for rule in group.outbound_rules or ()
    ]
    assert not [r for r in rules if r.startswith("tdemesh-drill")]
    assert all(path.usable for path in assessment.paths)


async def test_throttling_shows_as_retries_in_the_runner_and_the_run_succeeds(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    simulator.add_fault(
        "throttle",
        listener="kv-tde-eastus2",
        operation="POST create",
        remaining=2,
        retry_after=1,
    )
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        runner, answers = await run_through_console(app, pilot, "rotation")
        log = "\n".join(
            str(line.text) for line in runner.query_one("#runner-log", RichLog).lines
        )

    assert runner.result is not None and runner.result.ok, answers.errors
    assert runner.retries >= 1
    assert "retry 1 of" in log
