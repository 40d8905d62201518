"""The `tdemesh` command: one click group, each area's commands in its own module.

The console (Textual) is imported only when it is opened, so `tdemesh check`
and `tdemesh run` start fast and work on machines without a terminal UI.
"""

from __future__ import annotations

from typing import Any

import click

from tdemesh import __version__
from tdemesh.cli_console import console_options, open_console


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tdemesh")
@console_options
@click.pass_context
def cli(ctx: click.Context, **console: Any) -> None:
    """Keep customer-managed TDE keys alive on two SQL Managed Instances.

    With no command, opens the console on the built-in simulator.
    """
    if ctx.invoked_subcommand is None:
        open_console(**console)


def _register() -> None:
    from tdemesh.cli_console import console

    cli.add_command(console)
    from tdemesh.cli_sim import sim

    cli.add_command(sim)
    from tdemesh.cli_runbooks import journal, run

    cli.add_command(run)
    cli.add_command(journal)
    from tdemesh.cli_mesh import check, discover

    cli.add_command(check)
    cli.add_command(discover)


def main() -> None:
    _register()
    cli()
