"""The runbook engine: plan, then for each step check, confirm, act, verify,
checkpoint and journal; restore what a drill changed, always; report.

The engine knows nothing about Azure or Textual. A runbook hands it steps;
the steps reach Azure through whatever `estate` the caller put in the
context (the mesh Gateway in production and in the simulator alike). The
console, the terminal and tests watch a run through observers and answer
its questions through a `Confirmer`.

Checkpoints live in the journal itself, so a run has one file: a resumed
run reads which steps finished, with the values they produced, and goes on
appending to the same chain. Read steps are never skipped on resume: they
are the preconditions, and they are checked again.
"""

from __future__ import annotations

import logging
import platform
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from runbooks import events
from runbooks.confirm import Confirmer, operator_name, request_for
from runbooks.errors import (
    JournalError,
    NotConfirmed,
    Refused,
    RunbookError,
    StepFailed,
)
from runbooks.journal import Journal, read
from runbooks.model import Action, Plan, Step, StepState
from runbooks.parameters import check as check_parameters
from runbooks.paths import StateDirs, new_run_id
from runbooks.report import write_reports

T = TypeVar("T")
log = logging.getLogger("tdemesh.runbooks")


def _version() -> str:
    try:
        from tdemesh import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - runbooks used without the CLI
        return "unknown"


class Runbook(Protocol):
    """What the engine needs from a runbook module."""

    name: str
    title: str

    def steps(self, ctx: RunContext) -> Sequence[Step]: ...

    def restore_steps(self, ctx: RunContext) -> Sequence[Step]: ...

    def describe_estate(self, ctx: RunContext) -> Mapping[str, Any]: ...


