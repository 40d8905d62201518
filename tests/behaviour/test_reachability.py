"""The network model: which security rules cut an instance's path to a
vault, evaluated the way Azure evaluates them (lowest priority number first,
first match decides)."""

from __future__ import annotations

import time

import pytest

from azuresim import behaviour
from azuresim.reachability import path_open
from azuresim.state import Outage, SecurityRule, World


def east_to_east(world: World) -> tuple[bool, str]:
    return path_open(
        world, world.instances["sqlmi-tde-eastus2"], world.vaults["kv-tde-eastus2"]
    )


def add_rule(world: World, **fields: object) -> None:
    defaults: dict[str, object] = {
        "name": "drill",
        "priority": 100,
        "direction": "Outbound",
        "access": "Deny",
        "protocol": "Tcp",
        "destination_address_prefix": "10.10.1.4",
        "destination_port_range": "443",
    }
    rule = SecurityRule(**{**defaults, **fields})  # type: ignore[arg-type]
    world.network_security_groups["nsg-sqlmi-eastus2"].rules[rule.name] = rule


def test_all_paths_are_open_in_the_protected_estate(world: World) -> None:
    for instance in world.instances.values():
        for vault in world.vaults.values():
            assert path_open(world, instance, vault) == (True, "")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"destination_address_prefix": "10.10.1.0/24"},
        {"destination_address_prefix": "*"},
        {"destination_address_prefix": "VirtualNetwork"},
        {"destination_port_range": "400-500"},
        {"destination_port_range": "*", "protocol": "*"},
        {
            "destination_address_prefix": "",
            "destination_address_prefixes": ["10.9.0.0/16", "10.10.1.4/32"],
        },
        {"destination_port_range": "", "destination_port_ranges": ["80", "443"]},
        {"source_address_prefix": "10.10.0.0/24"},
        {"source_address_prefixes": ["10.10.0.0/16"]},
    ],
)
def test_a_matching_deny_cuts_the_path(world: World, fields: dict[str, object]) -> None:
    add_rule(world, **fields)
    is_open, reason = east_to_east(world)
    assert not is_open
    assert "nsg-sqlmi-eastus2 rule drill (priority 100)" in reason
    assert "10.10.1.4" in reason


@pytest.mark.parametrize(
    "fields",
    [
        {"destination_address_prefix": "10.10.1.5"},
        {"destination_port_range": "1433"},
        {"destination_port_range": "444-450"},
        {"protocol": "Udp"},
        {"direction": "Inbound"},
        {"destination_address_prefix": "AzureKeyVault"},
        {"source_address_prefix": "10.20.0.0/24"},
        {"priority": 300},  # after the allow rule at 200
    ],
)
def test_a_deny_that_does_not_match_first_leaves_the_path_open(
    world: World, fields: dict[str, object]
) -> None:
    add_rule(world, **fields)
    assert east_to_east(world) == (True, "")


def test_a_higher_priority_allow_wins_over_a_deny(world: World) -> None:
    add_rule(world, name="deny", priority=150)
    add_rule(world, name="allow", priority=120, access="Allow")
    assert east_to_east(world)[0]


def test_a_rejected_connection_cuts_the_path(world: World) -> None:
    vault = world.vaults["kv-tde-eastus2"]
    vault.private_endpoint_connections[0].status = "Rejected"
    is_open, reason = east_to_east(world)
    assert not is_open
    assert "is Rejected" in reason


def test_a_missing_endpoint_cuts_the_path(world: World) -> None:
    del world.private_endpoints["pe-sqlmi-eastus2-kv-tde-eastus2"]
    is_open, reason = east_to_east(world)
    assert not is_open
    assert "no private endpoint" in reason


def test_an_outage_cuts_the_path_until_it_ends(world: World) -> None:
    world.outages["kv-tde-eastus2"] = Outage("kv-tde-eastus2", until=world.clock.now())
    assert east_to_east(world)[0]
    world.outages["kv-tde-eastus2"] = Outage("kv-tde-eastus2")
    assert "outage" in east_to_east(world)[1]


def test_tick_is_cheap_when_nothing_is_due(world: World) -> None:
    behaviour.tick(world)
    started = time.perf_counter()
    for _ in range(1000):
        behaviour.tick(world)
    assert (time.perf_counter() - started) / 1000 < 0.001


def test_a_year_long_clock_jump_stays_bounded(world: World) -> None:
    world.clock.advance(365 * 86400)
    started = time.perf_counter()
    behaviour.tick(world)
    assert time.perf_counter() - started < 5
    assert world.instances["sqlmi-tde-eastus2"].key_access.next_check is not None


def test_a_revocation_lingers_for_the_propagation_delay(world: World) -> None:
    world.timers.permission_propagation = 600
    instance = world.instances["sqlmi-tde-eastus2"]
    uri = instance.keys[instance.protector.server_key_name].uri
    for name, assignment in list(world.role_assignments.items()):
        if assignment.principal_id == instance.principal_id:
            del world.role_assignments[name]

    assert behaviour.key_problem(world, instance, uri) is None
    world.clock.advance(599)
    assert behaviour.key_problem(world, instance, uri) is None
    world.clock.advance(1)
    problem = behaviour.key_problem(world, instance, uri)
    assert problem is not None
    assert problem.code == "AzureKeyVaultMissingPermissions"
