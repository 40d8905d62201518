"""The command palette: every console action as "area: action".

Only commands that make sense where the operator is are offered: simulator
commands on the simulator, runbooks when runbooks are available.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import ConsoleApp

Command = tuple[str, str, Callable[[], object]]


def console_commands(app: ConsoleApp) -> Iterator[Command]:
    mesh = app.mesh_screen
    yield ("view: Refresh now", "Look at the estate now", mesh.action_refresh)
    paused = "Resume live refresh" if mesh.paused else "Pause live refresh"
    yield (f"view: {paused}", "Stop or restart the periodic look", mesh.action_pause)
    yield ("view: Help (all keys)", "Every key and its id", app.action_help)
    yield (
        "app: Screenshot",
        "Save an SVG to the screenshot folder",
        app.action_screenshot,
    )
    armed = "Disarm write actions" if app.armed else "Arm write actions"
    yield (
        f"app: {armed}",
        "Runbooks change the estate only when armed",
        app.action_toggle_armed,
    )
    yield ("app: Quit", "Leave the console", app.exit)
    if app.session.runbooks is not None:
        for name, title, about in app.session.runbooks.catalogue():
            yield (
                f"runbook: {title}",
                about,
                partial(app.action_choose_runbook, name),
            )
    sim = app.session.sim
    if sim is not None:
        yield (
            "sim: Advance clock 10 minutes",
            "Jump the simulated clock ahead",
            app.action_advance_clock,
        )
        yield (
            "sim: Clock speed ×1",
            "Simulated time runs at real speed",
            partial(app.action_sim_scale, 1.0),
        )
        yield (
            "sim: Clock speed ×60",
            "One simulated minute per real second",
            partial(app.action_sim_scale, 60.0),
        )
        outages = app._sim_outages()
        for vault in sim.vaults:
            verb = "End" if vault in outages else "Start"
            yield (
                f"sim: {verb} outage of {vault}",
                "The vault stops answering",
                partial(app.action_sim_outage, vault),
            )
        yield (
            "sim: Throttling on/off",
            "Every listener answers 429 with Retry-After",
            partial(app.action_sim_fault, "throttle"),
        )
        yield (
            "sim: Latency on/off",
            "Every call takes 2 s longer",
            partial(app.action_sim_fault, "latency"),
        )
        yield (
            "sim: Clear faults and outages",
            "Remove throttling, latency and vault outages",
            app.action_sim_clear,
        )
        yield (
            "sim: Show or hide the panel",
            "The simulator controls",
            mesh.action_sim_panel,
        )


class ConsoleCommands(Provider):
    def _commands(self) -> list[Command]:
        from tui.app import ConsoleApp

        app = self.app
        return list(console_commands(app)) if isinstance(app, ConsoleApp) else []

    async def discover(self) -> Hits:
        for title, about, callback in self._commands():
            yield DiscoveryHit(title, callback, help=about)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, about, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=about)
