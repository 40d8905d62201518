"""The simulated clock: wall time, scaled, plus whatever was advanced by hand.

Every timestamp and timer in the simulator reads this clock, so a trainee can
run it at one real second per simulated minute and a test can jump ahead ten
minutes in one call.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """now() = start + (real seconds since start) * scale + advanced."""

    def __init__(self, start: datetime | None = None, scale: float = 1.0) -> None:
        self._start = start or datetime.now(UTC).replace(microsecond=0)
        self._real_anchor = time.monotonic()
        self._sim_anchor = self._start
        self._scale = scale

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._real_anchor
        return self._sim_anchor + timedelta(seconds=elapsed * self._scale)

    def set_scale(self, scale: float) -> None:
        if scale < 0:
            raise ValueError("the clock's scale cannot be negative")
        self._rebase()
        self._scale = scale

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._rebase()
        self._sim_anchor += timedelta(seconds=seconds)
        return self._sim_anchor

    def _rebase(self) -> None:
        now_real = time.monotonic()
        self._sim_anchor = self.now()
        self._real_anchor = now_real
