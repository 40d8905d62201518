"""`tdemesh check` and `tdemesh discover`: the mesh, without the console.

`check` prints the verdict, the key-path matrix and the findings (or JSON)
and exits 0 healthy, 1 degraded, 2 critical, 3 unknown (the mesh could not
be assessed: a config error, the simulator did not start...). With no config
anywhere it starts the built-in simulator as a child process, so the command
works out of the box.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from mesh.render import EXIT_UNKNOWN

log = logging.getLogger("tdemesh.cli")
SCENARIOS = ("protected", "greenfield")


class _Unknown(Exception):
    """The mesh could not be assessed; the message says why and the fix."""


@contextmanager
def _mesh_config(
    config: Path | None, scenario: str, state_dir: Path | None
) -> Iterator[Path]:
    """The config file to use; with none anywhere, a started simulator's."""
    from mesh.config import find_config

    path = find_config(config)
    if path is not None:
        yield path
        return
    import tempfile

    from azuresim import process

    click.echo(
        f"no config found: starting the built-in simulator ({scenario})",
        err=True,
    )
    with tempfile.TemporaryDirectory(prefix="tdemesh-sim-") as scratch:
        try:
            sim = process.start(state_dir or Path(scratch), scenario=scenario)
        except Exception as error:  # noqa: BLE001 - shown to the operator
            raise _Unknown(
                f"the simulator did not start: {error}; fix: run `tdemesh sim "
                "serve` to see its log, or pass --config"
            ) from error
        with sim:
            yield sim.config_path


def _load(path: Path, mesh_name: str | None) -> tuple[str, Any]:
    from mesh.config import ConfigError, load_config

    try:
        name, mesh = load_config(path).mesh(mesh_name)
    except ConfigError as error:
        if error.file is None:
            raise ConfigError(path, error.key, error.problem, error.fix) from error
        raise
    return name, mesh


class _EchoRetries:
    """Every retry is visible: one line on stderr each."""

    def retrying(self, event: Any) -> None:
        click.echo(
            f"retrying {event.operation} {event.resource}: attempt {event.attempt} "
            f"of {event.attempts} failed ({event.reason}); waiting "
            f"{event.wait_seconds:.1f}s",
            err=True,
        )


def _run_check(path: Path, mesh_name: str | None) -> tuple[Any, Any]:
    from mesh.assess import assess
    from mesh.gateway import Gateway
    from mesh.probe import probe

    name, mesh = _load(path, mesh_name)
    gateway = Gateway(mesh.endpoints(), observer=_EchoRetries())
    try:
        snapshot = probe(gateway, name, mesh)
    finally:
        gateway.close()
    if _nothing_read(snapshot):
        first = snapshot.all_errors()[0]
        raise _Unknown(
            f"nothing of mesh {name} could be read; first failure: "
            f"{first.message}; fix: {first.fix or 'check access and retry'}"
        )
    return snapshot, assess(snapshot)


def _nothing_read(snapshot: Any) -> bool:
    """No instance and no vault answered: the verdict would be a guess."""
    return (
        all(i.state is None for i in snapshot.instances)
        and all(not v.readable for v in snapshot.vaults)
        and bool(snapshot.all_errors())
    )


def _explain_failure(error: BaseException) -> str:
    from mesh.config import ConfigError
    from mesh.endpoints import EndpointsError
    from mesh.errors import MeshError

    if isinstance(error, _Unknown | ConfigError | EndpointsError | MeshError):
        return str(error)
    log.exception("unexpected failure")
    from mesh.logs import log_dir

    return (
        f"unexpected {type(error).__name__}: {error}; fix: see "
        f"{log_dir() / 'tdemesh.log'} and report it"
    )


