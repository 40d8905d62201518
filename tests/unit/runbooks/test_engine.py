"""The engine on plain callables: plan, confirm, act, verify, checkpoint,
journal, resume, restore and report, with no network at all."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from runbooks import events
from runbooks.confirm import (
    Confirmation,
    ConfirmationRequest,
    TerminalConfirmer,
    UnattendedConfirmer,
)
from runbooks.engine import Engine, RunContext, load_run, unfinished_restores
from runbooks.errors import StepFailed
from runbooks.journal import read, verify
from runbooks.model import Danger, Step, StepState
from runbooks.paths import StateDirs


class Estate:
    """A dict of facts standing in for Azure, and a log of what changed."""

    def __init__(self) -> None:
        self.facts: dict[str, Any] = {}
        self.actions: list[str] = []


def setter(name: str, value: Any = True, danger: Danger = Danger.CHANGE) -> Step:
    def act(ctx: RunContext) -> None:
        estate = ctx.estate
        assert isinstance(estate, Estate)
        ctx.call("fake.set", name, estate.facts.__setitem__, name, value)
        estate.actions.append(name)
        ctx.remember(f"set_{name}", value)

    def done(ctx: RunContext) -> bool:
        assert isinstance(ctx.estate, Estate)
        return ctx.estate.facts.get(name) == value

    def check(ctx: RunContext) -> None:
        if not done(ctx):
            raise StepFailed("Not set", f"{name} is not {value}", "")

    return Step(
        id=f"set-{name}",
        title=f"Set {name}",
        why=f"{name} must be {value}",
        danger=danger,
        operation="fake.set",
        target=f"/things/{name}",
        action=act,
        is_done=done,
        verify=check,
        arguments=lambda ctx: {"value": value},
    )


class Book:
    name = "book"
    title = "A book of steps"

    def __init__(self, steps: Sequence[Step], restore: Sequence[Step] = ()) -> None:
        self._steps = list(steps)
        self._restore = list(restore)

    def steps(self, ctx: RunContext) -> Sequence[Step]:
        return self._steps

    def restore_steps(self, ctx: RunContext) -> Sequence[Step]:
        return self._restore

    def describe_estate(self, ctx: RunContext) -> Mapping[str, Any]:
        assert isinstance(ctx.estate, Estate)
        return dict(ctx.estate.facts)


@pytest.fixture
def dirs(tmp_path: Path) -> StateDirs:
    return StateDirs(tmp_path).ensure()


def engine(dirs: StateDirs, *observers: Any, yes: bool = True, **kw: Any) -> Engine:
    confirmer = UnattendedConfirmer(yes, operator="alice", **kw)
    return Engine(dirs, confirmer, list(observers), operator="alice")


def test_plan_names_each_call_marks_done_steps_and_changes_nothing(
    dirs: StateDirs,
) -> None:
    estate = Estate()
    estate.facts["a"] = True
    plan = engine(dirs).plan(Book([setter("a"), setter("b")]), estate, "sim")

    assert [(a.step_id, a.done) for a in plan.actions] == [
        ("set-a", True),
        ("set-b", False),
    ]
    assert plan.actions[1].operation == "fake.set"
    assert plan.actions[1].target == "/things/b"
    assert "call: fake.set on /things/b" in plan.render()
    assert estate.actions == []
    assert list(dirs.journal.iterdir()) == []


def test_a_run_acts_in_order_skips_what_is_done_and_leaves_a_valid_journal(
    dirs: StateDirs,
) -> None:
    estate = Estate()
    estate.facts["b"] = True
    seen: list[object] = []
    result = engine(dirs, seen.append).run(
        Book([setter("a"), setter("b"), setter("c")]), estate, "sim"
    )

    assert result.outcome == "succeeded", result.message
    assert estate.actions == ["a", "c"]
    states = [(e.step_id, e.state) for e in seen if isinstance(e, events.StepChanged)]
    assert ("set-b", StepState.SKIPPED) in states
    assert states[-1] == ("set-c", StepState.DONE)
    check = verify(Path(result.journal))
    assert check.ok and check.finished
    kinds = [r["type"] for r in read(Path(result.journal))]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"plan", "confirmation", "sdk_call", "checkpoint"} <= set(kinds)


def test_a_declined_change_stops_the_run_before_it_acts(dirs: StateDirs) -> None:
    estate = Estate()
    result = engine(dirs, yes=False).run(Book([setter("a")]), estate, "sim")

    assert result.outcome == "declined"
    assert "--yes" in result.fix
    assert estate.actions == []


def test_an_irreversible_step_unattended_needs_its_name_on_the_command_line(
    dirs: StateDirs,
) -> None:
    step = setter("purge", danger=Danger.IRREVERSIBLE)
    estate = Estate()
    refused = engine(dirs).run(Book([step]), estate, "sim")
    assert refused.outcome == "declined" and "--confirm purge" in refused.fix
    assert estate.actions == []

    named = engine(dirs, names=["purge"], reason="drill").run(
        Book([step]), estate, "sim"
    )
    assert named.outcome == "succeeded"
    confirmations = [
        r for r in read(Path(named.journal)) if r["type"] == "confirmation"
    ]
    assert confirmations[0]["typed"] == "purge"
    assert confirmations[0]["reason"] == "drill"
    assert confirmations[0]["by"] == "alice"


def test_the_terminal_asks_for_the_name_and_a_reason_when_irreversible() -> None:
    request = ConfirmationRequest(
        "s", "Fail over", "drill", Danger.IRREVERSIBLE, "op", "/x/fog-tde", "fog-tde"
    )
    wrong = iter(["fog", "fog-td", "fog-tdee"])  # three tries, all wrong
    said: list[str] = []
    answer = TerminalConfirmer(lambda _: next(wrong), said.append, "bob").confirm(
        request
    )
    assert not answer.accepted

    right = iter(["fog-tde", "quarterly drill"])
    answer = TerminalConfirmer(lambda _: next(right), said.append, "bob").confirm(
        request
    )
    assert answer.accepted and answer.reason == "quarterly drill"


def test_a_change_at_the_terminal_needs_a_yes() -> None:
    request = ConfirmationRequest("s", "t", "w", Danger.CHANGE, "op", "/x/y", "y")
    answers = {"y": True, "yes": True, "": False, "n": False}
    for typed, accepted in answers.items():
        answer = TerminalConfirmer(lambda _, t=typed: t, lambda _: None).confirm(
            request
        )
        assert answer.accepted is accepted


@pytest.mark.parametrize("edit", ["change", "drop", "swap", "append"])
def test_journal_verify_detects_any_edit(dirs: StateDirs, edit: str) -> None:
    result = engine(dirs).run(Book([setter("a"), setter("b")]), Estate(), "sim")
    path = Path(result.journal)
    lines = path.read_text().splitlines()
    if edit == "change":
        record = json.loads(lines[3])
        record["at"] = "2000-01-01T00:00:00.000+00:00"  # the hash is kept
        lines[3] = json.dumps(record)
    elif edit == "drop":
        del lines[4]
    elif edit == "swap":
        lines[3], lines[4] = lines[4], lines[3]
    else:
        forged = json.loads(lines[-1]) | {"outcome": "succeeded", "seq": len(lines)}
        lines.append(json.dumps(forged))
    path.write_text("\n".join(lines) + "\n")

    assert verify(path).ok is False


def test_secrets_never_reach_the_journal(dirs: StateDirs) -> None:
    def act(ctx: RunContext) -> None:
        ctx.remember("client_secret", "s3cr3t-value")
        ctx.remember("private_key_pem", "-----BEGIN RSA PRIVATE KEY-----abc")
        ctx.call("fake.import", "k", lambda: None)

    step = Step(
        "import",
        "Import",
        "why",
        Danger.CHANGE,
        "keys.import_key",
        "/keys/k",
        action=act,
        arguments=lambda ctx: {"key": {"n": "AQAB", "d": "c2VjcmV0"}, "blob": b"xx"},
    )
    result = engine(dirs).run(Book([step]), Estate(), "sim")
    text = Path(result.journal).read_text()
    assert "s3cr3t-value" not in text
    assert "PRIVATE KEY" not in text
    assert "c2VjcmV0" not in text
    assert "AQAB" in text  # the public part stays readable


def test_retries_are_visible_and_counted(dirs: StateDirs) -> None:
    def act(ctx: RunContext) -> None:
        def flaky() -> str:
            ctx.retried("fake.put", "/x", 1, 3, "429 TooManyRequests", 0.5)
            ctx.request_id("req-123")
            return "ok"

        ctx.call("fake.put", "/x", flaky)

    seen: list[object] = []
    step = Step("put", "Put", "why", Danger.CHANGE, "fake.put", "/x", action=act)
    result = engine(dirs, seen.append).run(Book([step]), Estate(), "sim")

    retried = [e for e in seen if isinstance(e, events.CallRetried)]
    assert retried and retried[0].reason == "429 TooManyRequests"
    call = [r for r in read(Path(result.journal)) if r["type"] == "sdk_call"][0]
    assert call["attempts"] == 2 and call["request_id"] == "req-123"


def interrupt_after(step_id: str) -> Any:
    fired = []

    def observer(event: object) -> None:
        if (
            isinstance(event, events.CallFinished)
            and event.step_id == step_id
            and not fired
        ):
            fired.append(event)
            raise KeyboardInterrupt

    return observer


def test_an_interrupted_run_resumes_without_doing_anything_twice(
    dirs: StateDirs,
) -> None:
    estate = Estate()
    book = Book([setter("a"), setter("b"), setter("c")])
    first = engine(dirs, interrupt_after("set-b")).run(book, estate, "sim")
    # Killed after b's call returned, before its checkpoint was written.
    assert first.outcome == "interrupted"
    assert estate.actions == ["a"] and estate.facts["b"] is True

    second = engine(dirs).resume(first.run_id, book, estate)

    assert second.outcome == "succeeded", second.message
    assert estate.actions == ["a", "c"]
    assert verify(Path(second.journal)).ok
    results = [
        (r["step"], r["state"], r.get("detail", ""))
        for r in read(Path(second.journal))
        if r["type"] == "step_result"
    ]
    assert ("set-a", "skipped", "done in an earlier attempt (checkpoint)") in results
    assert ("set-b", "skipped", "already in place") in results


def test_a_resumed_run_keeps_the_values_earlier_steps_remembered(
    dirs: StateDirs,
) -> None:
    book = Book([setter("a", "v1"), setter("b")])
    first = engine(dirs, interrupt_after("set-b")).run(book, Estate(), "sim")
    assert load_run(dirs, first.run_id).values["set_a"] == "v1"


def test_restore_steps_run_after_a_failure_and_after_an_interruption(
    dirs: StateDirs,
) -> None:
    def broken(ctx: RunContext) -> None:
        raise StepFailed("Broken", "it broke", "")

    failing = Step("boom", "Boom", "w", Danger.CHANGE, "fake.boom", "/x", broken)
    undo = setter("cut", False)
    estate = Estate()
    estate.facts["cut"] = True
    result = engine(dirs).run(Book([failing], [undo]), estate, "sim")
    assert result.outcome == "failed"
    assert estate.facts["cut"] is False

    estate.facts["cut"] = True
    book = Book([setter("a")], [undo])
    result = engine(dirs, interrupt_after("set-a")).run(book, estate, "sim")
    assert result.outcome == "interrupted"
    assert estate.facts["cut"] is False


def test_a_killed_drill_is_found_and_restored_on_the_next_start(
    dirs: StateDirs,
) -> None:
    def killer(event: object) -> None:
        if isinstance(event, events.CallFinished):
            raise SystemExit("killed")

    estate = Estate()
    estate.facts["cut"] = True
    book = Book([setter("a")], [setter("cut", False)])
    with pytest.raises(SystemExit):
        engine(dirs, killer).run(book, estate, "sim", run_id="killed-run")
    assert unfinished_restores(dirs, {"book"}) == ["killed-run"]

    result = engine(dirs).resume("killed-run", book, estate, restore_only=True)
    assert estate.facts["cut"] is False
    assert result.outcome == "succeeded"
    assert unfinished_restores(dirs, {"book"}) == []


def test_the_report_says_what_was_done_by_whom_and_how_long(dirs: StateDirs) -> None:
    result = engine(dirs).run(Book([setter("a")]), Estate(), "sim")
    md = Path(result.reports[0]).read_text()
    data = json.loads(Path(result.reports[1]).read_text())

    assert "Set a" in md and "alice" in md and "chain verified" in md
    assert data["steps"][0]["state"] == "done"
    assert data["steps"][0]["duration_seconds"] is not None
    assert data["estate_before"] == {} and data["estate_after"] == {"a": True}


class RecordingConfirmer:
    def __init__(self) -> None:
        self.asked: list[ConfirmationRequest] = []

    def confirm(self, request: ConfirmationRequest) -> Confirmation:
        self.asked.append(request)
        return Confirmation(True, "tester", "now")


def test_reads_need_no_confirmation_changes_do(dirs: StateDirs) -> None:
    confirmer = RecordingConfirmer()
    look = Step("look", "Look", "w", Danger.READ, "fake.get", "/x")
    Engine(dirs, confirmer).run(Book([look, setter("a")]), Estate(), "sim")
    assert [r.step_id for r in confirmer.asked] == ["set-a"]
