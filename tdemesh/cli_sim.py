"""`tdemesh sim ...`: run and steer the built-in local Azure."""

from __future__ import annotations

import click


@click.group()
def sim() -> None:
    """The built-in local Azure (azuresim)."""
