"""Placeholder: the runbook runner (being written)."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.screen import Screen


class RunnerScreen(Screen[None]):
    BINDINGS: list[Binding] = []


def open_runner(app: Any, name: str | None) -> None:
    app.notify("runner not ready")
