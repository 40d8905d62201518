"""`tdemesh sim ...`: run and steer the built-in local Azure."""

from __future__ import annotations

from pathlib import Path

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
