"""The tdemesh console: a live view of the mesh and a runbook runner.

The App holds what is app-wide: where we are and whether writes are armed,
the keys, the palette, help, screenshots, the simulator controls and the
runner. The mesh view is its default screen; the runner is pushed over it.
Nothing here reaches Azure directly: the Session supplies the look at the
estate, the simulator handle and the runbooks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Button
from textual.worker import Worker, WorkerState

from tui.screens.mesh import MeshScreen
from tui.session import Session
from tui.settings import ConsoleSettings
from tui.widgets.header import WhereBar
from tui.widgets.simpanel import SimPanel

if TYPE_CHECKING:
    from textual.command import Provider

    from tui.screens.modals import Problem

ADVANCE_SECONDS = 600


def console_commands() -> type[Provider]:
    """The palette provider, imported when the palette first opens."""
    from tui.commands import ConsoleCommands

    return ConsoleCommands


class ConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "tdemesh"
    COMMANDS = App.COMMANDS | {console_commands}
    BINDINGS = [
        Binding(
            "f1",
            "help",
            "Help",
            id="app.help",
            tooltip="Every key, and its id for remapping",
        ),
        Binding(
            "f8",
            "screenshot",
            "Screenshot",
            show=False,
            id="app.screenshot",
            tooltip="Save an SVG of the screen to the screenshot folder",
        ),
        Binding(
            "ctrl+a",
            "toggle_armed",
            "Arm",
            id="app.arm",
            tooltip="Arm or disarm write actions (runbooks need them armed)",
        ),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            show=False,
            id="app.quit",
            tooltip="Quit the console",
            priority=True,
        ),
    ]

    def __init__(
        self, session: Session, settings: ConsoleSettings | None = None
    ) -> None:
        super().__init__()
        self.session = session
        self.settings = settings or ConsoleSettings()
        self.armed = session.starts_armed
        self.screenshots: list[str] = []
        self.sub_title = session.where.place

    def get_default_screen(self) -> Screen[Any]:
        return MeshScreen(self.session, self.settings.refresh_seconds)

    def on_mount(self) -> None:
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)
        if self.session.sim is not None:
            self.call_after_refresh(self.refresh_sim)
        if self.session.runbooks is not None:
            self.call_after_refresh(self._find_interrupted)

    @property
    def mesh_screen(self) -> MeshScreen:
        """The default screen, under whatever is pushed on top of it."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MeshScreen)
        return screen

    # -- help, screenshots, errors ------------------------------------------

    def key_areas(self) -> list[tuple[str, Iterable[Binding]]]:
        from tui.screens.modals import ConfirmModal
        from tui.screens.runner import RunnerScreen

        def only(bindings: list[Any]) -> list[Binding]:
            return [b for b in bindings if isinstance(b, Binding)]

        return [
            ("anywhere", only(self.BINDINGS)),
            (
                "anywhere",
                [
                    Binding(
                        self.COMMAND_PALETTE_BINDING,
                        "command_palette",
                        "Palette",
                        tooltip="Open the command palette (Textual's key: no id)",
                    )
                ],
            ),
            ("mesh view", only(MeshScreen.BINDINGS)),
            ("runner", only(RunnerScreen.BINDINGS)),
            ("confirm", only(ConfirmModal.BINDINGS)),
        ]

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen, key_rows

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(key_rows(self.key_areas(), self.settings.keymap)))

    def action_screenshot(
        self, filename: str | None = None, path: str | None = None
    ) -> None:
        folder = Path(path) if path else self.settings.screenshot_dir
        folder.mkdir(parents=True, exist_ok=True)
        stamp = self.session.clock().strftime("%Y%m%dT%H%M%S")
        name = filename or f"tdemesh-{stamp}-{len(self.screenshots) + 1}.svg"
        saved = self.save_screenshot(name, str(folder))
        self.screenshots.append(saved)
        self.notify(saved, title="Screenshot saved")

    def show_error(self, error: BaseException | Problem) -> None:
        from tui.screens.modals import ErrorModal, Problem

        problem = error if isinstance(error, Problem) else Problem.of(error)
        self.push_screen(ErrorModal(problem))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title not in {"Screenshot", "Quit"}:
                yield command

    # -- arming --------------------------------------------------------------

    def action_toggle_armed(self) -> None:
        if self.armed:
            self.set_armed(False)
            return
        if self.session.where.simulator:
            self.set_armed(True)
            return
        from tui.screens.modals import ConfirmModal

        where = self.session.where
        self.push_screen(
            ConfirmModal(
                "Arm write actions?",
                f"Runbooks will be able to change {where.place}, mesh {where.mesh}.",
                "Every change still asks before it runs.",
            ),
            callback=lambda answer: self.set_armed(answer is not None),
        )

    def set_armed(self, armed: bool) -> None:
        self.armed = armed
        for bar in self.query(WhereBar):
            bar.armed = armed
        for screen in self.screen_stack:
            for bar in screen.query(WhereBar):
                bar.armed = armed
        self.notify(
            "Write actions ARMED" if armed else "Read-only: write actions disarmed"
        )

    # -- simulator -----------------------------------------------------------

    def sim_call(self, what: str, call: Callable[[], object]) -> None:
        if self.session.sim is None:
            self.notify(
                "Simulator controls work only on the simulator", severity="warning"
            )
            return
        self._sim_worker(what, call)

    @work(thread=True, group="sim", exit_on_error=False)
    def _sim_worker(self, what: str, call: Callable[[], object]) -> str:
        said = call()
        return what or (said if isinstance(said, str) else "")

    def refresh_sim(self) -> None:
        """Redraw the simulator panel from what the simulator says now."""
        if self.session.sim is not None:
            self._read_sim()

    @work(thread=True, group="sim-state", exclusive=True, exit_on_error=False)
    def _read_sim(self) -> object:
        assert self.session.sim is not None
        return self.session.sim.state()

    @on(Worker.StateChanged)
    def _sim_worker_ended(self, event: Worker.StateChanged) -> None:
        group = event.worker.group
        if not self.screen_stack or not self.is_running:
            return  # the console is closing
        if group == "sim" and event.state is WorkerState.SUCCESS:
            if event.worker.result:
                self.notify(str(event.worker.result), title="Simulator")
            self._read_sim()
            self.mesh_screen.action_refresh()
        elif group == "sim-state" and event.state is WorkerState.SUCCESS:
            for panel in self.mesh_screen.query(SimPanel):
                panel.show(event.worker.result)  # type: ignore[arg-type]
        elif group in {"sim", "sim-state"} and event.state is WorkerState.ERROR:
            assert event.worker.error is not None
            self.show_error(event.worker.error)

    def action_advance_clock(self) -> None:
        sim = self.session.sim
        if sim is not None:
            self.sim_call(
                "Clock advanced by 10 minutes", lambda: sim.advance(ADVANCE_SECONDS)
            )

    def action_sim_scale(self, scale: float) -> None:
        sim = self.session.sim
        if sim is not None:
            self.sim_call(f"Clock speed ×{scale:g}", lambda: sim.set_scale(scale))

    def action_sim_outage(self, vault: str) -> None:
        sim = self.session.sim
        if sim is None:
            return
        if vault in self._sim_outages():
            self.sim_call(f"Outage of {vault} ended", lambda: sim.end_outage(vault))
        else:
            self.sim_call(f"Outage of {vault} started", lambda: sim.start_outage(vault))

    def action_sim_fault(self, kind: str) -> None:
        sim = self.session.sim
        if sim is not None:

            def toggle() -> str:
                return f"{kind} {'ON' if sim.toggle_fault(kind) else 'off'}"

            self.sim_call("", toggle)

    def action_sim_clear(self) -> None:
        sim = self.session.sim
        if sim is not None:
            self.sim_call("Faults and outages cleared", sim.clear_faults)

    def _sim_outages(self) -> set[str]:
        panel = self.mesh_screen.query(SimPanel)
        return set(panel.first().outages) if panel else set()

    @on(Button.Pressed, "#sim-panel Button")
    def _sim_button(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button == "sim-advance":
            self.action_advance_clock()
        elif button.startswith("sim-scale-"):
            self.action_sim_scale(float(button.removeprefix("sim-scale-")))
        elif button.startswith("sim-outage-"):
            self.action_sim_outage(button.removeprefix("sim-outage-"))
        elif button.startswith("sim-fault-"):
            self.action_sim_fault(button.removeprefix("sim-fault-"))
        elif button == "sim-clear":
            self.action_sim_clear()

    # -- runbooks ------------------------------------------------------------

    @work(thread=True, group="resume", exit_on_error=False)
    def _find_interrupted(self) -> list[Any]:
        """Off the UI thread: this also loads the runbooks and their estate."""
        assert self.session.runbooks is not None
        return self.session.runbooks.interrupted()

    @on(Worker.StateChanged)
    def _found_interrupted(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "resume" or not event.worker.is_finished:
            return
        if not self.screen_stack or not self.is_running:
            return  # the console is closing
        if event.state is WorkerState.SUCCESS and event.worker.result:
            from tui.screens.runner import offer_resume

            offer_resume(self, event.worker.result)  # type: ignore[arg-type]
        elif event.state is WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    def running_runner(self) -> Any:
        from tui.screens.runner import RunnerScreen

        for screen in self.screen_stack:
            if isinstance(screen, RunnerScreen) and screen.running:
                return screen
        return None

    async def action_quit(self) -> None:
        """Quitting mid-run would cut a drill off before its restore steps."""
        if self.running_runner() is None:
            self.exit()
            return
        from tui.screens.modals import ConfirmModal

        def answered(answer: Any) -> None:
            if answer is not None:
                self.exit()

        self.push_screen(
            ConfirmModal(
                "Quit while a run is going?",
                "The run stops at its next confirmation; a drill's restore steps "
                "may not run. The next start offers to resume it.",
                "Cancel, let the run finish, then quit.",
            ),
            answered,
        )

    def action_choose_runbook(self, name: str | None = None) -> None:
        from tui.screens.runner import open_runner

        open_runner(self, name)
