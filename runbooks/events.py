"""What a run tells whoever watches it: the console, the terminal, tests.

Every event is a frozen dataclass. An observer is any callable taking one
event; the engine calls observers synchronously on the run's thread, so an
observer that raises (KeyboardInterrupt included) stops the run exactly there,
which is how a test interrupts a run at a chosen point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runbooks.model import Danger, Plan, StepState


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    runbook: str
    mesh: str
    resumed: bool


@dataclass(frozen=True)
class PlanReady:
    run_id: str
    plan: Plan


@dataclass(frozen=True)
class StepChanged:
    """A step moved to a new state: running, done, skipped or failed. Every
    action of the `PlanReady` plan is pending until its first StepChanged."""

    run_id: str
    step_id: str
    title: str
    state: StepState
    detail: str = ""


@dataclass(frozen=True)
class ConfirmationAsked:
    run_id: str
    step_id: str
    danger: Danger
    name_to_type: str | None


@dataclass(frozen=True)
class CallStarted:
    """An SDK call is in progress."""

    run_id: str
    step_id: str
    operation: str
    resource: str


@dataclass(frozen=True)
class CallRetried:
    """The gateway is retrying a transient failure (attempt n of m)."""

    run_id: str
    step_id: str
    operation: str
    resource: str
    attempt: int
    max_attempts: int
    reason: str
    wait_seconds: float


@dataclass(frozen=True)
class CallFinished:
    run_id: str
    step_id: str
    operation: str
    resource: str
    outcome: str  # "ok" or the error's short form
    duration_seconds: float
    attempts: int
    request_id: str | None = None


@dataclass(frozen=True)
class LogLine:
    run_id: str
    text: str
    level: str = "info"  # info | warning | error
    step_id: str | None = None


@dataclass(frozen=True)
class RunFinished:
    run_id: str
    outcome: str  # succeeded | failed | interrupted | refused | declined
    message: str = ""
    report_paths: tuple[str, ...] = field(default_factory=tuple)


Event = (
    RunStarted
    | PlanReady
    | StepChanged
    | ConfirmationAsked
    | CallStarted
    | CallRetried
    | CallFinished
    | LogLine
    | RunFinished
)
Observer = Callable[[Any], None]


def render(event: object) -> str | None:
    """One line for a terminal, or None for events a terminal skips."""
    match event:
        case RunStarted(run_id=run_id, runbook=runbook, mesh=mesh, resumed=resumed):
            verb = "Resuming" if resumed else "Starting"
            return f"{verb} runbook {runbook} on mesh {mesh} (run {run_id})"
        case PlanReady(plan=plan):
            return plan.render()
        case StepChanged(title=title, state=state, detail=detail):
            tail = f" — {detail}" if detail else ""
            return f"[{state.value:>7}] {title}{tail}"
        case CallStarted(operation=operation, resource=resource):
            return f"          calling {operation} on {resource}"
        case CallRetried(
            attempt=attempt, max_attempts=most, reason=reason, wait_seconds=wait
        ):
            return f"          retry {attempt} of {most} in {wait:.1f}s: {reason}"
        case CallFinished(outcome=outcome, duration_seconds=seconds, attempts=n):
            return f"          {outcome} in {seconds:.2f}s ({n} attempt(s))"
        case LogLine(text=text, level=level):
            prefix = "" if level == "info" else f"{level.upper()}: "
            return f"          {prefix}{text}"
        case RunFinished(outcome=outcome, message=message):
            return f"Run {outcome}" + (f": {message}" if message else "")
    return None
