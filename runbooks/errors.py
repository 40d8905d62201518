"""Errors that reach an operator: what happened, to what, why, what to do."""

from __future__ import annotations


class RunbookError(Exception):
    """A domain error with a title, a message and the fix."""

    def __init__(self, title: str, message: str, fix: str = "") -> None:
        super().__init__(f"{title}: {message}")
        self.title = title
        self.message = message
        self.fix = fix

    def for_people(self) -> str:
        text = f"{self.title}\n  {self.message}"
        if self.fix:
            text += f"\n  What to do: {self.fix}"
        return text


class Refused(RunbookError):
    """A runbook refuses to go on: doing so would harm the estate."""


class StepFailed(RunbookError):
    """A step's action or its verification did not succeed."""


class NotConfirmed(RunbookError):
    """The operator (or the command line) did not confirm a step."""


class JournalError(RunbookError):
    """A journal cannot be read, or its chain is broken."""
