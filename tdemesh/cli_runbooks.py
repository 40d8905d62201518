"""`tdemesh run ...` and `tdemesh journal ...`: the runbooks without the
console.

The same engine the console drives: a plan first, then each step with its
confirmation at the prompt (or `--yes` / `--confirm NAME` when nobody is
there), progress and retries printed as they happen, a journal and a report
per run. With no config the built-in simulator is started on the runbook's
starting scenario.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from runbooks import events
from runbooks.confirm import (
    ChainConfirmer,
    Confirmer,
    TerminalConfirmer,
    UnattendedConfirmer,
)
from runbooks.errors import RunbookError
from runbooks.paths import DATA_DIR_ENV, StateDirs, state_dirs

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DECLINED = 3
EXIT_INTERRUPTED = 130


def _runbook_names() -> list[str]:
    from runbooks.registry import RUNBOOKS

    return list(RUNBOOKS)


def _parameters(values: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="-p")
        found[key.strip()] = value.strip()
    return found


def _check_parameters(
    runbook: str, parameters: dict[str, str], resume: str | None
) -> None:
    """Bad names and values are usage errors, found before anything runs."""
    from runbooks.parameters import BadParameters, check

    if resume and parameters:
        raise click.UsageError(
            f"-p cannot be combined with --resume: run {resume} goes on with "
            "the parameters it started with (its journal records them, and "
            "its finished steps used them). To run with other parameters, "
            f"start a new run: tdemesh run {runbook} -p NAME=VALUE ..."
        )
    try:
        check(runbook, parameters)
    except BadParameters as error:
        raise click.UsageError(f"{error.message}\n{error.fix}") from None


def _usable(dirs: StateDirs) -> StateDirs:
    """The data directory, made; one line and exit 2 when it cannot be."""
    try:
        return dirs.ensure()
    except OSError as error:
        where = error.filename or dirs.root
        if isinstance(error, FileExistsError | NotADirectoryError):
            why = f"{where} exists and is not a directory"
        elif isinstance(error, PermissionError):
            why = f"no permission to create or write {where}"
        else:
            why = f"{where}: {error.strerror or error}"
        click.echo(
            f"ERROR: cannot use the data directory {dirs.root}: {why}. Choose a "
            f"writable directory with --data-dir or ${DATA_DIR_ENV}.",
            err=True,
        )
        sys.exit(EXIT_USAGE)


def _check_resume(dirs: StateDirs, runbook: str, resume: str) -> None:
    """A run id that is not there, or is another runbook's, is a usage error
    (before a simulator starts or anything is restored)."""
    from runbooks.engine import load_run
    from runbooks.errors import JournalError

    if not dirs.journal_file(resume).is_file():
        raise click.UsageError(
            f"no run {resume} in {dirs.journal}; `tdemesh journal list` shows "
            "the runs there (pass the same --data-dir as the run)"
        )
    try:
        started = load_run(dirs, resume).runbook
    except JournalError:
        return  # the engine says what is wrong with the journal
    if started != runbook:
        raise click.UsageError(
            f"run {resume} is a {started} run, not {runbook}; resume it with: "
            f"tdemesh run {started} --resume {resume}"
        )


def _confirmer(yes: bool, names: tuple[str, ...], reason: str) -> Confirmer:
    unattended = UnattendedConfirmer(yes, names, reason)
    if not sys.stdin.isatty():
        return unattended
    terminal = TerminalConfirmer(ask=_ask, say=click.echo)
    return ChainConfirmer(unattended, terminal)


def _ask(text: str) -> str:
    """One answer at the prompt. Ctrl-C (or the end of input) there stops the
    run as Ctrl-C anywhere else does; click would turn it into an Abort,
    which the engine could only call an unexpected error."""
    try:
        answer = click.prompt(text, default="", show_default=False, prompt_suffix="")
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    return str(answer)


def _print(event: object) -> None:
    line = events.render(event)
    if line is not None:
        click.echo(line)


@contextmanager
def _estate(
    runbook: Any, mesh: str | None, config: Path | None, resume: str | None = None
) -> Iterator[tuple[Any, str]]:
    """The estate to run on: the configured mesh, or a fresh simulator on
    the runbook's starting scenario when there is no config."""
    from mesh.config import find_config, load_config
    from runbooks.connect import open_estate

    path = find_config(config)
    if path is not None:
        loaded = load_config(path)
        name, chosen = loaded.mesh(mesh)
        yield open_estate(name, chosen), name
        return

    from azuresim import process

    click.echo(
        f"No config found: starting the built-in simulator on the "
        f"{runbook.scenario} scenario."
    )
    if resume:
        click.echo(
            "Note: the built-in simulator starts afresh, so a resumed run meets "
            "its starting scenario again; resume against the mesh it ran on "
            "(--config) to continue where it stopped."
        )
    with process.start(scenario=runbook.scenario) as sim:
        loaded = load_config(sim.config_path)
        name, chosen = loaded.mesh(mesh)
        yield open_estate(name, chosen), name


