"""The verdict line: health in a word, the nearest deadline ticking, freshness.

It is redrawn every second from the last Assessment and the time elapsed
since it was taken, so a countdown moves between refreshes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label

from mesh.assessment import Assessment, Deadline, DeadlineKind, Verdict
from tui.widgets.marks import span

VERDICT_WORD = {
    Verdict.HEALTHY: "✓ HEALTHY",
    Verdict.DEGRADED: "▲ DEGRADED",
    Verdict.CRITICAL: "✗ CRITICAL",
}
DEADLINE_WORD = {
    DeadlineKind.KEY_CHECK: "next key check",
    DeadlineKind.INACCESSIBLE: "databases inaccessible",
    DeadlineKind.AUTO_HEAL: "auto-heal window closes",
}


def deadline_text(deadline: Deadline, now: datetime) -> str:
    left = deadline.remaining_seconds(now)
    what = DEADLINE_WORD.get(deadline.kind, deadline.kind.value)
    if left <= 0:
        passed = span(timedelta(seconds=-left))
        return f"DEADLINE PASSED {passed} ago: {what} ({deadline.resource})"
    return f"DEADLINE in {span(timedelta(seconds=left))}: {what} ({deadline.resource})"


def nearest(deadlines: tuple[Deadline, ...], now: datetime) -> Deadline | None:
    """The first deadline still ahead, else the last one passed."""
    ahead = [d for d in deadlines if d.remaining_seconds(now) > 0]
    if ahead:
        return min(ahead, key=lambda d: d.at)
    return max(deadlines, key=lambda d: d.at, default=None)


class VerdictBar(Vertical):
    """Two lines: verdict and freshness; the countdown below while one runs."""

    def __init__(self) -> None:
        super().__init__(id="verdict-bar")

    def compose(self) -> ComposeResult:
        with Horizontal(id="verdict-line"):
            yield Label(" looking… ", id="verdict")
            yield Label("", id="freshness")
        yield Label("", id="deadline")

    def show(
        self,
        assessment: Assessment | None,
        azure_now: datetime | None,
        freshness: str,
    ) -> None:
        verdict = self.query_one("#verdict", Label)
        deadline = self.query_one("#deadline", Label)
        if assessment is not None:
            verdict.update(f" {VERDICT_WORD[assessment.verdict]} ")
            for kind in Verdict:
                verdict.set_class(assessment.verdict is kind, f"-{kind.value}")
            soonest = nearest(assessment.deadlines, azure_now) if azure_now else None
            if soonest is not None and azure_now is not None:
                deadline.update(deadline_text(soonest, azure_now))
                deadline.tooltip = f"Computed from {soonest.basis}"
            deadline.display = soonest is not None and azure_now is not None
        self.query_one("#freshness", Label).update(freshness)
