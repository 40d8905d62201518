"""The runbook runner: choose, read the plan, run it, watch every step.

The plan comes from the engine (nothing is changed by planning). A run
happens on a thread worker; the engine's events reach this screen on the
UI thread, one at a time and in order, so the step table, the call in
progress, retries and the log always match what the engine is doing.
Confirmations are modals pushed by `ConsoleConfirmer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    DataTable,
    Footer,
    Input,
    Label,
    MarkdownViewer,
    OptionList,
    RichLog,
    Static,
)
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from runbooks import events
from runbooks.engine import RunResult
from runbooks.model import Action, Danger, Plan, StepState
from tui.runner_host import ConsoleConfirmer, Interrupted, RunbookHost
from tui.screens.modals import ConfirmModal, Problem
from tui.widgets.header import WhereBar
from tui.widgets.marks import BAD, DIM, GOOD, WARN, coloured

if TYPE_CHECKING:
    from tui.app import ConsoleApp

# Table cells are Rich text, so these are Rich styles; each is also a word.
STATE_MARK = {
    StepState.PENDING: ("· pending", "dim"),
    StepState.RUNNING: ("▶ running", "bold yellow"),
    StepState.DONE: ("✓ done", "green"),
    StepState.SKIPPED: ("↷ skipped", "dim"),
    StepState.FAILED: ("✗ FAILED", "bold red"),
}
DANGER_WORD = {
    Danger.READ: ("read", "dim"),
    Danger.CHANGE: ("change", "yellow"),
    Danger.IRREVERSIBLE: ("IRREVERSIBLE", "bold red"),
}
DANGER_MARKUP = {Danger.READ: DIM, Danger.CHANGE: WARN, Danger.IRREVERSIBLE: BAD}
LEVEL_STYLE = {"warning": "yellow", "error": "bold red"}
OUTCOME_COLOUR = {"succeeded": GOOD, "planned": GOOD, "declined": WARN}


def parse_parameters(text: str) -> dict[str, str]:
    """`vault=centralus second_path=yes` -> {"vault": "centralus", ...}."""
    found: dict[str, str] = {}
    for word in text.split():
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise ValueError(f"{word!r} is not name=value")
        found[name] = value
    return found


class RunbookChooser(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="chooser.close", tooltip="Close"),
    ]

    def __init__(self, catalogue: list[tuple[str, str, str]]) -> None:
        super().__init__(classes="chooser")
        self.catalogue = catalogue

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Runbooks"
            yield Label("Choose a runbook to read its plan; nothing runs yet.")
            yield OptionList(
                *[Option(title, id=name) for name, title, _ in self.catalogue],
                id="runbook-list",
            )

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


class ReportScreen(ModalScreen[None]):
    """A run's Markdown report, as written next to its journal."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="report.close", tooltip="Close"),
    ]

    def __init__(self, path: str, text: str) -> None:
        super().__init__(classes="report")
        self.path = path
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Report"
            dialog.border_subtitle = self.path
            yield MarkdownViewer(self.text, show_table_of_contents=False)

    def action_close(self) -> None:
        self.dismiss(None)


class RunnerScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "ctrl+r",
            "run",
            "Run",
            id="runner.run",
            tooltip="Run the plan (writes must be armed; each change still asks)",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            id="runner.back",
            tooltip="Back to the mesh view (not while a run is going)",
        ),
        Binding(
            "ctrl+o",
            "report",
            "Report",
            id="runner.report",
            tooltip="Read the run's report (Markdown, also saved beside the journal)",
        ),
        Binding(
            "ctrl+l",
            "replan",
            "Re-plan",
            id="runner.replan",
            tooltip="Plan again with the parameters as typed",
        ),
    ]

    def __init__(
        self,
        host: RunbookHost,
        runbook: str,
        resume: str | None = None,
    ) -> None:
        super().__init__(id="runner-screen")
        self.host = host
        self.runbook = runbook
        self.resume_run = resume
        self.plan: Plan | None = None
        self.running = False
        self.result: RunResult | None = None
        self.states: dict[str, StepState] = {}
        self.retries = 0
        self.confirmer: ConsoleConfirmer | None = None

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield WhereBar(self.console.session.where, armed=self.console.armed)
        verb = "Resume" if self.resume_run else "Runbook"
        title = f"{verb}: {self.host.title_of(self.runbook)}"
        yield Label(escape(title), id="runner-title")
        yield Input(
            placeholder="name=value … (`tdemesh run --help`); Enter re-plans",
            id="runner-params",
            disabled=self.resume_run is not None,
            compact=True,
        )
        with Horizontal(id="runner-body"):
            table: DataTable[str] = DataTable(id="runner-steps", cursor_type="row")
            table.border_title = "Plan"
            yield table
            with Vertical(id="runner-side"):
                yield Static("reading the plan…", id="runner-call")
                log = RichLog(id="runner-log", wrap=True, markup=False, min_width=20)
                log.border_title = "Log"
                yield log
                report = Static("", id="runner-report")
                report.border_title = "Report"
                report.display = False
                yield report
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runner-call", Static).border_title = "Now"
        self.query_one("#runner-steps", DataTable).focus()
        if self.resume_run:
            self.say(f"Run {self.resume_run} was interrupted; Run resumes it.")
            self.query_one("#runner-call", Static).update(
                "Resuming re-checks every precondition, skips finished steps, "
                "and asks again before each change."
            )
        else:
            self.action_replan()

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in {"run", "replan"}:
            return None if self.running or self.result else True
        if action == "report":
            return self.report_path() is not None
        if action == "back":
            return not self.running
        return True

    # -- planning ------------------------------------------------------------

    def action_replan(self) -> None:
        try:
            parameters = self.parameters()
        except ValueError as error:
            self.console.show_error(
                Problem("Parameters not understood", str(error), "Write name=value")
            )
            return
        self.query_one("#runner-call", Static).update("reading the plan…")
        self._plan(parameters)

    @on(Input.Submitted, "#runner-params")
    def _params_entered(self) -> None:
        self.action_replan()

    def parameters(self) -> dict[str, str]:
        return parse_parameters(self.query_one("#runner-params", Input).value)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _plan(self, parameters: Mapping[str, str]) -> Plan:
        return self.host.plan(self.runbook, parameters)

    def show_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.states = {}
        for action in plan.actions:
            state = StepState.SKIPPED if action.done else StepState.PENDING
            self.states[self._key(action)] = state
        self._fill_table()
        to_do = len(plan.to_do)
        self.query_one("#runner-call", Static).update(
            f"{len(plan.actions)} steps, {to_do} to do. Select a step to read why "
            "and the call it makes. ctrl+r runs; every change asks first."
        )

    def _fill_table(self) -> None:
        """The plan as rows; step titles wrap to the table's width, so a
        narrow terminal shows every word of them."""
        if self.plan is None:
            return
        table = self.query_one("#runner-steps", DataTable)
        table.clear(columns=True)
        # Fixed columns and their padding (2 each), and room for a scrollbar.
        title_width = max(20, table.content_region.width - 3 - 9 - 12 - 8 - 2)
        table.add_column("#", width=3)
        table.add_column("State", width=9)
        table.add_column("Danger", width=12)
        table.add_column("Step", width=title_width)
        for number, (key, action) in enumerate(
            zip(self.states, self.plan.actions, strict=True), start=1
        ):
            label = "↺" if action.restore else str(number)
            danger, style = DANGER_WORD[action.danger]
            title = action.title + (" (already done)" if action.done else "")
            if action.restore:
                title = f"Restore: {title}"
            table.add_row(
                label,
                self._state_cell(self.states[key]),
                Text(danger, style=style),
                Text(title),
                key=key,
                height=None,
            )

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_table)

    def _key(self, action: Action) -> str:
        base = f"restore:{action.step_id}" if action.restore else action.step_id
        key, n = base, 2
        while key in self.states:
            key, n = f"{base}#{n}", n + 1
        return key

    def _state_cell(self, state: StepState) -> Text:
        word, style = STATE_MARK[state]
        return Text(word, style=style)

    @on(DataTable.RowHighlighted, "#runner-steps")
    def _step_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.running or self.plan is None or event.row_key.value is None:
            return
        action = self._action_of(event.row_key.value)
        if action is not None:
            self.query_one("#runner-call", Static).update(action_detail(action))

    def _action_of(self, key: str) -> Action | None:
        for action in self.plan.actions if self.plan else ():
            if self._base(key) == self._base(self._plain_key(action)):
                return action
        return None

    @staticmethod
    def _plain_key(action: Action) -> str:
        return f"restore:{action.step_id}" if action.restore else action.step_id

    @staticmethod
    def _base(key: str) -> str:
        return key.split("#", 1)[0]

    # -- running -------------------------------------------------------------

    def action_run(self) -> None:
        if self.running or self.result is not None:
            return
        if not self.console.armed:
            self.console.show_error(
                Problem(
                    "Write actions are not armed",
                    "This console is read-only, so a runbook cannot change "
                    f"{self.console.session.where.place}.",
                    "Press ctrl+a to arm write actions, then run again.",
                )
            )
            return
        parameters = {} if self.resume_run else self.parameters()
        self.running = True
        self.query_one("#runner-params", Input).disabled = True
        self.refresh_bindings()
        self.confirmer = ConsoleConfirmer(self.app, self.host.operator)
        self._run(parameters, self.confirmer)

    @work(thread=True, exclusive=True, group="run", exit_on_error=False)
    def _run(
        self, parameters: Mapping[str, str], confirmer: ConsoleConfirmer
    ) -> RunResult:
        def observe(event: object) -> None:
            # If the console is gone the run must still finish (and restore):
            # an observer that raised would stop the engine there.
            if self.app.is_running:
                with contextlib.suppress(RuntimeError):
                    self.app.call_from_thread(self.on_run_event, event)

        if self.resume_run:
            return self.host.resume(self.resume_run, confirmer, observe)
        return self.host.run(self.runbook, parameters, confirmer, observe)

    def on_run_event(self, event: object) -> None:
        match event:
            case events.PlanReady(plan=plan):
                self.show_plan(plan)
            case events.StepChanged(step_id=step_id, state=state, detail=detail):
                self.set_step(step_id, state)
                if state is StepState.FAILED:
                    self.say(f"failed: {detail}", "bold red")
                elif detail:
                    self.say(detail, "dim")
            case events.CallStarted(operation=operation, resource=resource):
                self.show_call(
                    f"[b]Calling[/b] {escape(operation)}\non {escape(resource)}"
                )
            case events.CallRetried() as retried:
                self.retries += 1
                text = (
                    f"retry {retried.attempt} of {retried.max_attempts} in "
                    f"{retried.wait_seconds:.1f}s: {retried.reason}"
                )
                self.show_call(
                    f"[b]Calling[/b] {escape(retried.operation)}\n"
                    f"on {escape(retried.resource)}\n" + coloured(text, WARN, bold=True)
                )
            case events.ConfirmationAsked(step_id=step_id):
                self.say(f"waiting for your confirmation of {step_id}", "yellow")
                self.show_call(
                    coloured("Waiting for your answer", WARN, bold=True)
                    + f"\nbefore {escape(step_id)}: nothing changes until you do"
                )
        line = events.render(event)
        if line and not isinstance(event, events.PlanReady):
            self.say(line.strip(), LEVEL_STYLE.get(getattr(event, "level", ""), ""))

    def set_step(self, step_id: str, state: StepState) -> None:
        key = self._row_for(step_id)
        if key is None:
            return
        self.states[key] = state
        table = self.query_one("#runner-steps", DataTable)
        column = table.ordered_columns[1].key
        table.update_cell(key, column, self._state_cell(state), update_width=False)
        table.move_cursor(row=table.get_row_index(key))

    def _row_for(self, step_id: str) -> str | None:
        """The row of a step: the first one not finished (a restore step may
        share its id with the step it undoes)."""
        candidates = [
            k for k in self.states if self._base(k) in (step_id, f"restore:{step_id}")
        ]
        open_rows = [
            k
            for k in candidates
            if self.states[k] in (StepState.PENDING, StepState.RUNNING)
        ]
        chosen = open_rows or candidates
        return chosen[0] if chosen else None

    def show_call(self, text: str) -> None:
        self.query_one("#runner-call", Static).update(text)

    def say(self, text: str, style: str = "") -> None:
        """One line in the run's log (plain text: a log never parses markup)."""
        self.query_one("#runner-log", RichLog).write(Text(text, style=style))

    @on(Worker.StateChanged)
    def _worker_ended(self, event: Worker.StateChanged) -> None:
        if not event.worker.is_finished:
            return
        if event.worker.group == "plan":
            if event.state is WorkerState.SUCCESS:
                self.show_plan(event.worker.result)  # type: ignore[arg-type]
            elif event.state is WorkerState.ERROR and event.worker.error:
                self.show_call(coloured("the plan could not be made", BAD, bold=True))
                self.console.show_error(event.worker.error)
        elif event.worker.group == "run":
            self.running = False
            if event.state is WorkerState.SUCCESS:
                self.finished(event.worker.result)  # type: ignore[arg-type]
            elif event.state is WorkerState.ERROR and event.worker.error:
                self.console.show_error(event.worker.error)
            self.refresh_bindings()

    def finished(self, result: RunResult) -> None:
        self.result = result
        colour = OUTCOME_COLOUR.get(result.outcome, BAD)
        lines = [coloured(f"Run {result.outcome.upper()}", colour, bold=True)]
        if result.message:
            lines.append(escape(result.message))
        lines.append(f"retries seen: {self.retries}")
        lines.append(f"journal: {escape(result.journal)}")
        lines += [f"report: {escape(path)}" for path in result.reports]
        report = self.query_one("#runner-report", Static)
        report.update("\n".join(lines))
        report.display = True
        self.show_call(
            "Run finished. ctrl+o reads the report; Escape returns to the mesh view."
        )
        if result.ok:
            self.notify(f"{self.host.title_of(self.runbook)}: {result.outcome}")
        elif result.outcome == "declined":  # the operator's own no: not an error
            self.notify(
                "Stopped where you declined; nothing was changed by that step. "
                "Resume the run to go on.",
                title=f"{self.host.title_of(self.runbook)}: declined",
                severity="warning",
            )
        else:
            message = result.message or ""
            if result.fix:  # the engine's message ends with the fix; say it once
                message = message.replace(f"What to do: {result.fix}", "").strip()
            self.console.show_error(
                Problem(f"Run {result.outcome}", message, result.fix)
            )
        self.console.mesh_screen.action_refresh()

    def report_path(self) -> str | None:
        reports = self.result.reports if self.result else ()
        return next((p for p in reports if p.endswith(".md")), None)

    def action_report(self) -> None:
        path = self.report_path()
        if path is not None:
            with open(path, encoding="utf-8") as report:
                self.app.push_screen(ReportScreen(path, report.read()))

    def action_back(self) -> None:
        if not self.running:
            self.dismiss(None)

    def on_unmount(self) -> None:
        if self.confirmer is not None:
            self.confirmer.abandon()