@click.command()
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (else $TDEMESH_CONFIG, else the user config directory).",
)
@click.option(
    "--mesh", "mesh_name", help="Which mesh of the config (else the default)."
)
@click.option(
    "--scenario",
    type=click.Choice(SCENARIOS),
    default="protected",
    show_default=True,
    help="Simulator scenario, when no config is found.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where a started simulator keeps its state.",
)
def check(
    config: Path | None,
    mesh_name: str | None,
    scenario: str,
    as_json: bool,
    state_dir: Path | None,
) -> None:
    """Assess the mesh once: verdict, key paths, findings.

    Exit code 0 healthy, 1 degraded, 2 critical, 3 unknown.
    """
    from mesh.logs import configure_logging
    from mesh.render import EXIT_CODES, to_json, to_text

    configure_logging()
    try:
        with _mesh_config(config, scenario, state_dir) as path:
            snapshot, assessment = _run_check(path, mesh_name)
    except Exception as error:  # noqa: BLE001 - never a traceback
        message = _explain_failure(error)
        if as_json:
            click.echo(
                json.dumps({"verdict": "unknown", "exit_code": 3, "error": message})
            )
        click.echo(f"tdemesh check: {message}", err=True)
        sys.exit(EXIT_UNKNOWN)
    if as_json:
        click.echo(json.dumps(to_json(assessment, snapshot), indent=2))
    else:
        click.echo(to_text(assessment, snapshot))
    sys.exit(EXIT_CODES[assessment.verdict])


@click.command()
@click.option(
    "--cloud",
    type=click.Choice(
        ["AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "Simulator"]
    ),
    default="AzureCloud",
    show_default=True,
)
@click.option("--subscription", "subscription_id", help="Subscription id (Azure).")
@click.option("--tenant", "tenant_id", help="Tenant id (Azure).")
@click.option(
    "--endpoints-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The simulator's endpoints.json (with --cloud Simulator).",
)
@click.option(
    "--resource-group", "resource_groups", multiple=True, help="Limit the search."
)
@click.option("--failover-group", help="The failover group's name, if several.")
@click.option("--mesh", "mesh_name", default="default", show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the config (default: the user config file).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def discover(
    cloud: str,
    subscription_id: str | None,
    tenant_id: str | None,
    endpoints_file: Path | None,
    resource_groups: tuple[str, ...],
    failover_group: str | None,
    mesh_name: str,
    out: Path | None,
    force: bool,
) -> None:
    """Build the config by reading Azure, and write it."""
    from mesh.config import dump_config, user_config_path, write_config
    from mesh.discover import discover as run_discover
    from mesh.endpoints import for_cloud, load_endpoints_file
    from mesh.gateway import Gateway
    from mesh.logs import configure_logging

    configure_logging()
    target = out or user_config_path()
    try:
        if target.exists() and not force:
            raise _Unknown(
                f"{target} exists; fix: pass --force to overwrite it, or --out "
                "another path"
            )
        if cloud == "Simulator":
            if endpoints_file is None:
                raise _Unknown(
                    "--cloud Simulator needs --endpoints-file; fix: pass the "
                    "endpoints.json that `tdemesh sim serve` wrote"
                )
            endpoints = load_endpoints_file(endpoints_file)
        else:
            if not subscription_id or not tenant_id:
                raise _Unknown(
                    "discovering Azure needs --subscription and --tenant; fix: "
                    "pass both (az account show prints them)"
                )
            endpoints = for_cloud(cloud, tenant_id, subscription_id)  # type: ignore[arg-type]
        gateway = Gateway(endpoints)
        try:
            config = run_discover(
                gateway,
                cloud=endpoints.cloud,
                mesh_name=mesh_name,
                resource_groups=list(resource_groups) or None,
                failover_group=failover_group,
                endpoints_file=endpoints_file.resolve() if endpoints_file else None,
                allow_fault_drills=cloud == "Simulator",
            )
        finally:
            gateway.close()
        write_config(config, target)
    except Exception as error:  # noqa: BLE001 - never a traceback
        click.echo(f"tdemesh discover: {_explain_failure(error)}", err=True)
        sys.exit(EXIT_UNKNOWN)
    click.echo(dump_config(config))
    click.echo(f"wrote {target}", err=True)
