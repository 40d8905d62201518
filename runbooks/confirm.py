"""Confirmations, tiered by danger, behind one interface.

Reads need none. A change needs a yes. An irreversible or disruptive step
needs the resource's name typed and a reason. The console answers with
modals, the terminal at a prompt, `--yes` accepts changes, and without a
person present an irreversible step goes ahead only when its resource name
was given on the command line.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from runbooks.model import Danger, Step


@dataclass(frozen=True)
class ConfirmationRequest:
    step_id: str
    title: str
    why: str
    danger: Danger
    operation: str
    target: str
    name_to_type: str
    # The call's arguments as they will be sent (the address a rule denies).
    arguments: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirmation:
    """The answer, as the journal records it."""

    accepted: bool
    by: str
    at: str
    typed: str = ""
    reason: str = ""
    how: str = "prompt"


def request_for(
    step: Step, arguments: Mapping[str, object] | None = None
) -> ConfirmationRequest:
    return ConfirmationRequest(
        step_id=step.id,
        title=step.title,
        why=step.why,
        danger=step.danger,
        operation=step.operation,
        target=step.target,
        name_to_type=step.name_to_type,
        arguments=dict(arguments or {}),
    )


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def operator_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


# How many times an operator may mistype the resource name before the
# step counts as declined.
NAME_ATTEMPTS = 3


class Confirmer(Protocol):
    """Asks whoever is in charge whether a mutating step may go ahead."""

    def confirm(self, request: ConfirmationRequest) -> Confirmation: ...


class TerminalConfirmer:
    """Asks at the prompt: y/n for changes, name and reason when irreversible."""

    def __init__(
        self,
        ask: Callable[[str], str] = input,
        say: Callable[[str], None] = print,
        operator: str | None = None,
    ) -> None:
        self._ask = ask
        self._say = say
        self._operator = operator or operator_name()

    def confirm(self, request: ConfirmationRequest) -> Confirmation:
        self._say(f"\n{request.title}\n  why: {request.why}")
        self._say(f"  call: {request.operation} on {request.target}")
        for name, value in request.arguments.items():
            self._say(f"    {name} = {value}")
        if request.danger is Danger.IRREVERSIBLE:
            return self._confirm_irreversible(request)
        answer = self._ask("Go ahead? [y/N] ").strip().lower()
        accepted = answer in {"y", "yes"}
        return Confirmation(accepted, self._operator, now_text(), typed=answer)

    def _confirm_irreversible(self, request: ConfirmationRequest) -> Confirmation:
        self._say("  This step is irreversible or disruptive.")
        typed = ""
        for attempt in range(1, NAME_ATTEMPTS + 1):
            typed = self._ask(f"Type the name {request.name_to_type!r} to go ahead: ")
            if typed.strip() == request.name_to_type:
                break
            if not typed.strip():  # an empty answer is a no
                return Confirmation(False, self._operator, now_text(), typed=typed)
            if attempt < NAME_ATTEMPTS:
                self._say(
                    f"  {typed.strip()!r} is not {request.name_to_type!r}; "
                    f"{NAME_ATTEMPTS - attempt} more tries (Enter to decline)."
                )
        else:
            return Confirmation(False, self._operator, now_text(), typed=typed)
        reason = self._ask("Reason (recorded in the journal): ").strip()
        return Confirmation(
            bool(reason), self._operator, now_text(), typed=typed, reason=reason
        )


class UnattendedConfirmer:
    """No person present: `--yes` accepts changes; an irreversible step needs
    its resource name among `names` (given on the command line) and a reason."""

    def __init__(
        self,
        accept_changes: bool,
        names: Collection[str] = (),
        reason: str = "",
        operator: str | None = None,
    ) -> None:
        self._accept_changes = accept_changes
        self._names = set(names)
        self._reason = reason or "unattended run"
        self._operator = operator or operator_name()

    def confirm(self, request: ConfirmationRequest) -> Confirmation:
        at = now_text()
        if request.danger is Danger.IRREVERSIBLE:
            named = request.name_to_type in self._names
            return Confirmation(
                named,
                self._operator,
                at,
                typed=request.name_to_type if named else "",
                reason=self._reason if named else "",
                how="command line",
            )
        return Confirmation(self._accept_changes, self._operator, at, how="--yes")


class ChainConfirmer:
    """Tries unattended answers first and falls back to a person: lets
    `--yes` skip the prompts for changes while irreversible steps still ask."""

    def __init__(self, first: UnattendedConfirmer, then: Confirmer) -> None:
        self._first = first
        self._then = then

    def confirm(self, request: ConfirmationRequest) -> Confirmation:
        answer = self._first.confirm(request)
        return answer if answer.accepted else self._then.confirm(request)
