"""The `tdemesh` command: one click group, each area's commands in its own module.

The console (Textual) is imported only when it is opened, so `tdemesh check`
and `tdemesh run` start fast and work on machines without a terminal UI.
"""

from __future__ import annotations

import click

from tdemesh import __version__


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tdemesh")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Keep customer-managed TDE keys alive on two SQL Managed Instances.

    With no command, opens the console on the built-in simulator.
    """
    if ctx.invoked_subcommand is None:
        raise click.UsageError("the console is not built yet; try `tdemesh sim serve`")


def _register() -> None:
    from tdemesh.cli_sim import sim

    cli.add_command(sim)


def main() -> None:
    _register()
    cli()
