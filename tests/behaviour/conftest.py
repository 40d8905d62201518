"""Behaviour tests run on a frozen simulated clock that only the test moves,
so every timer boundary can be checked to the second."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from simclients import Sdk

from azuresim import scenarios
from azuresim.clock import SimClock
from azuresim.process import SimProcess
from azuresim.state import World

EAST = ("rg-tde-eastus2", "sqlmi-tde-eastus2")
CENTRAL = ("rg-tde-centralus", "sqlmi-tde-centralus")
LRO_SECONDS = 20.0  # Timers.lro_duration
CHECK = 600.0  # Timers.key_check_interval
GRACE = 600.0  # Timers.inaccessible_after
HEAL_WINDOW = 1800.0  # Timers.auto_heal_window
ROLE_SWITCH = 120.0  # Timers.role_switch


class Estate:
    """The simulator on a frozen clock, seen through the real SDK clients
    and, for what Azure does not show (fallback, events), the admin API."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.sdk = Sdk(sim)
        self.sql = self.sdk.sql()
        self._events_seen = len(sim.events())

    def advance(self, seconds: float) -> None:
        self.sim.set_clock(advance_seconds=seconds)

    def align_to_key_check(self) -> None:
        """Move the frozen clock to the instances' next key check, so that
        checks fall exactly every CHECK seconds from here."""
        clock = datetime.fromisoformat(self.sim.clock()["now"])
        due = datetime.fromisoformat(
            self.instance_state("sqlmi-tde-eastus2")["key_access"]["next_check"]
        )
        self.advance(max((due - clock).total_seconds(), 0.0))

    def finish(self, poller: Any, seconds: float = LRO_SECONDS) -> Any:
        """Let a long-running operation run its course on the frozen clock."""
        self.advance(seconds)
        return poller.result()

    def instance_state(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = self.sim.state()["instances"][name]
        return state

    def using_fallback(self, name: str) -> bool:
        return bool(self.instance_state(name)["key_access"]["using_fallback"])

    def statuses(self, instance: tuple[str, str]) -> set[str]:
        return {
            d.status for d in self.sql.managed_databases.list_by_instance(*instance)
        }

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.sim.events(self._events_seen) if e["kind"] == kind]

    def protector_version(self, instance: tuple[str, str]) -> str:
        protector = self.sql.managed_instance_encryption_protectors.get(
            *instance, "current"
        )
        return str(protector.server_key_name).rsplit("_", 1)[-1]

    def revoke(self, instance: str, vault: str) -> None:
        """Remove the instance identity's role assignments on the vault."""
        principal = self.instance_state(instance)["principal_id"]
        auth = self.sdk.authorization()
        scope = (
            f"/subscriptions/{self.sdk.endpoints.subscription_id}/resourceGroups/"
            f"rg-tde-{vault.removeprefix('kv-tde-')}/providers/Microsoft.KeyVault/"
            f"vaults/{vault}"
        )
        for assignment in auth.role_assignments.list_for_scope(
            scope, filter=f"principalId eq '{principal}'"
        ):
            auth.role_assignments.delete(scope, assignment.name)

    def grant(self, instance: str, vault: str) -> None:
        principal = self.instance_state(instance)["principal_id"]
        scope = (
            f"/subscriptions/{self.sdk.endpoints.subscription_id}/resourceGroups/"
            f"rg-tde-{vault.removeprefix('kv-tde-')}/providers/Microsoft.KeyVault/"
            f"vaults/{vault}"
        )
        self.sdk.authorization().role_assignments.create(
            scope,
            "5d7c1a2e-0000-4000-8000-000000000001",
            {
                "properties": {
                    "roleDefinitionId": (
                        f"/subscriptions/{self.sdk.endpoints.subscription_id}/providers/"
                        "Microsoft.Authorization/roleDefinitions/"
                        "e147488a-f6f5-4113-8e2d-b22465e65bf6"
                    ),
                    "principalId": principal,
                    "principalType": "ServicePrincipal",
                }
            },
        )


@pytest.fixture
def estate(simulator: SimProcess) -> Iterator[Estate]:
    """The protected estate with the clock frozen (scale 0)."""
    simulator.set_clock(scale=0)
    estate = Estate(simulator)
    estate.align_to_key_check()
    yield estate


@pytest.fixture
def world() -> World:
    """The protected estate in-process, on a frozen clock, for the pure
    behaviour: no listeners (the vault ports are placeholders)."""
    built = World(clock=SimClock(scale=0))
    scenarios.build(
        built, "protected", {"kv-tde-eastus2": 1, "kv-tde-centralus": 2}.get
    )
    return built
