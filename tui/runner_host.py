"""The console's side of the runbook engine: catalogue, plan, run, resume.

The engine is synchronous and calls its confirmer and observers on the
run's own thread. `ConsoleConfirmer` turns a confirmation request into a
modal on the UI thread and blocks the run until the operator answers; the
observer hands each event to the UI thread the same way, so the screen
always shows the step the engine is on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbooks.confirm import (
    Confirmation,
    ConfirmationRequest,
    now_text,
    operator_name,
)
from runbooks.model import Danger, Plan
from runbooks.paths import StateDirs

if TYPE_CHECKING:
    from textual.app import App

    from runbooks.engine import Engine, Runbook, RunResult

# The runbooks and their estate (SDK clients, the Gateway) are loaded on
# first use, off the UI thread at start, so the first frame does not wait.
Loader = Callable[[], tuple[Mapping[str, "Runbook"], object]]


RESUMABLE = {None, "interrupted"}


@dataclass(frozen=True)
class Interrupted:
    """A run whose journal has no end: offered for resumption at start."""

    run_id: str
    runbook: str
    mesh: str
    restore_pending: bool


class RunbookHost:
    """The runbooks of one mesh, the estate they act on, where runs live."""

    def __init__(
        self,
        load: Loader,
        mesh: str,
        dirs: StateDirs,
        operator: str | None = None,
    ) -> None:
        self._load = load
        self._loaded: tuple[dict[str, Runbook], object] | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._runs = 0
        self.mesh = mesh
        self.dirs = dirs
        self.operator = operator or operator_name()

    def _ensure(self) -> tuple[dict[str, Runbook], object]:
        with self._lock:
            if self._loaded is None:
                runbooks, estate = self._load()
                self._loaded = dict(runbooks), estate
            return self._loaded

    @property
    def runbooks(self) -> dict[str, Runbook]:
        return self._ensure()[0]

    @property
    def estate(self) -> object:
        return self._ensure()[1]

    def catalogue(self) -> list[tuple[str, str, str]]:
        """(name, title, what it is for) for each runbook."""
        return [
            (name, r.title, (getattr(r, "__doc__", "") or "").strip().split("\n")[0])
            for name, r in self.runbooks.items()
        ]

    def title_of(self, name: str) -> str:
        return self.runbooks[name].title

    def engine(self, confirmer: Any, observer: Callable[[object], None]) -> Engine:
        from runbooks.engine import Engine

        return Engine(self.dirs, confirmer, [observer], operator=self.operator)

    def plan(self, name: str, parameters: Mapping[str, str]) -> Plan:
        engine = self.engine(None, lambda event: None)
        return engine.plan(self.runbooks[name], self.estate, self.mesh, parameters)

    def run(
        self,
        name: str,
        parameters: Mapping[str, str],
        confirmer: Any,
        observer: Callable[[object], None],
    ) -> RunResult:
        engine = self.engine(confirmer, observer)
        with self._running():
            return engine.run(self.runbooks[name], self.estate, self.mesh, parameters)

    def resume(
        self, run_id: str, confirmer: Any, observer: Callable[[object], None]
    ) -> RunResult:
        from runbooks.engine import load_run

        state = load_run(self.dirs, run_id)
        engine = self.engine(confirmer, observer)
        with self._running():
            return engine.resume(run_id, self.runbooks[state.runbook], self.estate)

    @contextlib.contextmanager
    def _running(self) -> Iterator[None]:
        with self._idle:
            self._runs += 1
        try:
            yield
        finally:
            with self._idle:
                self._runs -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until no run is going (a run left by a closing console still
        restores what it changed); False if one still is after `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._runs == 0, timeout)

    def interrupted(self) -> list[Interrupted]:
        """Runs of this mesh to offer at start, newest first, and before them
        any drill that changed the estate and never put it back."""
        from runbooks.engine import finished_outcome, load_run
        from runbooks.errors import JournalError
        from runbooks.registry import RESTORING

        if not self.dirs.journal.exists():
            return []
        found = []
        for path in sorted(self.dirs.journal.glob("*.jsonl"), reverse=True):
            try:
                outcome = finished_outcome(self.dirs, path.stem)
                state = load_run(self.dirs, path.stem)
            except (JournalError, OSError, ValueError, KeyError):
                continue
            if state.mesh != self.mesh or state.runbook not in self.runbooks:
                continue
            unrestored = state.runbook in RESTORING and state.restore_pending
            # A crash leaves no end record; Ctrl-C leaves "interrupted".
            if outcome in RESUMABLE or unrestored:
                found.append(
                    Interrupted(state.run_id, state.runbook, state.mesh, unrestored)
                )
        return sorted(found, key=lambda run: not run.restore_pending)


class ConsoleConfirmer:
    """Answers the engine's questions with the console's modals."""

    def __init__(self, app: App[Any], operator: str) -> None:
        self.app = app
        self.operator = operator
        self._pending: concurrent.futures.Future[Any] | None = None

    def confirm(self, request: ConfirmationRequest) -> Confirmation:
        answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._pending = answer
        self.app.call_from_thread(self._ask, request, answer)
        confirmed = answer.result()
        self._pending = None
        if confirmed is None:
            return Confirmation(False, self.operator, now_text(), how="console")
        typed = request.name_to_type if request.danger is Danger.IRREVERSIBLE else "yes"
        return Confirmation(
            True,
            self.operator,
            now_text(),
            typed=typed,
            reason=confirmed.reason,
            how="console",
        )

    def abandon(self) -> None:
        """The console is closing: a question nobody will answer is a no."""
        pending = self._pending
        if pending is not None and not pending.done():
            pending.set_result(None)

    def _ask(
        self, request: ConfirmationRequest, answer: concurrent.futures.Future[Any]
    ) -> None:
        from tui.screens.modals import ConfirmModal, TypedConfirmModal

        message = f"{request.why}\n\nCall: {request.operation}\nOn: {request.target}"
        for name, value in request.arguments.items():
            message += f"\n  {name} = {value}"
        if request.danger is Danger.IRREVERSIBLE:
            modal: Any = TypedConfirmModal(request.title, message, request.name_to_type)
        else:
            modal = ConfirmModal(
                request.title, message, "This changes the estate; Cancel stops the run."
            )
        self.app.push_screen(modal, callback=answer.set_result)
