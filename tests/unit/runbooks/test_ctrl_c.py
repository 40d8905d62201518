"""Ctrl-C during a run: the step is marked interrupted, a drill's restore
runs once, a second Ctrl-C stops it, and the run can be resumed."""

from __future__ import annotations

from pathlib import Path

from runbooks.engine import RunContext, unfinished_restores
from runbooks.journal import read
from runbooks.model import Danger, Step
from runbooks.paths import StateDirs
from tests.unit.runbooks.test_engine import Book, Estate, dirs, engine, setter

__all__ = ["dirs"]  # the fixture


def ctrl_c_in_call(name: str) -> Step:
    """A change whose Azure call is interrupted while it waits."""

    def act(ctx: RunContext) -> None:
        def wait() -> None:
            raise KeyboardInterrupt

        ctx.call("fake.wait", name, wait)

    return Step(
        f"wait-{name}", f"Wait {name}", "w", Danger.CHANGE, "fake.wait", name, act
    )


def states(journal: str) -> dict[str, str]:
    return {
        r["step"]: r["state"] for r in read(Path(journal)) if r["type"] == "step_result"
    }


def test_ctrl_c_during_a_call_marks_the_step_interrupted_and_restores_once(
    dirs: StateDirs,
) -> None:
    estate = Estate()
    estate.facts["cut"] = True
    book = Book([ctrl_c_in_call("a"), setter("b")], [setter("cut", False)])

    result = engine(dirs).run(book, estate, "sim")

    assert result.outcome == "interrupted"
    assert states(result.journal) == {"wait-a": "interrupted", "set-cut": "done"}
    assert estate.facts["cut"] is False and "b" not in estate.facts
    assert unfinished_restores(dirs, {"book"}) == []


def test_a_second_ctrl_c_during_the_restore_stops_it_and_the_run_is_interrupted(
    dirs: StateDirs,
) -> None:
    estate = Estate()
    estate.facts["cut"] = True
    book = Book([setter("a")], [ctrl_c_in_call("undo"), setter("cut", False)])

    result = engine(dirs).run(book, estate, "sim")

    assert result.outcome == "interrupted", result.message
    assert "restore incomplete" in result.message
    assert states(result.journal)["wait-undo"] == "interrupted"
    assert estate.facts["cut"] is True  # stopped: the next start restores it
    assert unfinished_restores(dirs, {"book"}) == [result.run_id]


class LookInterrupted(Book):
    """Ctrl-C while the run reads the estate before its first step."""

    def describe_estate(self, ctx: RunContext) -> dict[str, object]:
        raise KeyboardInterrupt


def test_ctrl_c_during_the_first_look_stops_the_run_before_any_step(
    dirs: StateDirs,
) -> None:
    estate = Estate()

    result = engine(dirs).run(LookInterrupted([setter("a")]), estate, "sim")

    assert result.outcome == "interrupted"
    assert estate.actions == []
    assert read(Path(result.journal))[-1]["type"] == "run_finished"