class RunContext:
    """What a step sees: the estate, the run's parameters, values earlier
    steps remembered, and the means to call, log and be observed."""

    def __init__(
        self,
        run_id: str,
        mesh: str,
        estate: object,
        parameters: Mapping[str, str],
        emit: Callable[[object], None],
        journal: Journal | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.mesh = mesh
        self.estate = estate
        self.parameters = dict(parameters)
        self.values: dict[str, Any] = dict(values or {})
        self.step_id = ""
        self._emit = emit
        self._journal = journal
        self._attempts = 0
        self._request_id: str | None = None
        self._produced: dict[str, Any] = {}

    # -- values ------------------------------------------------------------

    def remember(self, name: str, value: Any) -> None:
        """Keep a value for later steps and for a resumed run (journaled)."""
        self.values[name] = value
        self._produced[name] = value

    def take_produced(self) -> dict[str, Any]:
        produced, self._produced = self._produced, {}
        return produced

    # -- calls -------------------------------------------------------------

    def call(
        self, operation: str, resource: str, fn: Callable[..., T], *args: Any
    ) -> T:
        """Run one SDK call (through the gateway), observed and journaled."""
        self._emit(events.CallStarted(self.run_id, self.step_id, operation, resource))
        self._attempts, self._request_id = 1, None
        started = time.monotonic()
        outcome = "ok"
        try:
            return fn(*args)
        except BaseException as error:
            outcome = _short_error(error)
            raise
        finally:
            self._finish_call(operation, resource, outcome, started)

    def _finish_call(
        self, operation: str, resource: str, outcome: str, started: float
    ) -> None:
        duration = round(time.monotonic() - started, 3)
        if self._journal is not None:
            self._journal.append(
                "sdk_call",
                step=self.step_id,
                operation=operation,
                resource=resource,
                outcome=outcome,
                request_id=self._request_id,
                duration_seconds=duration,
                attempts=self._attempts,
            )
        self._emit(
            events.CallFinished(
                self.run_id,
                self.step_id,
                operation,
                resource,
                outcome,
                duration,
                self._attempts,
                self._request_id,
            )
        )

    def retried(
        self,
        operation: str,
        resource: str,
        attempt: int,
        max_attempts: int,
        reason: str,
        wait_seconds: float,
    ) -> None:
        """The gateway's retry observer reports here; the next try is
        `attempt + 1`."""
        self._attempts = max(self._attempts, attempt + 1)
        self._emit(
            events.CallRetried(
                self.run_id,
                self.step_id,
                operation,
                resource,
                attempt,
                max_attempts,
                reason,
                wait_seconds,
            )
        )

    def request_id(self, value: str | None) -> None:
        if value:
            self._request_id = value

    def log(self, text: str, level: str = "info") -> None:
        if self._journal is not None and level != "info":
            self._journal.append("log", step=self.step_id, level=level, text=text)
        self._emit(events.LogLine(self.run_id, text, level, self.step_id or None))


def _short_error(error: BaseException) -> str:
    if isinstance(error, RunbookError):
        return f"{type(error).__name__}: {error.title}"
    code = getattr(getattr(error, "error", None), "code", None)
    status = getattr(error, "status_code", None)
    parts = [type(error).__name__]
    if status:
        parts.append(str(status))
    if code:
        parts.append(str(code))
    return " ".join(parts)


def _fix_of(error: BaseException) -> str:
    fix = getattr(error, "fix", "")
    return str(fix) if fix else ""


def _for_people(error: BaseException) -> str:
    """What happened, to what, and the fix: domain errors (ours, and the
    Gateway's, which carry `what`, `resource` and `fix`) in their words."""
    if isinstance(error, RunbookError):
        return error.for_people()
    what = getattr(error, "what", None)
    if what and _fix_of(error):
        resource = getattr(error, "resource", "")
        return f"{what}\n  resource: {resource}\n  What to do: {_fix_of(error)}"
    return f"unexpected error: {_short_error(error)}"


@dataclass(frozen=True)
class RunResult:
    run_id: str
    outcome: str  # succeeded | failed | interrupted | refused | declined | planned
    message: str = ""
    fix: str = ""
    journal: str = ""
    reports: tuple[str, ...] = ()
    plan: Plan | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in {"succeeded", "planned"}


@dataclass(frozen=True)
class _Resumed:
    run_id: str
    runbook: str
    mesh: str
    parameters: Mapping[str, str]
    checkpointed: frozenset[str]
    values: Mapping[str, Any]
    restore_pending: bool


class Engine:
    """Runs runbooks: one engine per front end, one run at a time."""

    def __init__(
        self,
        dirs: StateDirs,
        confirmer: Confirmer,
        observers: Sequence[Callable[[object], None]] = (),
        operator: str | None = None,
    ) -> None:
        self.dirs = dirs
        self.confirmer = confirmer
        self.observers = list(observers)
        self.operator = operator or operator_name()

    def emit(self, event: object) -> None:
        line = events.render(event)
        if line is not None and not isinstance(event, events.PlanReady):
            log.info("%s", line.strip())
        for observer in self.observers:
            observer(event)

    # -- planning ----------------------------------------------------------

    def plan(
        self,
        runbook: Runbook,
        estate: object,
        mesh: str,
        parameters: Mapping[str, str] | None = None,
    ) -> Plan:
        """The ordered actions, with what is already done marked; changes
        nothing and writes no journal."""
        check_parameters(runbook.name, parameters or {})
        ctx = RunContext("plan", mesh, estate, parameters or {}, self.emit)
        return self._plan(runbook, ctx, frozenset())

    def _plan(
        self, runbook: Runbook, ctx: RunContext, checkpointed: frozenset[str]
    ) -> Plan:
        actions = [
            _action(s, ctx, checkpointed, restore=False) for s in runbook.steps(ctx)
        ]
        actions += [
            _action(s, ctx, frozenset(), restore=True)
            for s in runbook.restore_steps(ctx)
        ]
        return Plan(runbook.name, ctx.mesh, tuple(actions), dict(ctx.parameters))

    # -- running -----------------------------------------------------------

    def run(
        self,
        runbook: Runbook,
        estate: object,
        mesh: str,
        parameters: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        check_parameters(runbook.name, parameters or {})  # before any journal
        run_id = run_id or new_run_id(runbook.name)
        journal = Journal(self.dirs.ensure().journal_file(run_id), run_id)
        journal.append(
            "run_started",
            operator=self.operator,
            host=platform.node(),
            mesh=mesh,
            runbook=runbook.name,
            version=_version(),
            parameters=dict(parameters or {}),
        )
        ctx = RunContext(run_id, mesh, estate, parameters or {}, self.emit, journal)
        self.emit(events.RunStarted(run_id, runbook.name, mesh, resumed=False))
        return self._execute(runbook, ctx, journal, frozenset(), restore_only=False)

    def resume(
        self, run_id: str, runbook: Runbook, estate: object, restore_only: bool = False
    ) -> RunResult:
        """Go on with an interrupted run: same journal, finished steps skipped,
        preconditions (read steps) checked again."""
        state = load_run(self.dirs, run_id)
        if state.runbook != runbook.name:
            raise JournalError(
                "Wrong runbook",
                f"run {run_id} is a {state.runbook} run, not {runbook.name}",
                f"Resume it with `tdemesh run {state.runbook} --resume {run_id}`.",
            )
        journal = Journal(self.dirs.journal_file(run_id), run_id)
        journal.append("run_resumed", operator=self.operator, host=platform.node())
        ctx = RunContext(
            run_id,
            state.mesh,
            estate,
            state.parameters,
            self.emit,
            journal,
            state.values,
        )
        self.emit(events.RunStarted(run_id, runbook.name, state.mesh, resumed=True))
        return self._execute(
            runbook, ctx, journal, state.checkpointed, restore_only=restore_only
        )

    def _execute(
        self,
        runbook: Runbook,
        ctx: RunContext,
        journal: Journal,
        checkpointed: frozenset[str],
        restore_only: bool,
    ) -> RunResult:
        outcome, message, fix = "succeeded", "", ""
        plan: Plan | None = None
        interrupted: BaseException | None = None
        try:
            self._record_estate(runbook, ctx, journal, "before")
            plan = self._plan(runbook, ctx, checkpointed)
            journal.append("plan", **plan.as_json())
            ctx.step_id = "plan"
            self._keep_values(ctx, journal)
            self.emit(events.PlanReady(ctx.run_id, plan))
            if not restore_only:
                for step in runbook.steps(ctx):
                    self._run_step(ctx, journal, step, checkpointed)
        except Refused as error:
            outcome, message, fix = "refused", error.for_people(), error.fix
        except NotConfirmed as error:
            outcome, message, fix = "declined", error.for_people(), error.fix
        except RunbookError as error:
            outcome, message, fix = "failed", error.for_people(), error.fix
        except KeyboardInterrupt as error:
            outcome, message = "interrupted", "interrupted by the operator"
            interrupted = error
        except Exception as error:
            outcome, message, fix = "failed", _for_people(error), _fix_of(error)
            if not fix:
                ctx.log(f"{message}\n{traceback.format_exc(limit=3)}", "error")
        restore_outcome, stopped = self._restore(runbook, ctx, journal, interrupted)
        if restore_outcome and outcome == "succeeded":
            outcome, message = "failed", restore_outcome
        elif restore_outcome:
            message = f"{message}; {restore_outcome}"
        if stopped:  # Ctrl-C during the restore: resumable, like any other
            outcome = "interrupted"
        self._record_estate(runbook, ctx, journal, "after")
        journal.append("run_finished", outcome=outcome, message=message)
        reports = write_reports(self.dirs, ctx.run_id)
        self.emit(events.RunFinished(ctx.run_id, outcome, message, reports))
        return RunResult(
            ctx.run_id,
            outcome,
            message,
            fix,
            str(journal.path),
            reports,
            plan,
            dict(ctx.values),
        )

    def _record_estate(
        self, runbook: Runbook, ctx: RunContext, journal: Journal, when: str
    ) -> None:
        ctx.step_id = ""
        try:
            state = dict(runbook.describe_estate(ctx))
        except Exception as error:  # a failed look must not stop a restore
            state = {"unavailable": _short_error(error)}
        except KeyboardInterrupt as error:
            if when == "before":  # the run has not begun: stop it here
                journal.append("estate", when=when, state={"unavailable": "Ctrl-C"})
                raise
            # At the end, Ctrl-C must not cost the journal its last record.
            state = {"unavailable": _short_error(error)}
        journal.append("estate", when=when, state=state)

    def _restore(
        self,
        runbook: Runbook,
        ctx: RunContext,
        journal: Journal,
        interrupted: BaseException | None,
    ) -> tuple[str, bool]:
        """Undo what the run changed; every restore step is tried, even when
        one fails. A Ctrl-C before the restore does not stop it (it runs
        once); a Ctrl-C during it stops it, and the run is then interrupted
        and resumable (the next start restores it first).
        Restore steps ask no confirmation: consent to the drill was consent
        to putting the estate back, and a "no" must not leave a path cut.
        Returns what went wrong, if anything, and whether a Ctrl-C stopped it."""
        try:
            steps = list(runbook.restore_steps(ctx))
        except KeyboardInterrupt:
            return "restore interrupted before it began", True
        except Exception as error:
            return f"restore not possible: {_short_error(error)}", False
        if not steps:
            return "", False
        failures: list[str] = []
        stopped = False
        for step in steps:
            try:
                self._run_step(ctx, journal, step, frozenset(), restoring=True)
            except KeyboardInterrupt:
                failures.append(f"{step.title}: interrupted")
                stopped = True
                break
            except Exception as error:
                failures.append(f"{step.title}: {_short_error(error)}")
        if failures:
            return "restore incomplete (" + "; ".join(failures) + ")", stopped
        journal.append("restore_finished")
        if interrupted is not None:
            ctx.log("restored after the interruption")
        return "", False

    def _run_step(
        self,
        ctx: RunContext,
        journal: Journal,
        step: Step,
        checkpointed: frozenset[str],
        restoring: bool = False,
    ) -> None:
        ctx.step_id = step.id
        if step.mutates and step.id in checkpointed:
            self._skip(ctx, journal, step, "done in an earlier attempt (checkpoint)")
            return
        self.emit(
            events.StepChanged(ctx.run_id, step.id, step.title, StepState.RUNNING)
        )
        if step.mutates and step.is_done(ctx):
            why = step.done_detail or (
                "nothing to undo" if restoring else "already in place"
            )
            self._skip(ctx, journal, step, why)
            journal.append("checkpoint", step=step.id, values={})
            return
        if step.mutates and not restoring:
            self._confirm(ctx, journal, step)
        started = time.monotonic()
        journal.append("step_started", step=step.id, title=step.title)
        try:
            step.action(ctx)
            step.verify(ctx)
        except BaseException as error:
            self._fail(ctx, journal, step, error, started)
            raise
        duration = round(time.monotonic() - started, 3)
        if step.mutates:
            journal.append("checkpoint", step=step.id, values=ctx.take_produced())
        else:
            self._keep_values(ctx, journal)
        journal.append(
            "step_result", step=step.id, state="done", duration_seconds=duration
        )
        self.emit(events.StepChanged(ctx.run_id, step.id, step.title, StepState.DONE))

    def _keep_values(self, ctx: RunContext, journal: Journal) -> None:
        """Values learnt outside a mutating step (roles, key URIs) are kept
        too, so a resumed run sees what the first attempt saw."""
        produced = ctx.take_produced()
        if produced:
            journal.append("values", step=ctx.step_id, values=produced)

    def _skip(self, ctx: RunContext, journal: Journal, step: Step, why: str) -> None:
        journal.append("step_result", step=step.id, state="skipped", detail=why)
        self.emit(
            events.StepChanged(ctx.run_id, step.id, step.title, StepState.SKIPPED, why)
        )

    def _fail(
        self,
        ctx: RunContext,
        journal: Journal,
        step: Step,
        error: BaseException,
        started: float,
    ) -> None:
        stopped = isinstance(error, KeyboardInterrupt)
        detail = "interrupted by the operator" if stopped else _for_people(error)
        journal.append(
            "step_result",
            step=step.id,
            state="interrupted" if stopped else "failed",
            detail=detail,
            duration_seconds=round(time.monotonic() - started, 3),
        )
        self.emit(
            events.StepChanged(
                ctx.run_id, step.id, step.title, StepState.FAILED, detail
            )
        )

    def _confirm(self, ctx: RunContext, journal: Journal, step: Step) -> None:
        unknown: Mapping[str, object] = {}
        request = request_for(step, _safely(step.arguments, ctx, unknown))
        self.emit(
            events.ConfirmationAsked(
                ctx.run_id, step.id, step.danger, request.name_to_type
            )
        )
        answer = self.confirmer.confirm(request)
        journal.append(
            "confirmation",
            step=step.id,
            danger=step.danger.value,
            accepted=answer.accepted,
            by=answer.by,
            when=answer.at,
            typed=answer.typed,
            reason=answer.reason,
            how=answer.how,
        )
        if not answer.accepted:
            needed = (
                f"type {step.name_to_type!r} and give a reason, or pass "
                f"--confirm {step.name_to_type} on the command line"
                if step.danger.value == "irreversible"
                else "answer yes, or pass --yes"
            )
            raise NotConfirmed(
                "Declined",
                f"the step {step.title!r} on {step.target} was declined; "
                "nothing was changed by it",
                f"To go ahead, {needed}; then resume the run.",
            )


def _action(
    step: Step, ctx: RunContext, checkpointed: frozenset[str], restore: bool
) -> Action:
    ctx.step_id = step.id
    if step.mutates and step.id in checkpointed:
        done = True
    elif step.mutates and not restore:
        done = _safely(step.is_done, ctx, False)
    else:
        done = False
    unknown: Mapping[str, object] = {"arguments": "(not known yet)"}
    arguments = _safely(step.arguments, ctx, unknown)
    return Action(
        step.id,
        step.title,
        step.why,
        step.danger,
        step.operation,
        step.target,
        dict(arguments),
        done,
        restore,
    )


def _safely(fn: Callable[[RunContext], T], ctx: RunContext, fallback: T) -> T:
    """Planning must not fail because a later step's inputs do not exist
    yet; StepFailed/Refused from a check still mean 'not done'."""
    try:
        return fn(ctx)
    except (RunbookError, LookupError, ValueError):
        return fallback


def load_run(dirs: StateDirs, run_id: str) -> _Resumed:
    """What a resumed run needs, read back from its journal."""
    from runbooks.journal import check_chain

    records = read(dirs.journal_file(run_id))
    problems = check_chain(records)
    if problems:
        raise JournalError(
            "The journal was changed",
            f"run {run_id}: {problems[0]}",
            "A run whose journal fails verification cannot be resumed.",
        )
    if not records or records[0]["type"] != "run_started":
        raise JournalError("Not a run", f"{run_id} has no start record", "")
    start = records[0]
    checkpointed: set[str] = set()
    values: dict[str, Any] = {}
    restore_pending = False
    for record in records:
        if record["type"] == "checkpoint":
            checkpointed.add(str(record["step"]))
            values.update(record.get("values") or {})
        elif record["type"] == "values":
            values.update(record.get("values") or {})
        elif record["type"] == "step_started":
            restore_pending = True
        elif record["type"] == "restore_finished":
            restore_pending = False
    return _Resumed(
        run_id,
        str(start["runbook"]),
        str(start["mesh"]),
        dict(start.get("parameters") or {}),
        frozenset(checkpointed),
        values,
        restore_pending,
    )


def finished_outcome(dirs: StateDirs, run_id: str) -> str | None:
    """The outcome of a run's last attempt, or None while it never ended."""
    records = read(dirs.journal_file(run_id))
    last = records[-1] if records else {}
    return str(last["outcome"]) if last.get("type") == "run_finished" else None


def unfinished_restores(dirs: StateDirs, runbooks_with_restore: set[str]) -> list[str]:
    """Runs of drills that changed the estate and never put it back (a crash,
    a kill): the next start restores them first."""
    found = []
    for path in sorted(dirs.journal.glob("*.jsonl")):
        try:
            state = load_run(dirs, path.stem)
        except JournalError:
            continue
        if state.runbook in runbooks_with_restore and state.restore_pending:
            found.append(state.run_id)
    return found


__all__ = [
    "Engine",
    "RunContext",
    "RunResult",
    "Runbook",
    "StepFailed",
    "load_run",
    "unfinished_restores",
]
