"""The console's shell: where you are, keys, help, palette, modals, screenshots."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import console_estates as estates
import pytest
from textual.widgets import Button, DataTable, Input, Label

from mesh.errors import AccessDenied
from runbooks.model import StepState
from tui.app import ConsoleApp
from tui.screens.help import HelpScreen
from tui.screens.modals import (
    Confirmed,
    ConfirmModal,
    ErrorModal,
    Problem,
    TypedConfirmModal,
)
from tui.session import Look
from tui.settings import ConsoleSettings, SettingsError, load_settings

SIZE = (100, 40)


def app_for(
    kind: str = "healthy", simulator: bool = True, **settings: object
) -> ConsoleApp:
    return ConsoleApp(
        estates.frozen_session(kind, simulator=simulator),
        ConsoleSettings(**settings),  # type: ignore[arg-type]
    )


def text_of(app: ConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Label).content)


async def test_the_header_says_simulator_and_armed_on_the_simulator() -> None:
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "SIMULATOR" in text_of(app, "#where-place")
        assert "WRITES ARMED" in text_of(app, "#where-armed")


async def test_on_azure_the_header_names_the_subscription_and_starts_read_only() -> (
    None
):
    app = app_for(simulator=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert estates.SUB in text_of(app, "#where-place")
        assert "READ-ONLY" in text_of(app, "#where-armed")


async def test_arming_on_azure_asks_first_and_cancel_leaves_it_read_only() -> None:
    app = app_for(simulator=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert not app.armed
        assert "READ-ONLY" in text_of(app, "#where-armed")

        await pilot.press("ctrl+a")
        await pilot.pause()
        await pilot.click("#proceed")
        await pilot.pause()
        assert app.armed
        assert "WRITES ARMED" in text_of(app, "#where-armed")


async def test_f1_lists_every_action_with_its_id_and_remapped_keys() -> None:
    app = app_for(keymap={"mesh.refresh": "ctrl+r"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        ids = {row[2] for row in rows}
        assert {"app.help", "app.screenshot", "app.arm", "mesh.refresh"} <= ids
        assert {"mesh.pause", "mesh.runbooks", "sim.advance"} <= ids
        refresh = next(row for row in rows if row[2] == "mesh.refresh")
        assert refresh[1] == "ctrl+r"


async def test_a_remapped_key_runs_the_action_and_the_old_key_does_not() -> None:
    app = app_for(keymap={"mesh.pause": "ctrl+o"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert not app.mesh_screen.paused
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.mesh_screen.paused


async def test_every_binding_has_an_id_and_a_tooltip() -> None:
    app = app_for()
    for area, bindings in app.key_areas():
        for binding in bindings:
            if binding.action == "command_palette":  # Textual's own, not remappable
                continue
            assert binding.id, (area, binding.key)
            assert binding.tooltip, (area, binding.key)


async def test_no_single_plain_key_changes_anything() -> None:
    """Plain keys may look (refresh, pause, open a list), never change."""
    app = app_for()
    changing = {"toggle_armed", "advance_clock", "quit", "run", "start"}
    for _area, bindings in app.key_areas():
        for binding in bindings:
            for key in binding.key.split(","):
                if binding.action in changing:
                    assert "+" in key or key.startswith("f"), binding


async def test_confirm_modal_focuses_cancel_so_enter_declines() -> None:
    app = app_for()
    answers: list[Confirmed | None] = []
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConfirmModal("Set protector?", "on sqlmi"), answers.append)
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")
        await pilot.pause()
    assert answers == [None]


async def test_typed_confirm_needs_the_exact_name_and_a_reason() -> None:
    app = app_for()
    answers: list[Confirmed | None] = []
    async with app.run_test(size=SIZE) as pilot:
        modal = TypedConfirmModal("Fail over", "planned failover", "fog-tde")
        app.push_screen(modal, answers.append)
        await pilot.pause()
        proceed = modal.query_one("#proceed", Button)
        modal.query_one("#typed-name", Input).value = "fog-td"
        modal.query_one("#reason", Input).value = "quarterly drill"
        await pilot.pause()
        assert proceed.disabled
        modal.query_one("#typed-name", Input).value = "fog-tde"
        await pilot.pause()
        assert not proceed.disabled
        await pilot.click("#proceed")
        await pilot.pause()
    assert answers == [Confirmed("quarterly drill")]


async def test_an_error_shows_title_message_and_fix_until_closed() -> None:
    class DomainError(Exception):
        title = "Vault unreachable"
        what = "kv-tde-eastus2 did not answer."
        why = "The key path is cut."
        fix = "Approve the private endpoint connection."

    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        app.show_error(DomainError())
        await pilot.pause()
        assert isinstance(app.screen, ErrorModal)
        problem = app.screen.problem
        assert problem == Problem(
            "Vault unreachable",
            "kv-tde-eastus2 did not answer. The key path is cut.",
            "Approve the private endpoint connection.",
        )
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ErrorModal)


async def test_screenshot_is_saved_to_the_configured_folder(tmp_path: Path) -> None:
    app = app_for(screenshot_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("f8")
        await pilot.pause()
    assert len(app.screenshots) == 1
    saved = Path(app.screenshots[0])
    assert saved.parent == tmp_path
    assert saved.name.endswith(".svg")
    with open(saved, encoding="utf-8") as svg:  # noqa: ASYNC230
        assert svg.read(4) == "<svg"


async def test_palette_offers_area_action_commands() -> None:
    from tui.commands import console_commands

    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [title for title, _, _ in console_commands(app)]
    assert "view: Refresh now" in titles
    assert "app: Screenshot" in titles
    assert all(": " in title for title in titles)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = estates.NOW

    def __call__(self) -> datetime:
        return self.now


async def test_freshness_and_the_countdown_tick_between_looks() -> None:
    clock = Clock()
    session = estates.frozen_session("critical")
    session.clock = clock
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=3600))
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "updated 0m00s ago" in text_of(app, "#freshness")
        assert "DEADLINE in 30m00s" in text_of(app, "#deadline")

        clock.now += timedelta(seconds=75)
        app.mesh_screen.tick()
        await pilot.pause()
        assert "updated 1m15s ago" in text_of(app, "#freshness")
        assert "DEADLINE in 28m45s" in text_of(app, "#deadline")


async def test_pause_stops_the_looks_and_says_so() -> None:
    app = app_for(refresh_seconds=0.5)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        assert "PAUSED" in text_of(app, "#freshness")
        started = app.mesh_screen.looks_started
        await pilot.pause(1.2)
        assert app.mesh_screen.looks_started == started

        await pilot.press("p")
        await pilot.pause(1.2)
        assert app.mesh_screen.looks_started > started
        assert "every 0.5s" in text_of(app, "#freshness")


async def test_the_next_look_starts_only_when_the_last_one_ended() -> None:
    running: list[int] = []
    overlaps: list[int] = []
    fixed = estates.look("healthy")

    def slow_look() -> Look:
        running.append(1)
        if len(running) > 1:
            overlaps.append(len(running))
        time.sleep(0.3)
        running.pop()
        return fixed

    session = estates.frozen_session()
    session.look = slow_look
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=0.5))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(4):
            app.mesh_screen.action_refresh()  # impatient operator
            await pilot.pause(0.1)
        await pilot.pause(1.5)
        assert app.mesh_screen.looks_shown >= 2
    assert overlaps == []


def test_console_settings_come_from_console_toml(tmp_path: Path) -> None:
    file = tmp_path / "console.toml"
    file.write_text(
        'refresh_seconds = 2.5\nscreenshot_dir = "/tmp/shots"\n'
        '[keymap]\n"mesh.refresh" = "ctrl+r"\n',
        encoding="utf-8",
    )
    settings = load_settings(file)
    assert settings.refresh_seconds == 2.5
    assert settings.keymap == {"mesh.refresh": "ctrl+r"}
    assert settings.screenshot_dir == Path("/tmp/shots")


def test_a_refresh_faster_than_half_a_second_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "console.toml"
    file.write_text("refresh_seconds = 0.1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="refresh_seconds"):
        load_settings(file)


async def test_a_failing_look_shows_one_error_modal_and_stays_marked() -> None:
    def denied() -> Look:
        raise AccessDenied(
            "the operator may not read the managed instance",
            "sqlmi-tde-eastus2",
            "assign Reader on rg-tde-eastus2 to the operator",
            operation="managed_instances.get",
            status=403,
        )

    session = estates.frozen_session()
    session.look = denied
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=0.5))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):  # the first look starts after the first frame
            if isinstance(app.screen, ErrorModal):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, ErrorModal)
        problem = app.screen.problem
        assert "may not read" in problem.message
        assert "sqlmi-tde-eastus2" in problem.message
        assert problem.fix == "assign Reader on rg-tde-eastus2 to the operator"

        await pilot.pause(1.2)  # more failed looks: still one modal
        assert len([s for s in app.screen_stack if isinstance(s, ErrorModal)]) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert "last look FAILED" in text_of(app, "#freshness")


async def test_the_palette_names_each_runbook_and_opens_its_plan(
    tmp_path: Path,
) -> None:
    from tui.commands import console_commands
    from tui.screens.runner import RunnerScreen

    session = estates.frozen_session(runbooks=estates.RecordedHost(tmp_path))
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=60))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        commands = {title: run for title, _, run in console_commands(app)}
        runbooks = [t for t in commands if t.startswith("runbook: ")]
        from runbooks.registry import RUNBOOKS

        assert len(runbooks) == len(RUNBOOKS)  # one command per runbook
        commands["runbook: Rotate the TDE protector in both vaults"]()
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, RunnerScreen)
        assert app.screen.runbook == "rotation"
        assert app.screen.plan == estates.recorded_plan("rotation")


async def test_b_lists_the_runbooks_and_nothing_runs_until_asked(
    tmp_path: Path,
) -> None:
    from tui.screens.runner import RunbookChooser, RunnerScreen

    session = estates.frozen_session(runbooks=estates.RecordedHost(tmp_path))
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=60))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, RunbookChooser)
        await pilot.press("down", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        assert runner.runbook == "rotation"
        assert not runner.running and runner.result is None
        assert set(runner.states.values()) == {StepState.PENDING}


async def test_quitting_during_a_run_asks_first(tmp_path: Path) -> None:
    from tui.screens.runner import RunnerScreen

    session = estates.frozen_session(runbooks=estates.RecordedHost(tmp_path))
    app = ConsoleApp(session, ConsoleSettings(refresh_seconds=60))
    async with app.run_test(size=SIZE) as pilot:
        app.action_choose_runbook("rotation")
        await pilot.pause()
        runner = app.screen
        assert isinstance(runner, RunnerScreen)
        runner.running = True  # as while the engine works on a step

        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("enter")  # Cancel has the focus
        await pilot.pause()
        assert app.is_running and app.screen is runner

        runner.running = False
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert not app.is_running
