"""Confirmations and errors: the only places the console asks or alarms.

Two confirmation tiers, as the runbooks' danger levels ask: a change gets a
yes/no question with Cancel focused, so Enter alone never proceeds; an
irreversible step gets the resource's name typed out and a reason, and its
Proceed button stays disabled until both are there. Errors stay on screen
until acknowledged: a toast that fades at 3 a.m. is an error nobody read.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


@dataclass(frozen=True)
class Confirmed:
    """An operator's yes, with the reason given for an irreversible step."""

    reason: str = ""


class ConfirmModal(ModalScreen[Confirmed | None]):
    """Yes or no for a change; Cancel has the focus."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="confirm.cancel",
            tooltip="Do not run this step",
        ),
    ]

    def __init__(self, title: str, message: str, detail: str = "") -> None:
        super().__init__(classes="confirm")
        self._title = title
        self._message = message
        self._detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Confirm"
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self._message, classes="dialog-message")
                if self._detail:
                    yield Static(self._detail, classes="dialog-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Proceed", id="proceed", variant="warning")
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#proceed")
    def _proceed(self) -> None:
        self.dismiss(Confirmed())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TypedConfirmModal(ModalScreen[Confirmed | None]):
    """For an irreversible step: type the resource's name and give a reason."""

    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="confirm.cancel",
            tooltip="Do not run this step",
        ),
    ]

    def __init__(self, title: str, message: str, name_to_type: str) -> None:
        super().__init__(classes="confirm irreversible")
        self._title = title
        self._message = message
        self.name_to_type = name_to_type

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Confirm: IRREVERSIBLE"
            yield Label(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self._message, classes="dialog-message")
            yield Label(f"Type [b]{self.name_to_type}[/b] to confirm:")
            yield Input(placeholder=self.name_to_type, id="typed-name", compact=True)
            yield Label("Reason (kept in the journal):")
            yield Input(placeholder="why this is being done", id="reason", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Proceed", id="proceed", variant="error", disabled=True)
                yield Button("Cancel", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Input.Changed)
    def _check(self) -> None:
        self.query_one("#proceed", Button).disabled = not self._complete()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        if self._complete():
            self.query_one("#proceed", Button).focus()
        else:
            self.focus_next()

    def _complete(self) -> bool:
        typed = self.query_one("#typed-name", Input).value.strip()
        reason = self.query_one("#reason", Input).value.strip()
        return typed == self.name_to_type and bool(reason)

    @on(Button.Pressed, "#proceed")
    def _proceed(self) -> None:
        if self._complete():
            self.dismiss(Confirmed(self.query_one("#reason", Input).value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Problem:
    """An error as a person reads it: a title, what happened, what to do."""

    title: str
    message: str
    fix: str = ""

    @classmethod
    def of(cls, error: BaseException) -> Problem:
        """Domain errors carry title/what/why/fix; anything else is shown as is."""
        title = getattr(error, "title", "") or _words(type(error).__name__)
        what = getattr(error, "what", "") or getattr(error, "message", "")
        why = getattr(error, "why", "")
        resource = getattr(error, "resource", "")
        on = f"Resource: {resource}." if resource else ""
        message = " ".join(str(p) for p in (what, why, on) if p) or str(error)
        return cls(str(title), message, str(getattr(error, "fix", "") or ""))


def _words(name: str) -> str:
    """`AccessDenied` -> `Access denied`."""
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return spaced[:1].upper() + spaced[1:]


class ErrorModal(ModalScreen[None]):
    """A failure, shown until the operator acknowledges it."""

    BINDINGS = [
        Binding(
            "escape", "close", "Close", id="error.close", tooltip="Close this message"
        ),
    ]

    def __init__(self, problem: Problem) -> None:
        super().__init__(classes="error")
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Error"
            yield Label(self.problem.title, classes="dialog-title")
            yield Static(self.problem.message, classes="dialog-message")
            if self.problem.fix:
                yield Static(f"What to do: {self.problem.fix}", classes="dialog-fix")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)
