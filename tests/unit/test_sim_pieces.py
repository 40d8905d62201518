"""Small pure pieces of the simulator: fault matching, durations, recovery
levels, backup sealing, the tdemesh.toml it writes."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from azuresim import backup
from azuresim.clock import SimClock
from azuresim.errors import VaultError
from azuresim.faults import operation_matches, take_matching_rule
from azuresim.keyvault_api import iso_duration, recovery_level, route
from azuresim.scenarios import build
from azuresim.server import mesh_config
from azuresim.state import FaultRule, Key, KeyVersion, Vault, World, generate_rsa


@pytest.mark.parametrize(
    ("operation", "method", "path", "expected"),
    [
        ("*", "GET", "/keys/a", True),
        ("PUT keys", "PUT", "/keys/a", True),
        ("PUT keys", "GET", "/keys/a", False),
        ("unwrapkey", "POST", "/keys/a/v/unwrapkey", True),
        ("unwrapkey", "POST", "/keys/a/v/wrapkey", False),
        ("GET", "GET", "/anything", True),
        ("encryptionProtector", "PUT", "/x/encryptionprotector/current", True),
    ],
)
def test_fault_operation_matching(
    operation: str, method: str, path: str, expected: bool
) -> None:
    assert operation_matches(operation, method, path) is expected


def test_a_limited_fault_counts_down_and_disappears() -> None:
    world = World(clock=SimClock())
    world.faults.append(FaultRule(id="f", kind="error", listener="arm", remaining=2))
    assert take_matching_rule(world, "kv-a", "GET", "/") is None
    assert take_matching_rule(world, "arm", "GET", "/") is not None
    assert take_matching_rule(world, "arm", "GET", "/") is not None
    assert take_matching_rule(world, "arm", "GET", "/") is None
    assert world.faults == []


@pytest.mark.parametrize(
    ("text", "days"), [("P90D", 90), ("P1Y", 365), ("P2M", 60), ("P1W", 7)]
)
def test_iso_durations(text: str, days: int) -> None:
    assert iso_duration(text) == timedelta(days=days)


@pytest.mark.parametrize("text", ["", "P", "90D", "PXD"])
def test_bad_iso_durations_are_refused(text: str) -> None:
    with pytest.raises(VaultError):
        iso_duration(text)


def test_recovery_levels_follow_the_vault_protections() -> None:
    vault = Vault("kv", "rg", "eastus2")
    assert recovery_level(vault) == "Recoverable"
    vault.soft_delete_retention_days = 7
    assert recovery_level(vault) == "CustomizedRecoverable"
    vault.enable_purge_protection = False
    assert recovery_level(vault) == "CustomizedRecoverable+Purgeable"
    vault.soft_delete_retention_days = 90
    assert recovery_level(vault) == "Recoverable+Purgeable"
    vault.enable_soft_delete = False
    assert recovery_level(vault) == "Purgeable"


@pytest.mark.parametrize(
    ("method", "path", "handler"),
    [
        ("GET", "/keys/k/", "get_key"),
        ("GET", "/keys/k/versions", "list_versions"),
        ("POST", "/keys/k//wrapkey", "crypto_operation"),
        ("POST", "/keys/restore", "restore_key"),
        ("POST", "/deletedkeys/k/recover", "recover_deleted_key"),
    ],
)
def test_routes(method: str, path: str, handler: str) -> None:
    assert route(method, path)[0].__name__ == handler


def test_unknown_route_and_wrong_method() -> None:
    with pytest.raises(VaultError) as caught:
        route("GET", "/secrets/s")
    assert caught.value.status == 404
    with pytest.raises(VaultError) as caught:
        route("DELETE", "/keys/k/versions")
    assert caught.value.status == 405


def test_backup_opens_only_unaltered() -> None:
    clock = SimClock()
    version = KeyVersion(
        "a" * 32, generate_rsa(2048), "RSA", ["wrapKey"], True, clock.now(), clock.now()
    )
    blob = backup.seal(Key("k", [version]), "sub", "US")
    opened = backup.open_blob(blob)
    assert (opened.subscription_id, opened.geography) == ("sub", "US")
    assert opened.key.latest.thumbprint == version.thumbprint
    with pytest.raises(backup.BackupUnreadable):
        backup.open_blob(blob[:-1] + bytes([blob[-1] ^ 1]))


def test_mesh_config_lists_both_regions_primary_first(tmp_path: Path) -> None:
    world = World(clock=SimClock())
    ports = iter(range(40000, 40010))
    build(world, "protected", lambda name: next(ports))
    config = tomllib.loads(mesh_config(world, tmp_path / "endpoints.json"))
    regions = config["meshes"]["sim"]["regions"]
    assert list(regions) == ["eastus2", "centralus"]
    assert regions["centralus"]["network_security_group"] == "nsg-sqlmi-centralus"
    assert regions["centralus"]["private_endpoints"] == {
        "kv-tde-centralus": "pe-sqlmi-centralus-kv-tde-centralus",
        "kv-tde-eastus2": "pe-sqlmi-centralus-kv-tde-eastus2",
    }
