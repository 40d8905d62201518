"""`tdemesh` (no command) and `tdemesh console`: open the console.

With a config (--config, $TDEMESH_CONFIG, or the user config directory) the
console opens on the configured mesh in Azure, read-only until armed. With
none it starts the built-in simulator as a child process on the chosen
scenario, opens on it, and stops it on the way out. Textual is imported only
here, when the console is actually opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
SCENARIOS = ("protected", "greenfield")


def console_options(command: F) -> F:
    """The console's options, shared by the bare group and `tdemesh console`."""
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The tdemesh config (default: $TDEMESH_CONFIG, then the user "
            "config); without one the console opens on the simulator.",
        ),
        click.option("--mesh", help="The mesh from the config (default: its default)."),
        click.option(
            "--scenario",
            type=click.Choice(SCENARIOS),
            default="protected",
            show_default=True,
            help="The simulator's starting estate (greenfield: before setup).",
        ),
        click.option(
            "--refresh",
            type=click.FloatRange(min=0.5),
            help="Seconds between the end of one look and the next "
            "(default: console.toml, else 5).",
        ),
        click.option(
            "--screenshots",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for screenshots (default: the user data directory).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Where run journals and reports go (default: $TDEMESH_DATA_DIR, "
            "then the user data directory).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("console", context_settings={"help_option_names": ["-h", "--help"]})
@console_options
def console(**options: Any) -> None:
    """Open the console: the live mesh view and the runbook runner."""
    open_console(**options)


def open_console(
    config: Path | None = None,
    mesh: str | None = None,
    scenario: str = "protected",
    refresh: float | None = None,
    screenshots: Path | None = None,
    data_dir: Path | None = None,
) -> None:
    from dataclasses import replace

    from azuresim.process import SimulatorStartError
    from mesh.config import ConfigError
    from mesh.endpoints import EndpointsError
    from mesh.logs import configure_logging
    from tui.settings import SettingsError, load_settings

    # Every Azure call goes to the rotating log file, never onto the screen.
    configure_logging()
    try:
        settings = load_settings()
        if refresh is not None:
            settings = replace(settings, refresh_seconds=refresh)
        if screenshots is not None:
            settings = replace(settings, screenshot_dir=screenshots)
        with opened(config, mesh, scenario, data_dir) as session:
            from tui.app import ConsoleApp

            try:
                ConsoleApp(session, settings).run()
            finally:
                session.close()
    except (ConfigError, EndpointsError, SettingsError, SimulatorStartError) as error:
        # Before the console is up there is no modal: say it, exit non-zero.
        raise click.ClickException(str(error)) from error


@contextmanager
def opened(
    config: Path | None, mesh: str | None, scenario: str, data_dir: Path | None
) -> Iterator[Any]:
    """A console Session on the configured mesh, or on a fresh simulator."""
    from mesh.config import find_config, load_config

    path = find_config(config)
    if path is not None:
        loaded = load_config(path)
        name, chosen = loaded.mesh(mesh)
        yield session_for(name, chosen, data_dir)
        return

    from azuresim import process

    click.echo(f"No config found: starting the built-in simulator ({scenario}).")
    with process.start(scenario=scenario) as sim:
        name, chosen = load_config(sim.config_path).mesh(mesh)
        yield session_for(name, chosen, data_dir)


def session_for(name: str, mesh: Any, data_dir: Path | None) -> Any:
    """Everything the console needs for one mesh: look, runbooks, sim controls.

    The SDK clients and the runbooks are built on first use (the first look
    runs on a worker), so the console's first frame does not wait for them.
    """
    import threading

    from runbooks.paths import state_dirs
    from tui.runner_host import RunbookHost
    from tui.session import Look, Session
    from tui.widgets.header import Where

    simulator = mesh.cloud == "Simulator"
    where = Where(
        simulator,
        name,
        mesh.subscription_id,
        mesh.cloud,
        mesh.failover_group,
        tuple(mesh.regions),
    )
    built: dict[str, Any] = {}
    lock = threading.Lock()

    def gateway() -> Any:
        with lock:
            if "gateway" not in built:
                from mesh.gateway import Gateway

                built["gateway"] = Gateway(mesh.endpoints())
            return built["gateway"]

    def look() -> Look:
        from mesh.assess import assess
        from mesh.probe import probe

        snapshot = probe(gateway(), name, mesh)
        return Look(snapshot, assess(snapshot))

    def runbooks_and_estate() -> tuple[Any, object]:
        from runbooks.connect import open_estate
        from runbooks.registry import RUNBOOKS

        return RUNBOOKS, open_estate(name, mesh, gateway())

    host = RunbookHost(runbooks_and_estate, name, state_dirs(data_dir).ensure())
    vaults = tuple(region.vault for region in mesh.regions.values())
    sim = sim_control(mesh.endpoints_file, vaults) if simulator else None

    def close() -> None:
        if not host.wait_idle(timeout=600):
            click.echo("A run is still going; its journal says where it stopped.")
        with lock:
            if "gateway" in built:
                built.pop("gateway").close()
        if sim is not None:
            sim.close()

    return Session(where, look, sim=sim, runbooks=host, close=close)


def sim_control(endpoints_file: Path | None, vaults: tuple[str, ...]) -> Any:
    """The simulator's admin API, from the endpoints file it wrote."""
    if endpoints_file is None:
        return None
    from tui.simcontrol import SimControl

    data = json.loads(Path(endpoints_file).read_text(encoding="utf-8"))
    return SimControl(data["admin_url"], data["ca_bundle"], vaults)
