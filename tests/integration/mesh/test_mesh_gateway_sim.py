"""The gateway's changes against the simulator: each one undoes a breakage the
assessment saw, and a refused change says what to do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from simclients import Sdk

from azuresim.process import SimProcess
from mesh.assess import assess
from mesh.assessment import Verdict
from mesh.config import Mesh, load_config
from mesh.errors import Conflict, Rejected
from mesh.gateway import Gateway
from mesh.permissions import ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
from mesh.probe import probe, vault_resource_id
from mesh.retry import RetryPolicy

E_RG, E_MI, E_KV = "rg-tde-eastus2", "sqlmi-tde-eastus2", "kv-tde-eastus2"
C_RG, C_KV = "rg-tde-centralus", "kv-tde-centralus"
FAST = RetryPolicy(attempts=3, total_seconds=20, base_wait=0.05, max_wait=0.2)


@pytest.fixture
def mesh(simulator: SimProcess) -> tuple[str, Mesh]:
    return load_config(simulator.config_path).mesh()


@pytest.fixture
def gateway(mesh: tuple[str, Mesh]) -> Iterator[Gateway]:
    gateway = Gateway(mesh[1].endpoints(), retry=FAST)
    yield gateway
    gateway.close()


def verdict(gateway: Gateway, mesh: tuple[str, Mesh]) -> tuple[Verdict, frozenset[str]]:
    assessment = assess(probe(gateway, *mesh))
    return assessment.verdict, assessment.codes()


def test_approving_a_pending_endpoint_connection_restores_the_path(
    sdk: Sdk, gateway: Gateway, mesh: tuple[str, Mesh]
) -> None:
    connection = "pe-sqlmi-eastus2-kv-tde-centralus"
    sdk.keyvault_mgmt().private_endpoint_connections.put(
        C_RG,
        C_KV,
        connection,
        {"properties": {"privateLinkServiceConnectionState": {"status": "Pending"}}},
    )
    assert "ENDPOINT_NOT_APPROVED" in verdict(gateway, mesh)[1]

    gateway.approve_endpoint_connection(C_RG, C_KV, connection)

    assert verdict(gateway, mesh)[0] is Verdict.HEALTHY


def test_a_deleted_role_assignment_is_granted_back(
    gateway: Gateway, mesh: tuple[str, Mesh]
) -> None:
    principal = gateway.get_instance(E_RG, E_MI)["identity"]["principalId"]
    scope = vault_resource_id(mesh[1].subscription_id, C_RG, C_KV)
    for assignment in gateway.list_role_assignments(scope):
        if assignment["properties"]["principalId"] == principal:
            gateway.delete_role_assignment(scope, assignment["name"])
    assert "PERMISSION_MISSING" in verdict(gateway, mesh)[1]

    gateway.create_role_assignment(
        scope,
        str(uuid.uuid4()),
        ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
        principal,
    )

    assert verdict(gateway, mesh)[0] is Verdict.HEALTHY


def test_an_access_policy_vault_is_judged_by_its_policies(
    simulator: SimProcess, gateway: Gateway, mesh: tuple[str, Mesh]
) -> None:
    simulator.put_vault(C_KV, enable_rbac_authorization=False)
    codes = verdict(gateway, mesh)[1]
    assert "PERMISSION_MISSING" in codes

    for rg, instance in ((E_RG, E_MI), (C_RG, "sqlmi-tde-centralus")):
        principal = gateway.get_instance(rg, instance)["identity"]["principalId"]
        gateway.set_access_policy(
            C_RG, C_KV, principal, ["get", "wrapKey", "unwrapKey"]
        )

    assert "PERMISSION_MISSING" not in verdict(gateway, mesh)[1]


def test_a_rejected_connection_cannot_be_approved_and_says_recreate(
    sdk: Sdk, gateway: Gateway
) -> None:
    connection = "pe-sqlmi-eastus2-kv-tde-centralus"
    sdk.keyvault_mgmt().private_endpoint_connections.put(
        C_RG,
        C_KV,
        connection,
        {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}},
    )

    with pytest.raises(Rejected) as refused:
        gateway.approve_endpoint_connection(C_RG, C_KV, connection)

    assert "recreate" in refused.value.fix.lower()


def test_restoring_over_an_existing_key_is_a_conflict_with_a_fix(
    gateway: Gateway,
) -> None:
    backup = gateway.backup_key(E_KV, "tde-protector")

    with pytest.raises(Conflict) as refused:
        gateway.restore_key(C_KV, backup)

    assert refused.value.resource == C_KV and refused.value.fix


def test_the_protector_unwraps_and_revalidates(gateway: Gateway) -> None:
    kid = gateway.get_protector(E_RG, E_MI)["properties"]["uri"]
    gateway.unwrap_check(kid)
    gateway.revalidate_protector(E_RG, E_MI)
    assert gateway.update_vault(E_RG, E_KV, {"enablePurgeProtection": True})


def test_arm_reads_return_what_the_sdk_models_hold_as_azure_sent_it(
    gateway: Gateway, sdk: Sdk
) -> None:
    from mesh.errors import NotFound
    from mesh.gateway import wire

    rg, mi, nsg, pe = (
        "rg-tde-eastus2",
        "sqlmi-tde-eastus2",
        "nsg-sqlmi-eastus2",
        "pe-sqlmi-eastus2-kv-tde-centralus",
    )
    sql, network = sdk.sql(), sdk.network()
    instance = gateway.get_instance(rg, mi)
    pairs = [
        (instance, sql.managed_instances.get(rg, mi)),
        (
            gateway.get_protector(rg, mi),
            sql.managed_instance_encryption_protectors.get(rg, mi, "current"),
        ),
        (
            gateway.get_failover_group(rg, "eastus2", "fog-tde"),
            sql.instance_failover_groups.get(rg, "eastus2", "fog-tde"),
        ),
        (
            gateway.get_network_security_group(rg, nsg),
            network.network_security_groups.get(rg, nsg),
        ),
        (gateway.get_private_endpoint(rg, pe), network.private_endpoints.get(rg, pe)),
    ]
    for ours, model in pairs:
        assert ours == wire(model)
    assert instance["properties"]["subnetId"]
    with pytest.raises(NotFound):
        gateway.get_private_endpoint(rg, "pe-that-does-not-exist")
