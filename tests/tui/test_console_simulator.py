"""Simulator controls: a trainee causes a fault and watches the console react.

Runs against the real simulator (sim-core's fixtures): the panel's buttons and
the palette's "sim: ..." commands call its admin API; the mesh view then shows
what mesh's probe and assess make of the result.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Label

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from tests.tui.conftest import ConsoleFactory
from tui.app import ConsoleApp
from tui.commands import console_commands
from tui.widgets.simpanel import SimPanel

SIZE = (200, 50)

pytestmark = pytest.mark.slow


async def wait_for(pilot: Pilot[None], check: Any, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the console"
        await pilot.pause(0.05)


async def settle_sim(app: ConsoleApp, pilot: Pilot[None]) -> None:
    """Wait for the simulator calls the console made (not for looks)."""
    await wait_for(
        pilot,
        lambda: not [w for w in app.workers if w.group.startswith("sim")],
    )


async def fresh_look(app: ConsoleApp, pilot: Pilot[None]) -> Any:
    """Ask for a look that starts now and wait until it has been drawn."""
    screen = app.mesh_screen
    number = screen.action_refresh()
    await wait_for(pilot, lambda: screen.looks_shown >= number, within=120)
    await pilot.pause()
    return screen.look


async def test_a_vault_outage_from_the_panel_shows_the_fallback(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.mesh_screen.look is not None)
        panel = app.mesh_screen.query_one(SimPanel)
        await pilot.press("f6")
        await pilot.pause()
        assert panel.display

        await pilot.click("#sim-outage-kv-tde-eastus2")
        await wait_for(pilot, lambda: "kv-tde-eastus2" in panel.outages)
        await pilot.press("ctrl+t")  # the instances' 10-minute key check
        await settle_sim(app, pilot)
        look = await fresh_look(app, pilot)

        assert look.assessment.verdict is Verdict.DEGRADED
        assert "RUNNING_ON_FALLBACK" in look.assessment.codes()
        verdict = str(app.mesh_screen.query_one("#verdict", Label).content)
        assert "DEGRADED" in verdict

        await pilot.click("#sim-clear")
        await wait_for(pilot, lambda: not panel.outages)
    assert simulator.admin("GET", "outages")["value"] == []


async def test_palette_advances_the_simulated_clock(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    before = simulator.clock()["now"]
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.mesh_screen.look is not None)
        commands = {title: run for title, _, run in console_commands(app)}
        commands["sim: Advance clock 10 minutes"]()
        await settle_sim(app, pilot)
        await pilot.pause()
    from datetime import datetime

    advanced = datetime.fromisoformat(simulator.clock()["now"])
    assert (advanced - datetime.fromisoformat(before)).total_seconds() >= 600


async def test_losing_both_vaults_starts_a_visible_countdown(
    simulator: SimProcess, console_for: ConsoleFactory
) -> None:
    app = console_for(simulator)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.mesh_screen.look is not None)
        commands = {title: run for title, _, run in console_commands(app)}
        commands["sim: Start outage of kv-tde-eastus2"]()
        await settle_sim(app, pilot)
        commands = {title: run for title, _, run in console_commands(app)}
        commands["sim: Start outage of kv-tde-centralus"]()
        await settle_sim(app, pilot)
        await pilot.press("ctrl+t")
        await settle_sim(app, pilot)
        look = await fresh_look(app, pilot)

        assert look.assessment.verdict is Verdict.CRITICAL
        assert look.assessment.deadlines
        deadline = app.mesh_screen.query_one("#deadline", Label)
        assert deadline.display
        assert "DEADLINE" in str(deadline.content)
