"""The two starting estates hold what the TEAM contract promises."""

from __future__ import annotations

import time

import pytest

from azuresim import scenarios
from azuresim.clock import SimClock
from azuresim.permissions import key_permissions
from azuresim.state import World


def _built(name: str) -> World:
    world = World(clock=SimClock())
    ports = {"kv-tde-eastus2": 41001, "kv-tde-centralus": 41002}
    scenarios.build(world, name, ports.__getitem__)
    return world


def test_greenfield_has_service_managed_instances_and_no_customer_key() -> None:
    world = _built("greenfield")

    for instance in world.instances.values():
        assert instance.protector.server_key_type == "ServiceManaged"
        assert instance.keys == {}
        assert instance.principal_id
    assert all(not vault.keys for vault in world.vaults.values())
    group = world.failover_groups["fog-tde"]
    assert group.primary_instance == "sqlmi-tde-eastus2"


def test_greenfield_vaults_are_protected_and_reachable_by_the_operator() -> None:
    world = _built("greenfield")

    for vault in world.vaults.values():
        assert vault.enable_soft_delete and vault.enable_purge_protection
        assert {c.status for c in vault.private_endpoint_connections} == {"Approved"}
        granted = key_permissions(world, vault, scenarios.OPERATOR_OBJECT_ID)
        assert {"create", "backup", "restore", "wrapKey"} <= granted
    assert world.vaults["kv-tde-centralus"].port == 41002


def test_protected_registers_the_same_material_everywhere() -> None:
    world = _built("protected")

    east = world.vaults["kv-tde-eastus2"].keys["tde-protector"].latest
    central = world.vaults["kv-tde-centralus"].keys["tde-protector"].latest
    assert east.version == central.version
    assert east.thumbprint == central.thumbprint
    for instance in world.instances.values():
        assert len(instance.keys) == 2
        assert instance.protector.server_key_name.startswith(
            f"kv-tde-{instance.location}_tde-protector_"
        )
        for vault in world.vaults.values():
            granted = key_permissions(world, vault, instance.principal_id or "")
            assert {"get", "wrapKey", "unwrapKey"} <= granted


def test_reset_is_fast_after_the_first_build() -> None:
    _built("protected")
    started = time.perf_counter()
    for _ in range(20):
        _built("protected")
    assert time.perf_counter() - started < 0.5


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        _built("brownfield")
