"""Answering at the terminal: Ctrl-C at a confirmation prompt is an
interruption of the run, not an unexpected error."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from runbooks.confirm import TerminalConfirmer
from runbooks.engine import Engine
from runbooks.paths import StateDirs
from tdemesh.cli_runbooks import _ask
from tests.unit.runbooks.test_engine import Book, Estate, setter


def ctrl_c_at_the_prompt(*args: object, **kwargs: object) -> str:
    raise click.exceptions.Abort  # what click.prompt raises on Ctrl-C


def test_ctrl_c_at_the_prompt_is_a_keyboard_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(click, "prompt", ctrl_c_at_the_prompt)
    with pytest.raises(KeyboardInterrupt):
        _ask("Go ahead? [y/N] ")


def test_the_end_of_input_at_the_prompt_is_a_keyboard_interrupt() -> None:
    with CliRunner().isolation(input=""), pytest.raises(KeyboardInterrupt):
        _ask("Go ahead? [y/N] ")


def test_a_run_stopped_at_the_prompt_is_interrupted_and_changed_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(click, "prompt", ctrl_c_at_the_prompt)
    estate = Estate()
    confirmer = TerminalConfirmer(ask=_ask, say=lambda _: None, operator="alice")
    engine = Engine(StateDirs(tmp_path).ensure(), confirmer, operator="alice")

    result = engine.run(Book([setter("a")]), estate, "sim")

    assert result.outcome == "interrupted", result.message
    assert estate.actions == []
