"""What the console is connected to: one value the app is built from.

The app never builds SDK clients or starts processes itself. `tdemesh`
(tdemesh/cli_console.py) assembles a `Session` for the simulator or for a
subscription; tests and the screenshot script assemble one from recorded
Snapshots and a frozen clock. The same widgets draw all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tui.widgets.header import Where

if TYPE_CHECKING:
    # Types only: mesh's Snapshot module is imported by the first look, on
    # its worker, so the first frame does not wait for it.
    from mesh.assessment import Assessment
    from mesh.snapshot import Snapshot
    from tui.runner_host import RunbookHost
    from tui.simcontrol import SimControl


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Look:
    """One probe of the estate and what it means."""

    snapshot: Snapshot
    assessment: Assessment


@dataclass
class Session:
    where: Where
    look: Callable[[], Look]
    """Probe and assess; blocking, so the console calls it from a thread."""
    sim: SimControl | None = None
    runbooks: RunbookHost | None = None
    clock: Callable[[], datetime] = field(default=utc_now)
    """This machine's clock (frozen in snapshot tests)."""
    armed: bool | None = None
    """Writes armed at start; None: armed on the simulator, read-only on Azure."""
    close: Callable[[], None] = field(default=lambda: None)
    """Releases connections; the simulator cannot stop while one is open."""

    @property
    def starts_armed(self) -> bool:
        return self.where.simulator if self.armed is None else self.armed
