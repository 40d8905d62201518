"""Steps, planned actions and plans: what a runbook is made of.

A step is data plus four callables (is it done, act, verify, and how its
arguments read right now). The engine owns the order of things; a step only
knows its own resource. Plans are frozen facts, so the console, the terminal
and the journal all show the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbooks.engine import RunContext


class Danger(StrEnum):
    """How much a step can hurt: decides the confirmation tier."""

    READ = "read"
    CHANGE = "change"
    IRREVERSIBLE = "irreversible"


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


def _never_done(ctx: RunContext) -> bool:
    return False


def _nothing(ctx: RunContext) -> None:
    return None


def _no_arguments(ctx: RunContext) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class Step:
    """One small thing a runbook does to one resource.

    `operation` names the SDK call (``client.operation_group.method``) and
    `target` the resource it acts on; `arguments` renders the call's
    arguments as they would be sent now (placeholders for values an earlier
    step has yet to produce). `is_done` must be cheap and true once the
    step's effect is in place, so that nothing is done twice. `verify`
    re-reads the resource and raises `StepFailed` when the effect is absent.
    `confirm_name` is the name an operator types for an irreversible step.
    """

    id: str
    title: str
    why: str
    danger: Danger
    operation: str
    target: str
    action: Callable[[RunContext], object] = _nothing
    is_done: Callable[[RunContext], bool] = _never_done
    verify: Callable[[RunContext], None] = _nothing
    arguments: Callable[[RunContext], Mapping[str, object]] = _no_arguments
    confirm_name: str | None = None
    # What a skip says when `is_done` is true ("not present" for a removal).
    done_detail: str = ""

    @property
    def mutates(self) -> bool:
        return self.danger is not Danger.READ

    @property
    def name_to_type(self) -> str:
        """What an operator types to confirm an irreversible step."""
        return self.confirm_name or self.target.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Action:
    """A step as planned: what will be called, on what, with what."""

    step_id: str
    title: str
    why: str
    danger: Danger
    operation: str
    target: str
    arguments: Mapping[str, object]
    done: bool
    restore: bool = False

    @property
    def mutates(self) -> bool:
        return self.danger is not Danger.READ

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step_id,
            "title": self.title,
            "why": self.why,
            "danger": self.danger.value,
            "operation": self.operation,
            "target": self.target,
            "arguments": dict(self.arguments),
            "done": self.done,
            "restore": self.restore,
        }


@dataclass(frozen=True)
class Plan:
    """The ordered actions of one run, from a fresh look at the estate."""

    runbook: str
    mesh: str
    actions: tuple[Action, ...]
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def to_do(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if not a.done)

    def as_json(self) -> dict[str, Any]:
        return {
            "runbook": self.runbook,
            "mesh": self.mesh,
            "parameters": dict(self.parameters),
            "actions": [a.as_json() for a in self.actions],
        }

    def render(self) -> str:
        """The plan as an operator reads it in a terminal."""
        lines = [f"Plan for runbook {self.runbook} on mesh {self.mesh}:"]
        for number, action in enumerate(self.actions, start=1):
            mark = "done" if action.done else action.danger.value
            label = "restore" if action.restore else f"{number:>2}"
            lines.append(f"{label}. [{mark}] {action.title}")
            lines.append(f"      why: {action.why}")
            lines.append(f"      call: {action.operation} on {action.target}")
            for name, value in action.arguments.items():
                lines.append(f"        {name} = {value}")
        return "\n".join(lines)
