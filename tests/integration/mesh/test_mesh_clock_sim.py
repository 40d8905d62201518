"""On the simulator, deadlines follow the simulated clock: a trainee who
advances it ten minutes sees `tdemesh check` count ten minutes down, and at
60x the time Azure states runs 60 times faster than this machine's."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from simclients import Sdk

from azuresim.process import SimProcess
from mesh.config import load_config
from mesh.gateway import Gateway
from mesh.probe import probe
from tests.integration.mesh.test_mesh_check_sim import (  # noqa: F401 - a fixture
    E_KV,
    E_MI,
    E_TO_C,
    E_TO_E,
    deny,
    own_log_dir,
    run_check,
)

TEN_MINUTES = 600


def check_json(sim: SimProcess) -> dict[str, Any]:
    result = run_check(sim, "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def auto_heal(data: dict[str, Any], instance: str = E_MI) -> dict[str, Any]:
    return next(
        d
        for d in data["deadlines"]
        if d["kind"] == "auto_heal" and d["resource"] == instance
    )


def frozen(sim: SimProcess) -> datetime:
    """Stop the simulated clock (scale 0), so every answer states one time."""
    return datetime.fromisoformat(sim.set_clock(scale=0)["now"])


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)  # an HTTP Date has no fractions


def test_advancing_the_clock_ten_minutes_counts_a_dated_deadline_ten_minutes_down(
    simulator: SimProcess, sdk: Sdk
) -> None:
    with sdk.key_client(E_KV) as client:
        version = client.get_key("tde-protector").properties.version
        client.update_key_properties("tde-protector", version, enabled=False)
    sim_now = frozen(simulator)

    before = check_json(simulator)
    simulator.set_clock(advance_seconds=TEN_MINUTES)
    after = check_json(simulator)

    assert datetime.fromisoformat(before["now"]) == whole_seconds(sim_now)
    assert auto_heal(after)["at"] == auto_heal(before)["at"]
    assert (
        auto_heal(before)["remaining_seconds"] - auto_heal(after)["remaining_seconds"]
        == TEN_MINUTES
    )


def test_advancing_the_clock_moves_a_deadline_counted_from_the_probe(
    simulator: SimProcess, sdk: Sdk
) -> None:
    deny(sdk, "deny-home", E_TO_E, 100)
    deny(sdk, "deny-remote", E_TO_C, 101)
    frozen(simulator)

    before = check_json(simulator)
    simulator.set_clock(advance_seconds=TEN_MINUTES)
    after = check_json(simulator)

    moved = datetime.fromisoformat(auto_heal(after)["at"]) - datetime.fromisoformat(
        auto_heal(before)["at"]
    )
    assert moved == timedelta(seconds=TEN_MINUTES)
    assert datetime.fromisoformat(after["now"]) - datetime.fromisoformat(
        before["now"]
    ) == timedelta(seconds=TEN_MINUTES)


@pytest.fixture
def gateway(simulator: SimProcess) -> Iterator[Gateway]:
    _, mesh = load_config(simulator.config_path).mesh()
    gateway = Gateway(mesh.endpoints())
    yield gateway
    gateway.close()


def test_at_60x_the_probes_azure_time_runs_60_times_faster(
    simulator: SimProcess, gateway: Gateway
) -> None:
    name, mesh = load_config(simulator.config_path).mesh()
    simulator.set_clock(scale=60)

    first = probe(gateway, name, mesh)
    started = time.monotonic()
    time.sleep(1.5)
    second = probe(gateway, name, mesh)
    real = time.monotonic() - started

    assert first.azure_time is not None and second.azure_time is not None
    simulated = (second.azure_time - first.azure_time).total_seconds()
    # Each reading lies somewhere inside its probe, and a Date has whole
    # seconds: allow both probes' simulated length and a second each.
    slack = 60 * (first.duration_seconds + second.duration_seconds) + 2
    assert abs(simulated - 60 * real) <= slack
    assert simulated > 60  # more than the 1.5 s this machine saw


def test_the_probe_waits_for_a_slow_read_without_spinning(
    simulator: SimProcess, gateway: Gateway
) -> None:
    """While one instance's key list is in and its protector is not, the
    probe sleeps on the protector: a busy loop would hold the GIL the
    other reads need, and cost a core for as long as the slow read takes."""
    name, mesh = load_config(simulator.config_path).mesh()
    probe(gateway, name, mesh)  # tokens, challenges, connections
    simulator.add_fault(
        "latency", listener="arm", operation="GET encryptionProtector", delay_seconds=1
    )

    cpu_before = time.thread_time()
    snapshot = probe(gateway, name, mesh)
    cpu = time.thread_time() - cpu_before

    assert snapshot.duration_seconds >= 1
    assert cpu < 0.1
