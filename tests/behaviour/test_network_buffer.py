"""The buffer Azure gives network/5xx-type key loss before databases are
moved to Inaccessible (documented as 24 hours), played in-process on a frozen
clock: a deliberate loss keeps its short grace period, access back inside the
buffer heals, and a failover inside it loses the encryption cache."""

from __future__ import annotations

import pytest

from azuresim import behaviour
from azuresim.state import ManagedInstance, SecurityRule, World
from tests.behaviour.conftest import CHECK, GRACE

DAY = 86400.0
EAST = "sqlmi-tde-eastus2"
CENTRAL = "sqlmi-tde-centralus"


@pytest.fixture
def buffered(world: World) -> World:
    world.timers.network_buffer = DAY
    return world


def advance(world: World, seconds: float) -> None:
    world.clock.advance(seconds)
    behaviour.tick(world)


def statuses(world: World, name: str) -> set[str]:
    return {d.status for d in world.instances[name].databases.values()}


def cut_both_vaults(world: World) -> None:
    """An NSG rule denying the east instance 443 to both vaults' endpoints,
    noticed at its next check."""
    world.network_security_groups["nsg-sqlmi-eastus2"].rules["deny-kv"] = SecurityRule(
        name="deny-kv",
        priority=100,
        direction="Outbound",
        access="Deny",
        protocol="Tcp",
        destination_address_prefix="10.10.1.0/24",
        destination_port_range="443",
    )
    advance(world, _until_next_check(world.instances[EAST], world))
    assert world.instances[EAST].key_access.lost_at == world.clock.now()


def _until_next_check(instance: ManagedInstance, world: World) -> float:
    due = instance.key_access.next_check
    assert due is not None
    return max((due - world.clock.now()).total_seconds(), 0.0)


def events(world: World, kind: str) -> list[dict[str, object]]:
    return [e for e in world.events if e["kind"] == kind]


def test_by_default_a_network_loss_goes_inaccessible_after_the_grace_period(
    world: World,
) -> None:
    cut_both_vaults(world)

    advance(world, GRACE - 1)
    assert statuses(world, EAST) == {"Online"}
    advance(world, 1)
    assert statuses(world, EAST) == {"Inaccessible"}


def test_a_network_loss_keeps_databases_online_for_the_buffer(
    buffered: World,
) -> None:
    cut_both_vaults(buffered)

    advance(buffered, DAY - 1)
    assert statuses(buffered, EAST) == {"Online"}
    advance(buffered, 1)
    assert statuses(buffered, EAST) == {"Inaccessible"}
    sales = buffered.instances[EAST].databases["sales"]
    assert sales.inaccessibility_error_code == "AkvEndpointNotReachableFromNode"


def test_access_back_inside_the_buffer_heals_at_the_next_check(
    buffered: World,
) -> None:
    cut_both_vaults(buffered)
    advance(buffered, 2 * 3600)
    del buffered.network_security_groups["nsg-sqlmi-eastus2"].rules["deny-kv"]

    advance(buffered, CHECK)
    assert buffered.instances[EAST].key_access.lost_at is None
    [healed] = events(buffered, "healed")
    assert healed["how"] == "auto-heal"
    advance(buffered, DAY)
    assert statuses(buffered, EAST) == {"Online"}


def test_a_deliberate_loss_keeps_the_short_grace_period(buffered: World) -> None:
    east = buffered.instances[EAST]
    for name, assignment in list(buffered.role_assignments.items()):
        if assignment.principal_id == east.principal_id:
            del buffered.role_assignments[name]
    advance(buffered, _until_next_check(east, buffered))

    advance(buffered, GRACE)
    assert statuses(buffered, EAST) == {"Inaccessible"}
    sales = east.databases["sales"]
    assert sales.inaccessibility_error_code == "AzureKeyVaultMissingPermissions"


def test_a_failover_inside_the_buffer_loses_the_encryption_cache(
    buffered: World,
) -> None:
    cut_both_vaults(buffered)
    advance(buffered, 3600)
    assert statuses(buffered, EAST) == {"Online"}

    group = buffered.failover_groups["fog-tde"]
    group.pending_switch = (CENTRAL, buffered.clock.now())
    advance(buffered, 0)

    assert group.primary_instance == CENTRAL
    assert statuses(buffered, EAST) == {"Inaccessible"}
    assert statuses(buffered, CENTRAL) == {"Online"}
    [lost] = events(buffered, "encryption-cache-lost")
    assert lost["instance"] == EAST
