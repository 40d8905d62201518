"""The mesh view: both regions, the failover group, key paths, findings.

Refresh follows the live-console pattern: one thread worker probes; when it
ends (well or badly) the next probe is scheduled `refresh_seconds` later, so
a slow probe never overlaps the next. Only the UI thread touches widgets: the
worker returns its Look and the state-change handler draws it. A one-second
tick redraws freshness and the countdown from the last Look, so a deadline
keeps ticking between probes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from tui.session import Look, Session
from tui.widgets.findings import FindingsList
from tui.widgets.header import WhereBar
from tui.widgets.marks import BAD, GOOD, WARN, coloured, span
from tui.widgets.matrix import KeyPathMatrix
from tui.widgets.region import RegionPanel
from tui.widgets.simpanel import SimPanel
from tui.widgets.status import VerdictBar


class MeshScreen(Screen[None]):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    BINDINGS = [
        Binding(
            "r",
            "refresh",
            "Refresh",
            id="mesh.refresh",
            tooltip="Look at the estate now",
        ),
        Binding(
            "p",
            "pause",
            "Pause",
            id="mesh.pause",
            tooltip="Pause or resume live refresh",
        ),
        Binding(
            "b",
            "runbooks",
            "Runbooks",
            id="mesh.runbooks",
            tooltip="Choose a runbook to plan and run",
        ),
        Binding(
            "f6",
            "sim_panel",
            "Sim",
            id="sim.panel",
            tooltip="Show or hide the simulator controls (simulator only)",
        ),
        Binding(
            "ctrl+t",
            "advance_clock",
            "+10 min",
            show=False,
            id="sim.advance",
            tooltip="Advance the simulated clock by 10 minutes (simulator only)",
        ),
    ]

    paused: reactive[bool] = reactive(False)

    def __init__(self, session: Session, refresh_seconds: float) -> None:
        super().__init__(id="mesh-screen")
        self.session = session
        self.refresh_seconds = refresh_seconds
        self.look: Look | None = None
        self.looked_at: datetime | None = None
        self.failure: str = ""
        self._next: Timer | None = None
        self._probing = False
        self._again = False
        self.looks_started = 0
        self.looks_shown = 0

    def compose(self) -> ComposeResult:
        yield WhereBar(self.session.where, armed=self.session.starts_armed)
        yield VerdictBar()
        with Horizontal(id="mesh-body"):
            with VerticalScroll(id="mesh-scroll"):
                with Vertical(id="mesh-summary"):
                    yield KeyPathMatrix(id="matrix")
                    yield FindingsList(id="findings")
                with Vertical(id="mesh-detail"):
                    with Horizontal(id="regions"):
                        for index, region in enumerate(self._regions()):
                            yield RegionPanel(region, id=f"region-{index}")
                    yield Static("", id="failover-group")
            if self.session.sim is not None:
                yield SimPanel(self.session.sim)
        yield Footer()

    def _regions(self) -> tuple[str, ...]:
        return self.session.where.regions

    def on_mount(self) -> None:
        self.set_interval(1.0, self.tick)
        # After the first frame: the first look imports the SDKs on a worker,
        # and that would hold the interpreter while the screen is being drawn.
        self.call_after_refresh(self.action_refresh)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"sim_panel", "advance_clock"}:
            return self.session.sim is not None
        return True

    # -- refresh -------------------------------------------------------------

    def action_refresh(self) -> int:
        """Look now, or right after the look in progress (never two at once,
        never a cancelled one: a thread cannot be stopped mid-call).

        Returns the number of the look that will reflect this request.
        """
        if self._next is not None:
            self._next.stop()
            self._next = None
        if self._probing:
            self._again = True
            return self.looks_started + 1
        self._start_probe()
        return self.looks_started

    def _start_probe(self) -> None:
        self._probing, self._again = True, False
        self.looks_started += 1
        self.probe(self.looks_started)

    @work(thread=True, group="probe", exit_on_error=False)
    def probe(self, number: int) -> tuple[int, Look]:
        return number, self.session.look()

    @on(Worker.StateChanged)
    def _probe_ended(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "probe" or not event.worker.is_finished:
            return
        self._probing = False
        if event.state is WorkerState.SUCCESS:
            number, look = event.worker.result  # type: ignore[misc]
            self.failure = ""
            self.show(look)
            self.looks_shown = number
            if self.session.sim is not None:
                self.app._read_sim()  # type: ignore[attr-defined]
        elif event.state is WorkerState.ERROR and event.worker.error is not None:
            first_failure = not self.failure
            self.failure = str(event.worker.error)
            if first_failure:  # one modal when looks start failing, not one a look
                self.app.show_error(event.worker.error)  # type: ignore[attr-defined]
        self.tick()
        if self._again:
            self._start_probe()
        elif not self.paused:
            self._next = self.set_timer(self.refresh_seconds, self.action_refresh)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._next is not None:
            self._next.stop()
            self._next = None
        elif not self.paused:
            self.action_refresh()
        self.tick()

    # -- drawing -------------------------------------------------------------

    def show(self, look: Look) -> None:
        self.look = look
        self.looked_at = self.session.clock()
        snapshot, assessment = look.snapshot, look.assessment
        for panel in self.query(RegionPanel):
            panel.show(snapshot)
        self.query_one(KeyPathMatrix).show(assessment, self._regions())
        self.query_one(FindingsList).show(assessment.findings)
        self.query_one("#failover-group", Static).update(self._group_line(look))

    def _group_line(self, look: Look) -> str:
        group = look.snapshot.failover_group
        if group is None:
            return coloured("Failover group: could not be read", BAD, bold=True)
        state = group.replication_state or "unknown"
        colour = (
            GOOD if state.upper() in {"CATCH_UP", "SEEDING", "SYNCHRONIZING"} else WARN
        )
        policy = group.failover_policy or "?"
        primary = group.primary_instance or "?"
        secondary = group.secondary_instance or "?"
        return (
            f"[b]Failover group[/b] {group.name}: primary {primary}"
            f" ⇄ secondary {secondary} · replication "
            f"{coloured(state, colour)} · policy {policy}"
        )

    def tick(self) -> None:
        bar = self.query_one(VerdictBar)
        assessment = self.look.assessment if self.look else None
        bar.show(assessment, self.azure_now(), self.freshness())
        if self.session.sim is not None:
            self.query_one(WhereBar).sim_clock = self.sim_clock_text()

    def azure_now(self) -> datetime | None:
        """Azure's clock now: the last probe's reading plus the time since."""
        if self.look is None or self.looked_at is None:
            return None
        elapsed = (self.session.clock() - self.looked_at).total_seconds()
        scale = self.session.sim.scale if self.session.sim else 1.0
        return self.look.snapshot.now + timedelta(seconds=elapsed * scale)

    def freshness(self) -> str:
        if self.looked_at is None:
            text = "looking at the estate…"
        else:
            age = span(self.session.clock() - self.looked_at)
            text = f"updated {age} ago"
        if self.failure:
            text = coloured("last look FAILED", BAD, bold=True) + f" · {text}"
        if self.paused:
            return text + " · " + coloured("PAUSED", WARN, bold=True)
        return text + f" · every {self.refresh_seconds:g}s"

    def sim_clock_text(self) -> str:
        now = self.azure_now()
        if now is None or self.session.sim is None:
            return ""
        return f" sim {now:%H:%M:%S} ×{self.session.sim.scale:g} "

    # -- actions that belong to the app --------------------------------------

    def action_runbooks(self) -> None:
        self.app.action_choose_runbook()  # type: ignore[attr-defined]

    def action_sim_panel(self) -> None:
        panel = self.query_one(SimPanel)
        panel.display = not panel.display

    def action_advance_clock(self) -> None:
        self.app.action_advance_clock()  # type: ignore[attr-defined]
