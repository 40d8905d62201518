"""The console opened on the simulator the way `tdemesh` opens it, and
closed afterwards (an open connection keeps the simulator from stopping)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azuresim.process import SimProcess
from mesh.config import load_config
from tdemesh.cli_console import session_for
from tui.app import ConsoleApp
from tui.settings import ConsoleSettings

ConsoleFactory = Callable[[SimProcess], ConsoleApp]


@pytest.fixture
def console_for(tmp_path: Path) -> Iterator[ConsoleFactory]:
    opened: list[ConsoleApp] = []

    def open_on(sim: SimProcess) -> ConsoleApp:
        name, mesh = load_config(sim.config_path).mesh(None)
        session = session_for(name, mesh, tmp_path / "data")
        app = ConsoleApp(session, ConsoleSettings(refresh_seconds=30))
        opened.append(app)
        return app

    yield open_on
    for app in opened:
        app.session.close()