def action_detail(action: Action) -> str:
    danger = coloured(DANGER_WORD[action.danger][0], DANGER_MARKUP[action.danger])
    lines = [
        f"[b]{escape(action.title)}[/b] ({danger})",
        escape(action.why),
        f"[b]Call[/b] {escape(action.operation)}",
        f"[b]On[/b] {escape(action.target)}",
    ]
    for name, value in action.arguments.items():
        lines.append(f"  {escape(str(name))} = {escape(str(value))}")
    if action.done:
        lines.append(coloured("already done: will be skipped", DIM))
    return "\n".join(lines)


def open_runner(app: ConsoleApp, name: str | None) -> None:
    host = app.session.runbooks
    if host is None:
        app.notify("No runbooks in this session", severity="warning")
        return
    if isinstance(app.screen, RunnerScreen) and app.screen.running:
        app.notify("A run is going; wait for it to finish", severity="warning")
        return
    if name is not None:
        app.push_screen(RunnerScreen(host, name))
        return

    def chosen(choice: str | None) -> None:
        if choice:
            app.push_screen(RunnerScreen(host, choice))

    app.push_screen(RunbookChooser(host.catalogue()), chosen)


def offer_resume(app: ConsoleApp, waiting: list[Interrupted]) -> None:
    """At start: an interrupted run is offered for resumption (Cancel focused)."""
    host = app.session.runbooks
    if host is None or not waiting:
        return
    run = waiting[0]
    restore = (
        " It changed the estate and has not put it back yet."
        if run.restore_pending
        else ""
    )

    def answered(answer: Any) -> None:
        if answer is not None:
            app.push_screen(RunnerScreen(host, run.runbook, resume=run.run_id))

    app.push_screen(
        ConfirmModal(
            "Resume an interrupted run?",
            f"Run {run.run_id} ({host.title_of(run.runbook)}) did not finish.{restore}",
            "Resuming re-checks preconditions and asks again before each change.",
        ),
        answered,
    )