@click.command(
    "run",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.argument("runbook", metavar="RUNBOOK")
@click.option("--mesh", "mesh", help="The mesh from the config (default: its default).")
@click.option(
    "--plan", "plan_only", is_flag=True, help="Print the plan; change nothing."
)
@click.option("--yes", is_flag=True, help="Accept every change without asking.")
@click.option(
    "--confirm",
    "names",
    multiple=True,
    metavar="NAME",
    help="Accept the irreversible step on the resource NAME (repeatable).",
)
@click.option("--reason", default="", help="Why (recorded with --confirm).")
@click.option("--resume", "resume", metavar="RUN_ID", help="Resume a run.")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A runbook parameter (repeatable); see the runbook's help below.",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tdemesh config (default: $TDEMESH_CONFIG, then the user config).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where journals and reports go (default: ${DATA_DIR_ENV}, then the "
    "user data directory).",
)
def run(
    runbook: str,
    mesh: str | None,
    plan_only: bool,
    yes: bool,
    names: tuple[str, ...],
    reason: str,
    resume: str | None,
    params: tuple[str, ...],
    config: Path | None,
    data_dir: Path | None,
) -> None:
    """Run a runbook: setup, rotation, vault-loss, failover-drill or recover.

    \b
    The plan comes first: each action with the SDK call, the resource and the
    arguments, and what is already done. Then each step: a check that it is
    not already done, a confirmation (y/n for changes; the resource name and
    a reason for irreversible steps), the call, a re-read to verify it, and a
    checkpoint in the run's journal.

    \b
    Examples:
      tdemesh run setup --plan
      tdemesh run setup -p route=pem -p key_file=tde.pem
      tdemesh run rotation --yes
      tdemesh run vault-loss --yes --confirm nsg-sqlmi-eastus2 --reason drill
      tdemesh run failover-drill --resume 20261203T160000Z-failover-drill-ab12cd
      tdemesh run recover --yes

    \b
    Parameters (-p NAME=VALUE):
      setup           route=backup-restore|hsm|pem, key_file, key_name,
                      key_size=2048|3072, auto_rotation=false|true
      rotation        route=new-name|import, key_name, key_file,
                      key_format=pem|hsm, key_size=2048|3072,
                      auto_rotation=keep|true|false
      vault-loss      instance=REGION, vault=REGION, method=nsg|outage,
                      second=no|yes, hold_seconds, extend=no|yes,
                      key_check_seconds, auto_heal_seconds
      failover-drill  (none)
      recover         (none): revalidates the protector of each instance with
                      Inaccessible databases once its key can be reached
    key_name is a Key Vault key name: 1-127 letters, digits and dashes.
    Unknown names and bad values are refused before anything runs; a resumed
    run keeps the parameters it started with (-p is refused with --resume).

    \b
    Exit status: 0 done, 1 failed or refused, 2 usage or config error,
    3 declined at a confirmation (nothing more was changed),
    130 interrupted (resume with --resume RUN_ID).
    """
    from runbooks import registry

    try:
        module = registry.get(runbook)
    except KeyError as error:
        raise click.UsageError(str(error.args[0])) from None
    parameters = _parameters(params)
    _check_parameters(module.name, parameters, resume)
    dirs = _usable(state_dirs(data_dir))
    if resume:
        _check_resume(dirs, module.name, resume)
    try:
        code = _drive(
            module,
            dirs,
            mesh,
            config,
            plan_only,
            yes,
            names,
            reason,
            resume,
            parameters,
        )
    except RunbookError as error:
        click.echo(error.for_people(), err=True)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        code = EXIT_INTERRUPTED
    except Exception as error:  # config, endpoints, simulator start
        click.echo(_explain(error), err=True)
        code = EXIT_USAGE
    sys.exit(code)


def _explain(error: Exception) -> str:
    from mesh.config import ConfigError

    if isinstance(error, ConfigError):
        return (
            f"Config problem: {error.problem}\n  in {error.file}: {error.key}\n"
            f"  What to do: {error.fix}"
        )
    return f"{type(error).__name__}: {error}"


