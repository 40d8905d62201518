"""`tdemesh check` on the simulator: what an operator sees, and the exit code.

Each breakage is made the way an operator or an incident would make it: an
SDK call against the simulated Azure. Exit codes: 0 healthy, 1 degraded,
2 critical, 3 unknown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from simclients import Sdk

from azuresim.process import SimProcess
from mesh.config import load_config
from mesh.gateway import Gateway
from tdemesh.cli_mesh import check, discover

E_RG, E_MI, E_KV, E_NSG = (
    "rg-tde-eastus2",
    "sqlmi-tde-eastus2",
    "kv-tde-eastus2",
    "nsg-sqlmi-eastus2",
)
C_RG, C_MI, C_KV = "rg-tde-centralus", "sqlmi-tde-centralus", "kv-tde-centralus"
E_TO_E, E_TO_C = "10.10.1.4", "10.10.1.5"  # eastus2's endpoints to each vault


@pytest.fixture(autouse=True)
def own_log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI logs to a file; keep it out of the user's log directory and
    leave the loggers as other tests expect them."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    loggers = [logging.getLogger(name) for name in ("tdemesh", "azure")]
    saved = [(list(lg.handlers), lg.propagate, lg.level) for lg in loggers]
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        for handler in logger.handlers[:]:
            if handler not in handlers:
                logger.removeHandler(handler)
                handler.close()
        logger.propagate, logger.level = propagate, level


def run_check(sim: SimProcess, *args: str) -> Result:
    return CliRunner().invoke(check, ["--config", str(sim.config_path), *args])


def codes(sim: SimProcess) -> tuple[int, set[str], dict[str, Any]]:
    result = run_check(sim, "--json")
    data = json.loads(result.stdout)
    return result.exit_code, {f["code"] for f in data["findings"]}, data


def deny(sdk: Sdk, name: str, address: str, priority: int = 100) -> None:
    sdk.network().security_rules.begin_create_or_update(
        E_RG,
        E_NSG,
        name,
        {
            "properties": {
                "priority": priority,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": f"{address}/32",
                "destinationPortRange": "443",
            }
        },
    ).result()


def revoke(
    sdk: Sdk, sim: SimProcess, instance_rg: str, instance: str, vault: str
) -> None:
    principal = (
        sdk.sql().managed_instances.get(instance_rg, instance).identity.principal_id
    )
    rg = E_RG if vault == E_KV else C_RG
    scope = (
        f"/subscriptions/{sim.endpoints.subscription_id}/resourceGroups/{rg}/"
        f"providers/Microsoft.KeyVault/vaults/{vault}"
    )
    authorization = sdk.authorization()
    for assignment in authorization.role_assignments.list_for_scope(scope):
        if assignment.principal_id == principal:
            authorization.role_assignments.delete(scope, assignment.name)


def test_the_protected_scenario_exits_0(simulator: SimProcess) -> None:
    result = run_check(simulator)
    assert result.exit_code == 0, result.output
    assert "HEALTHY" in result.stdout
    assert "sqlmi-tde-eastus2" in result.stdout and "kv-tde-centralus" in result.stdout


def test_an_nsg_deny_is_named_with_its_fix_and_removing_it_heals(
    simulator: SimProcess, sdk: Sdk
) -> None:
    deny(sdk, "deny-kv-drill", E_TO_E)

    cut = run_check(simulator)
    assert cut.exit_code != 0
    assert "deny-kv-drill" in cut.stdout
    assert "sqlmi-tde-eastus2 -> kv-tde-eastus2" in cut.stdout
    assert "az network nsg rule delete" in cut.stdout

    sdk.network().security_rules.begin_delete(E_RG, E_NSG, "deny-kv-drill").result()
    healed = run_check(simulator)
    assert healed.exit_code == 0, healed.stdout


def test_both_paths_cut_is_critical_with_deadlines(
    simulator: SimProcess, sdk: Sdk
) -> None:
    deny(sdk, "deny-home", E_TO_E, 100)
    deny(sdk, "deny-remote", E_TO_C, 101)

    exit_code, found, data = codes(simulator)

    assert exit_code == 2
    assert "PROTECTOR_UNAVAILABLE" in found
    assert {d["kind"] for d in data["deadlines"]} >= {"auto_heal"}
    path = next(p for p in data["paths"] if (p["instance"], p["vault"]) == (E_MI, C_KV))
    assert path["reachable"] is False and path["usable"] is False


def test_a_disabled_protector_key_is_critical(simulator: SimProcess, sdk: Sdk) -> None:
    with sdk.key_client(E_KV) as client:
        version = client.get_key("tde-protector").properties.version
        client.update_key_properties("tde-protector", version, enabled=False)

    exit_code, found, _ = codes(simulator)

    assert exit_code == 2
    assert {"KEY_DISABLED", "PROTECTOR_UNAVAILABLE"} <= found


def test_a_rejected_endpoint_connection_is_reported(
    simulator: SimProcess, sdk: Sdk
) -> None:
    sdk.keyvault_mgmt().private_endpoint_connections.put(
        C_RG,
        C_KV,
        "pe-sqlmi-eastus2-kv-tde-centralus",
        {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}},
    )

    exit_code, found, _ = codes(simulator)

    assert exit_code == 1
    assert {"ENDPOINT_NOT_APPROVED", "SINGLE_KEY_PATH"} <= found


def test_a_revoked_role_on_the_other_vault_degrades(
    simulator: SimProcess, sdk: Sdk
) -> None:
    revoke(sdk, simulator, E_RG, E_MI, C_KV)

    result = run_check(simulator)

    assert result.exit_code == 1
    assert "PERMISSION_MISSING" in result.stdout
    assert "Key Vault Crypto Service Encryption User" in result.stdout


def test_inaccessible_databases_carry_the_root_cause(
    simulator: SimProcess, sdk: Sdk
) -> None:
    revoke(sdk, simulator, E_RG, E_MI, E_KV)
    revoke(sdk, simulator, E_RG, E_MI, C_KV)
    simulator.set_clock(advance_seconds=21 * 60)  # next key check + 10 min

    exit_code, found, data = codes(simulator)

    assert exit_code == 2
    assert "DATABASE_INACCESSIBLE" in found
    finding = next(f for f in data["findings"] if f["code"] == "DATABASE_INACCESSIBLE")
    assert "lacks" in finding["what"] and "Root cause" in finding["what"]


def test_auto_rotation_on_one_instance_only_is_flagged(simulator: SimProcess) -> None:
    _, mesh = load_config(simulator.config_path).mesh()
    gateway = Gateway(mesh.endpoints())
    try:
        current = gateway.get_protector(E_RG, E_MI)["properties"]["serverKeyName"]
        gateway.set_protector(E_RG, E_MI, current, auto_rotation=True)
    finally:
        gateway.close()

    exit_code, found, _ = codes(simulator)

    assert exit_code == 1
    assert "AUTO_ROTATION_ONE_SIDED" in found


def test_an_old_version_disabled_after_a_rotation_is_flagged(
    simulator: SimProcess,
) -> None:
    _, mesh = load_config(simulator.config_path).mesh()
    gateway = Gateway(mesh.endpoints())
    try:
        old = gateway.get_key(E_KV, "tde-protector")
        new = gateway.rotate_key(E_KV, "tde-protector")
        order = ((C_RG, C_MI), (E_RG, E_MI))  # secondary first
        names = [gateway.register_instance_key(rg, mi, new.kid) for rg, mi in order]
        for (rg, instance), registered in zip(order, names, strict=True):
            gateway.set_protector(rg, instance, registered["name"])
        gateway.update_key(E_KV, "tde-protector", old.version, enabled=False)
    finally:
        gateway.close()

    exit_code, found, data = codes(simulator)

    assert exit_code == 1, data["findings"]
    assert "OLD_VERSION_DISABLED" in found
    # The new material exists in one vault only: no second path yet.
    assert "KEY_MATERIAL_MISSING" in found


def test_the_greenfield_scenario_is_not_yet_protected(greenfield: SimProcess) -> None:
    exit_code, found, _ = codes(greenfield)
    assert exit_code == 1
    assert "PROTECTOR_SERVICE_MANAGED" in found


def test_a_config_error_exits_3_with_the_fix_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "tdemesh.toml"
    bad.write_text('[meshes.x]\ncloud = "Azure"\n', encoding="utf-8")

    result = CliRunner().invoke(check, ["--config", str(bad)])

    assert result.exit_code == 3
    assert str(bad) in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_with_no_config_it_starts_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TDEMESH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    result = CliRunner().invoke(check, ["--state-dir", str(tmp_path / "sim")])

    assert result.exit_code == 0, result.output
    assert "starting the built-in simulator" in result.stderr


def test_discover_writes_the_config_the_simulator_describes(
    simulator: SimProcess, tmp_path: Path
) -> None:
    out = tmp_path / "found.toml"

    result = CliRunner().invoke(
        discover,
        [
            "--cloud",
            "Simulator",
            "--endpoints-file",
            str(simulator.endpoints_path),
            "--mesh",
            "sim",
            "--out",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.output
    found = load_config(out).meshes["sim"]
    expected = load_config(simulator.config_path).meshes["sim"]
    assert found.regions == expected.regions
    assert found.failover_group == expected.failover_group
    again = CliRunner().invoke(check, ["--config", str(out)])
    assert again.exit_code == 0


def test_a_refused_credential_is_unknown_not_degraded(
    simulator: SimProcess, tmp_path: Path
) -> None:
    endpoints = json.loads(simulator.endpoints_path.read_text())
    endpoints["client_secret"] = "not-the-secret"
    wrong = tmp_path / "endpoints.json"
    wrong.write_text(json.dumps(endpoints))
    config = tmp_path / "tdemesh.toml"
    config.write_text(
        simulator.config_path.read_text().replace(
            str(simulator.endpoints_path), str(wrong)
        )
    )

    result = CliRunner().invoke(check, ["--config", str(config)])

    assert result.exit_code == 3, result.output
    assert "nothing of mesh sim could be read" in result.stderr
    assert "fix:" in result.stderr
    assert "get_token_info failed" not in result.stderr  # the SDK's own noise
    assert "Traceback" not in result.output + result.stderr
