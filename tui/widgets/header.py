"""The line that always says where you are and whether writes are armed.

A DBA at 3 a.m. must never mistake the simulator for production, nor a
read-only console for an armed one, so both are words, not just colours.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Label


@dataclass(frozen=True)
class Where:
    """The estate the console is looking at."""

    simulator: bool
    mesh: str
    subscription_id: str
    cloud: str
    failover_group: str
    regions: tuple[str, ...] = ()

    @property
    def place(self) -> str:
        if self.simulator:
            return "SIMULATOR"
        return f"{self.cloud} subscription {self.subscription_id}"


class WhereBar(Horizontal):
    """Where (SIMULATOR or the subscription), the mesh, armed or read-only."""

    armed: reactive[bool] = reactive(False)
    sim_clock: reactive[str] = reactive("")

    def __init__(self, where: Where, armed: bool = False) -> None:
        super().__init__(id="where-bar")
        self.where = where
        self.set_reactive(WhereBar.armed, armed)

    def compose(self) -> ComposeResult:
        place = Label(f" {self.where.place} ", id="where-place")
        place.set_class(self.where.simulator, "-simulator")
        place.set_class(not self.where.simulator, "-azure")
        yield place
        yield Label(
            f" mesh {self.where.mesh} · {self.where.failover_group}",
            id="where-mesh",
        )
        yield Label("", id="where-clock")
        yield Label("", id="where-armed")

    def on_mount(self) -> None:
        self.watch_armed(self.armed)
        self.watch_sim_clock(self.sim_clock)

    def watch_armed(self, armed: bool) -> None:
        label = self.query_one("#where-armed", Label)
        label.update(" WRITES ARMED " if armed else " READ-ONLY ")
        label.set_class(armed, "-armed")
        label.set_class(not armed, "-read-only")

    def watch_sim_clock(self, text: str) -> None:
        self.query_one("#where-clock", Label).update(text)
