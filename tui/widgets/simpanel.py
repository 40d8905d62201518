"""Simulator controls: the simulated clock and the faults a trainee can cause.

The panel only shows and asks; every press becomes an app action, which
calls the admin API from a worker and redraws the panel with what the
simulator then reports.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Button, Static

from tui.simcontrol import SimControl, SimState
from tui.widgets.marks import BAD, GOOD, coloured


class SimPanel(VerticalScroll):
    def __init__(self, sim: SimControl) -> None:
        super().__init__(id="sim-panel")
        self.sim = sim
        self.border_title = "Simulator"
        self.outages: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Static("clock: reading…", id="sim-clock")
        yield Button("+10 min", id="sim-advance", compact=True)
        yield Button("speed ×1", id="sim-scale-1", compact=True)
        yield Button("speed ×60", id="sim-scale-60", compact=True)
        yield Static("[b]Vault outages[/b]", classes="sim-heading")
        for vault in self.sim.vaults:
            yield Button(f"outage {vault}", id=f"sim-outage-{vault}", compact=True)
        yield Static("[b]Faults[/b]", classes="sim-heading")
        yield Button("throttling", id="sim-fault-throttle", compact=True)
        yield Button("latency", id="sim-fault-latency", compact=True)
        yield Button("clear all", id="sim-clear", compact=True)
        yield Static("", id="sim-faults")

    def show(self, state: SimState) -> None:
        self.outages = set(state.outages)
        self.query_one("#sim-clock", Static).update(
            f"clock {state.now:%Y-%m-%d %H:%M:%S}\nspeed ×{state.scale:g}"
        )
        for vault in self.sim.vaults:
            button = self.query_one(f"#sim-outage-{vault}", Button)
            down = vault in state.outages
            button.label = f"{'end' if down else 'start'} outage {vault}"
            button.variant = "error" if down else "default"
        kinds = {kind for _, kind in state.faults}
        lines = [
            f"{kind}: "
            + (coloured("ON", BAD, True) if kind in kinds else coloured("off", GOOD))
            for kind in ("throttle", "latency")
        ]
        outages = ", ".join(state.outages) or "none"
        lines.append(
            "outages: " + (coloured(outages, BAD, True) if state.outages else outages)
        )
        self.query_one("#sim-faults", Static).update("\n".join(lines))
