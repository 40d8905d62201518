"""Pictures of the console in the states a DBA must read at a glance.

Each picture is drawn from a constructed Snapshot (mesh's own types, assessed
by mesh's own `assess`) at a frozen moment, so it changes only when what the
console shows changes. Sync tests: snap_compare runs its own event loop.
"""

from __future__ import annotations

import console_estates as estates
import pytest
from textual.pilot import Pilot

from tui.app import ConsoleApp
from tui.settings import ConsoleSettings

NARROW = (80, 24)
WIDE = (200, 50)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def app_on(kind: str) -> ConsoleApp:
    return ConsoleApp(estates.frozen_session(kind), ConsoleSettings(refresh_seconds=60))


@pytest.mark.parametrize("kind", ["healthy", "degraded", "critical"])
@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["wide", "narrow"])
def test_mesh_view(kind: str, size: tuple[int, int], snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app_on(kind), terminal_size=size, run_before=settle)
