"""Shared fixtures: one simulator process per test session, reset per test.

Starting the simulator (TLS, RSA keys, listeners) takes a second or two, so
the whole session shares one child process; a test that needs the simulator
asks for `simulator` (reset to the protected scenario, faults and outages
cleared) or `greenfield` and gets the same process in a known state.

SDK clients (tests/simclients.py) are built with exactly the simulator
settings the product uses (TEAM.md).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simclients import Sdk

from azuresim import process
from azuresim.process import SimProcess

SIM_TIME_SCALE = 60.0  # one simulated minute per real second


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """The session's simulator process (state as the last test left it)."""
    state_dir = tmp_path_factory.mktemp("azuresim")
    with process.start(state_dir, time_scale=SIM_TIME_SCALE) as running:
        yield running


def _fresh(sim: SimProcess, scenario: str) -> Iterator[SimProcess]:
    sim.reset(scenario)
    sim.set_clock(scale=SIM_TIME_SCALE)
    yield sim
    sim.clear_faults()
    sim.end_outages()


@pytest.fixture
def simulator(sim: SimProcess) -> Iterator[SimProcess]:
    """The simulator, reset to the `protected` scenario."""
    yield from _fresh(sim, "protected")


@pytest.fixture
def greenfield(sim: SimProcess) -> Iterator[SimProcess]:
    """The simulator, reset to the `greenfield` scenario."""
    yield from _fresh(sim, "greenfield")


@pytest.fixture
def sdk(simulator: SimProcess) -> Sdk:
    """SDK client factories for the freshly reset simulator."""
    return Sdk(simulator)
