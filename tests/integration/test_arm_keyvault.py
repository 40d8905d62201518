"""Microsoft.KeyVault through the real KeyVaultManagementClient: vaults,
their protections, access policies and private endpoint connections."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from simclients import Sdk

from azuresim.process import SimProcess

RG = "rg-tde-eastus2"
VAULT = "kv-tde-eastus2"
PEC = "pe-sqlmi-eastus2-kv-tde-eastus2"
TENANT = "11111111-1111-1111-1111-111111111111"


def test_vault_shows_its_protections_and_connections(sdk: Sdk) -> None:
    vault = sdk.keyvault_mgmt().vaults.get(RG, VAULT)
    props = vault.properties

    assert props.enable_soft_delete is True
    assert props.enable_purge_protection is True
    assert props.soft_delete_retention_in_days == 90
    assert props.enable_rbac_authorization is True
    assert props.public_network_access == "Disabled"
    assert props.vault_uri == sdk.endpoints.vaults[VAULT] + "/"
    states = {
        c.private_link_service_connection_state.status
        for c in props.private_endpoint_connections
    }
    assert states == {"Approved"}
    assert len(props.private_endpoint_connections) == 2


def test_vaults_list(sdk: Sdk) -> None:
    kvm = sdk.keyvault_mgmt()
    assert [v.name for v in kvm.vaults.list_by_resource_group(RG)] == [VAULT]
    assert len(list(kvm.vaults.list_by_subscription())) == 2


def test_missing_vault_is_not_found(sdk: Sdk) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        sdk.keyvault_mgmt().vaults.get(RG, "kv-nope")
    assert missing.value.error.code == "ResourceNotFound"


def test_purge_protection_cannot_be_disabled(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as refused:
        sdk.keyvault_mgmt().vaults.update(
            RG, VAULT, {"properties": {"enablePurgeProtection": False}}
        )
    assert refused.value.status_code == 400
    assert "irreversible" in refused.value.message


def test_soft_delete_retention_is_fixed_after_creation(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError):
        sdk.keyvault_mgmt().vaults.update(
            RG, VAULT, {"properties": {"softDeleteRetentionInDays": 30}}
        )


def test_update_network_settings(sdk: Sdk) -> None:
    updated = sdk.keyvault_mgmt().vaults.update(
        RG,
        VAULT,
        {
            "properties": {
                "publicNetworkAccess": "Enabled",
                "networkAcls": {
                    "bypass": "None",
                    "defaultAction": "Deny",
                    "ipRules": [{"value": "203.0.113.7"}],
                },
            }
        },
    )
    assert updated.properties.public_network_access == "Enabled"
    assert updated.properties.network_acls.bypass == "None"
    assert updated.properties.network_acls.ip_rules[0].value == "203.0.113.7"


def test_create_a_vault_then_enable_purge_protection(
    sdk: Sdk, simulator: SimProcess
) -> None:
    kvm = sdk.keyvault_mgmt()
    body = {
        "location": "eastus2",
        "properties": {
            "tenantId": TENANT,
            "sku": {"family": "A", "name": "standard"},
            "accessPolicies": [],
            "enableRbacAuthorization": True,
        },
    }
    created = kvm.vaults.begin_create_or_update(RG, "kv-extra", body).result()
    assert created.properties.provisioning_state == "Succeeded"
    assert created.properties.enable_purge_protection is None
    assert "kv-extra" in simulator.endpoints.vaults

    updated = kvm.vaults.update(
        RG, "kv-extra", {"properties": {"enablePurgeProtection": True}}
    )
    assert updated.properties.enable_purge_protection is True


def test_access_policies_add_replace_remove(sdk: Sdk) -> None:
    kvm = sdk.keyvault_mgmt()
    object_id = "0f0f0f0f-0000-4000-8000-000000000001"

    def policy(*keys: str) -> dict[str, object]:
        return {
            "properties": {
                "accessPolicies": [
                    {
                        "tenantId": TENANT,
                        "objectId": object_id,
                        "permissions": {"keys": list(keys)},
                    }
                ]
            }
        }

    def held() -> list[str]:
        vault = kvm.vaults.get(RG, VAULT)
        return [
            key
            for p in vault.properties.access_policies
            if p.object_id == object_id
            for key in p.permissions.keys_property
        ]

    kvm.vaults.update_access_policy(RG, VAULT, "add", policy("get", "wrapKey"))
    kvm.vaults.update_access_policy(RG, VAULT, "add", policy("unwrapKey"))
    assert held() == ["get", "wrapKey", "unwrapKey"]
    kvm.vaults.update_access_policy(RG, VAULT, "remove", policy("wrapKey"))
    assert held() == ["get", "unwrapKey"]
    kvm.vaults.update_access_policy(RG, VAULT, "replace", policy("list"))
    assert held() == ["list"]


def test_private_endpoint_connection_reject_and_approve(sdk: Sdk) -> None:
    connections = sdk.keyvault_mgmt().private_endpoint_connections

    rejected = connections.put(
        RG,
        VAULT,
        PEC,
        {
            "properties": {
                "privateLinkServiceConnectionState": {
                    "status": "Rejected",
                    "description": "drill",
                }
            }
        },
    )
    assert rejected.private_link_service_connection_state.status == "Rejected"
    assert rejected.provisioning_state == "Updating"
    assert connections.get(
        RG, VAULT, PEC
    ).private_link_service_connection_state.status == ("Rejected")
    listed = list(connections.list_by_resource(RG, VAULT))
    assert len(listed) == 2

    with pytest.raises(HttpResponseError) as refused:
        connections.put(
            RG,
            VAULT,
            PEC,
            {
                "properties": {
                    "privateLinkServiceConnectionState": {"status": "Approved"}
                }
            },
        )
    assert refused.value.error.code == "PrivateEndpointConnectionRejected"


def test_private_endpoint_connection_delete(sdk: Sdk) -> None:
    connections = sdk.keyvault_mgmt().private_endpoint_connections
    deleted = connections.begin_delete(RG, VAULT, PEC).result()

    assert deleted.private_link_service_connection_state.status == "Disconnected"
    with pytest.raises(ResourceNotFoundError):
        connections.get(RG, VAULT, PEC)
    endpoint = sdk.network().private_endpoints.get(RG, PEC)
    state = endpoint.private_link_service_connections[0]
    assert state.private_link_service_connection_state.status == "Disconnected"
