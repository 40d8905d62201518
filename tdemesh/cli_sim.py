"""`tdemesh sim ...`: run and steer the built-in local Azure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("tdemesh")) / "azuresim"


@click.group()
def sim() -> None:
    """The built-in local Azure (azuresim)."""


@sim.command()
@click.option(
    "--scenario",
    default="protected",
    show_default=True,
    help="The starting estate: greenfield (no customer-managed key yet) or "
    "protected (the TDE protector in place on both instances).",
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Simulated seconds per real second (60 = one minute per second).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the CA, endpoints.json and tdemesh.toml are written "
    "[default: the user state directory].",
)
def serve(scenario: str, time_scale: float, state_dir: Path | None) -> None:
    """Run the simulator in the foreground until Ctrl-C.

    Writes endpoints.json (addresses, CA bundle, the operator's credentials)
    and tdemesh.toml (a config for `tdemesh`) into the state directory and
    prints both paths.
    """
    from azuresim.server import SimulatorBusy, run, scenario_names

    if scenario not in scenario_names():
        raise click.BadParameter(
            f"unknown scenario {scenario!r}; choose one of: "
            + ", ".join(scenario_names()),
            param_hint="--scenario",
        )
    if time_scale < 0:
        raise click.BadParameter("must not be negative", param_hint="--time-scale")
    directory = state_dir or default_state_dir()
    try:
        run(
            directory,
            scenario=scenario,
            time_scale=time_scale,
            announce=lambda line: click.echo(line),
        )
    except SimulatorBusy as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(
            f"the simulator could not start in {directory}: {exc}"
        ) from exc
    except KeyboardInterrupt:
        pass
    click.echo("azuresim: stopped")


# --------------------------------------------------------------------------
# Steering a running simulator (its admin API; no Azure equivalent)

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The state directory of the running simulator "
    "[default: the user state directory].",
)


def _attach(state_dir: Path | None) -> Any:
    from azuresim.process import SimulatorNotRunning, attach

    try:
        return attach(state_dir or default_state_dir())
    except SimulatorNotRunning as exc:
        raise click.ClickException(str(exc)) from exc


def _admin(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (RuntimeError, OSError) as exc:
        raise click.ClickException(f"the simulator refused: {exc}") from exc


@sim.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Show the simulated clock, scenario, vaults, outages and faults."""
    admin = _attach(state_dir)
    state = _admin(admin.state)
    click.echo(f"scenario  {state['scenario']}")
    click.echo(f"clock     {state['clock']['now']} (x{state['clock']['scale']:g})")
    for name, url in admin.endpoints.vaults.items():
        outage = " (outage)" if name in state["outages"] else ""
        click.echo(f"vault     {name}  {url}{outage}")
    for fault in state["faults"]:
        click.echo(
            f"fault     {fault['id']}  {fault['kind']} on {fault['listener']} "
            f"{fault['operation']}"
        )


@sim.command()
@click.option("--advance", type=float, default=None, help="Jump ahead N seconds.")
@click.option("--scale", type=float, default=None, help="Simulated s per real s.")
@state_dir_option
def clock(advance: float | None, scale: float | None, state_dir: Path | None) -> None:
    """Show the simulated clock, or move it ahead / change its speed."""
    admin = _attach(state_dir)
    if advance is None and scale is None:
        now = _admin(admin.clock)
    else:
        now = _admin(lambda: admin.set_clock(scale=scale, advance_seconds=advance))
    click.echo(f"{now['now']} (x{now['scale']:g})")


@sim.command()
@click.argument("vault")
@click.option("--end", is_flag=True, help="End the outage instead.")
@click.option("--minutes", type=float, default=None, help="Simulated duration.")
@state_dir_option
def outage(
    vault: str, end: bool, minutes: float | None, state_dir: Path | None
) -> None:
    """Make VAULT unreachable (every connection dropped), or end that."""
    admin = _attach(state_dir)
    if end:
        _admin(lambda: admin.end_outage(vault))
        click.echo(f"outage of {vault} ended")
        return
    seconds = None if minutes is None else minutes * 60
    _admin(lambda: admin.start_outage(vault, seconds))
    click.echo(f"{vault} is unreachable" + (f" for {minutes:g} min" if minutes else ""))


@sim.command()
@click.option("--scenario", default="protected", show_default=True)
@state_dir_option
def reset(scenario: str, state_dir: Path | None) -> None:
    """Rebuild the simulated estate; faults and outages are cleared."""
    admin = _attach(state_dir)
    _admin(lambda: admin.reset(scenario))
    click.echo(f"reset to {scenario}")