def _drive(
    module: Any,
    dirs: StateDirs,
    mesh: str | None,
    config: Path | None,
    plan_only: bool,
    yes: bool,
    names: tuple[str, ...],
    reason: str,
    resume: str | None,
    parameters: dict[str, str],
) -> int:
    from runbooks.engine import (
        Engine,
        finished_outcome,
        load_run,
        unfinished_restores,
    )
    from runbooks.registry import RESTORING, RUNBOOKS

    engine = Engine(dirs, _confirmer(yes, names, reason), [_print])
    with _estate(module, mesh, config, resume) as (estate, mesh_name):
        if plan_only:
            click.echo(engine.plan(module, estate, mesh_name, parameters).render())
            return 0
        for pending in unfinished_restores(dirs, set(RESTORING)):
            if pending == resume:
                continue
            click.echo(
                f"Run {pending} changed the estate and never put it back: "
                "restoring it first."
            )
            state = load_run(dirs, pending)
            if state.mesh != mesh_name:
                click.echo(f"  (it ran on mesh {state.mesh}; skipped here)")
                continue
            engine.resume(pending, RUNBOOKS[state.runbook], estate, restore_only=True)
        if resume and finished_outcome(dirs, resume) == "succeeded":
            click.echo(f"Run {resume} has already succeeded; nothing to resume.")
            return 0
        if resume:
            result = engine.resume(resume, module, estate)
        else:
            result = engine.run(module, estate, mesh_name, parameters)
    if result.reports:
        click.echo(f"Journal: {result.journal}\nReport: {result.reports[0]}")
    if result.outcome == "interrupted":
        click.echo(
            f"Interrupted; resume with: tdemesh run {module.name} --resume "
            f"{result.run_id}"
        )
        return EXIT_INTERRUPTED
    if result.outcome == "declined":
        click.echo(
            f"Declined: nothing more was changed. {result.fix}\n"
            f"  tdemesh run {module.name} --resume {result.run_id}"
        )
        return EXIT_DECLINED
    if not result.ok:
        if result.outcome == "failed":
            click.echo(
                f"Fix the cause, then: tdemesh run {module.name} --resume "
                f"{result.run_id}",
                err=True,
            )
        return EXIT_FAILED
    return 0


@click.group("journal", context_settings={"help_option_names": ["-h", "--help"]})
def journal() -> None:
    """The runs' journals: list them, verify them, rebuild their reports."""


_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where journals are (default: ${DATA_DIR_ENV}, then the user data dir).",
)


@journal.command("verify")
@click.argument("runs", nargs=-1, metavar="[RUN_ID|FILE]...")
@_DATA_DIR
def verify_command(runs: tuple[str, ...], data_dir: Path | None) -> None:
    """Check that no journal was edited: every record's hash and the chain,
    and, where the run's report exists, that no record was cut off the end.

    With no argument every journal in the data directory is checked. Exit
    status 1 when any journal fails.
    """
    from runbooks.journal import iter_runs, verify
    from runbooks.report import anchor

    dirs = state_dirs(data_dir)
    paths = [_journal_path(dirs, r) for r in runs]
    if not runs:
        paths = list(iter_runs(dirs.journal))
        if not paths:
            click.echo(f"No journals in {dirs.journal}.")
            return
    failed = 0
    for path in paths:
        check = verify(path, anchor(dirs, path.stem))
        if check.ok:
            state = "finished" if check.finished else "unfinished"
            click.echo(f"ok      {path.stem} ({check.records} records, {state})")
        else:
            failed += 1
            click.echo(f"BROKEN  {path.stem}: " + "; ".join(check.problems))
    sys.exit(1 if failed else 0)


def _journal_path(dirs: StateDirs, run: str) -> Path:
    """A file when it names one (or looks like a path), else a run id."""
    if run.endswith(".jsonl") or "/" in run or Path(run).is_file():
        return Path(run)
    return dirs.journal_file(run)


@journal.command("list")
@_DATA_DIR
def list_command(data_dir: Path | None) -> None:
    """The runs in the data directory, newest last, with their outcomes."""
    from runbooks.engine import finished_outcome
    from runbooks.errors import JournalError
    from runbooks.journal import iter_runs

    dirs = state_dirs(data_dir)
    for path in iter_runs(dirs.journal):
        try:
            outcome = finished_outcome(dirs, path.stem) or "unfinished"
        except JournalError:
            outcome = "unreadable"
        click.echo(f"{path.stem}  {outcome}")


@journal.command("report")
@click.argument("run_id")
@_DATA_DIR
def report_command(run_id: str, data_dir: Path | None) -> None:
    """Rebuild a run's Markdown and JSON report from its journal."""
    from runbooks.errors import JournalError
    from runbooks.report import write_reports

    try:
        paths = write_reports(state_dirs(data_dir), run_id)
    except JournalError as error:
        click.echo(error.for_people(), err=True)
        sys.exit(1)
    click.echo("\n".join(paths))
