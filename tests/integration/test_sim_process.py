"""The child-process helper other commands use to run the simulator."""

from __future__ import annotations

import pytest

from azuresim import process


def test_start_without_a_state_dir_cleans_up_after_itself() -> None:
    with process.start(time_scale=1) as sim:
        state_dir = sim.state_dir
        assert sim.endpoints.pid == sim.process.pid
        assert (state_dir / "ca.pem").exists()
        assert sim.clock()["scale"] == 1
    assert sim.process.returncode == 0
    assert not state_dir.exists()


def test_a_child_that_cannot_start_says_why() -> None:
    with pytest.raises(process.SimulatorStartError, match="invalid choice"):
        process.start(scenario="no-such-scenario", timeout=30)
