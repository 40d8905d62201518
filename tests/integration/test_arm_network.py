"""Microsoft.Network through the real NetworkManagementClient: private
endpoints, network security groups and their security rules."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from simclients import Sdk

RG = "rg-tde-eastus2"
NSG = "nsg-sqlmi-eastus2"


def deny_rule(priority: int = 100, **extra: object) -> dict[str, object]:
    return {
        "properties": {
            "priority": priority,
            "direction": "Outbound",
            "access": "Deny",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "10.10.1.4/32",
            "destinationPortRange": "443",
            **extra,
        }
    }


def test_private_endpoint_shows_state_and_address(sdk: Sdk) -> None:
    endpoint = sdk.network().private_endpoints.get(
        RG, "pe-sqlmi-eastus2-kv-tde-eastus2"
    )

    [connection] = endpoint.private_link_service_connections
    assert connection.private_link_service_connection_state.status == "Approved"
    assert connection.private_link_service_id.endswith("/vaults/kv-tde-eastus2")
    assert endpoint.custom_dns_configs[0].ip_addresses == ["10.10.1.4"]
    assert endpoint.ip_configurations[0].private_ip_address == "10.10.1.4"
    assert endpoint.subnet.id.endswith("/subnets/snet-endpoints")


def test_private_endpoints_list_by_group_and_subscription(sdk: Sdk) -> None:
    network = sdk.network()
    in_group = sorted(e.name for e in network.private_endpoints.list(RG))
    everywhere = list(network.private_endpoints.list_by_subscription())

    assert in_group == [
        "pe-sqlmi-eastus2-kv-tde-centralus",
        "pe-sqlmi-eastus2-kv-tde-eastus2",
    ]
    assert len(everywhere) == 4


def test_endpoint_state_follows_the_vault_connection(sdk: Sdk) -> None:
    sdk.keyvault_mgmt().private_endpoint_connections.put(
        RG,
        "kv-tde-eastus2",
        "pe-sqlmi-eastus2-kv-tde-eastus2",
        {"properties": {"privateLinkServiceConnectionState": {"status": "Rejected"}}},
    )
    endpoint = sdk.network().private_endpoints.get(
        RG, "pe-sqlmi-eastus2-kv-tde-eastus2"
    )
    state = endpoint.private_link_service_connections[0]
    assert state.private_link_service_connection_state.status == "Rejected"


def test_missing_endpoint_is_not_found(sdk: Sdk) -> None:
    with pytest.raises(ResourceNotFoundError) as missing:
        sdk.network().private_endpoints.get(RG, "pe-nope")
    assert missing.value.error.code == "ResourceNotFound"


def test_nsg_get_and_list(sdk: Sdk) -> None:
    network = sdk.network()
    nsg = network.network_security_groups.get(RG, NSG)

    assert [r.name for r in nsg.security_rules] == ["allow-keyvault-endpoints-out"]
    assert all(r.access == "Allow" for r in nsg.security_rules)
    assert {r.name for r in nsg.default_security_rules} >= {"DenyAllOutBound"}
    assert nsg.subnets[0].id.endswith("/subnets/snet-sqlmi")
    assert len(list(network.network_security_groups.list(RG))) == 1
    assert len(list(network.network_security_groups.list_all())) == 2


def test_security_rule_create_get_list_delete(sdk: Sdk) -> None:
    rules = sdk.network().security_rules

    created = rules.begin_create_or_update(RG, NSG, "deny-kv", deny_rule()).result()
    assert created.access == "Deny"
    assert created.provisioning_state == "Succeeded"
    assert rules.get(RG, NSG, "deny-kv").destination_address_prefix == "10.10.1.4/32"
    assert {r.name for r in rules.list(RG, NSG)} == {
        "allow-keyvault-endpoints-out",
        "deny-kv",
    }

    rules.begin_delete(RG, NSG, "deny-kv").result()
    with pytest.raises(ResourceNotFoundError):
        rules.get(RG, NSG, "deny-kv")


def test_security_rule_with_plural_prefixes_and_ranges(sdk: Sdk) -> None:
    body = deny_rule(
        destinationAddressPrefix=None,
        destinationPortRange=None,
        destinationAddressPrefixes=["10.10.1.4", "10.10.1.5"],
        destinationPortRanges=["440-450", "8443"],
    )
    created = (
        sdk.network()
        .security_rules.begin_create_or_update(RG, NSG, "deny-both", body)
        .result()
    )
    assert created.destination_address_prefixes == ["10.10.1.4", "10.10.1.5"]
    assert created.destination_port_ranges == ["440-450", "8443"]
    assert created.destination_address_prefix is None


def test_security_rule_priority_conflict_and_range_are_refused(sdk: Sdk) -> None:
    rules = sdk.network().security_rules
    with pytest.raises(HttpResponseError) as conflict:
        rules.begin_create_or_update(RG, NSG, "again", deny_rule(priority=200))
    assert conflict.value.error.code == "SecurityRuleConflict"

    with pytest.raises(HttpResponseError) as invalid:
        rules.begin_create_or_update(RG, NSG, "low", deny_rule(priority=5000))
    assert invalid.value.error.code == "SecurityRuleInvalidPriority"


def test_nsg_create_update_and_delete(sdk: Sdk) -> None:
    groups = sdk.network().network_security_groups
    body = {
        "location": "eastus2",
        "properties": {"securityRules": [{"name": "deny-kv", **deny_rule()}]},
    }
    created = groups.begin_create_or_update(RG, "nsg-extra", body).result()
    assert [r.name for r in created.security_rules] == ["deny-kv"]

    groups.begin_delete(RG, "nsg-extra").result()
    with pytest.raises(ResourceNotFoundError):
        groups.get(RG, "nsg-extra")


def test_nsg_in_use_cannot_be_deleted(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as refused:
        sdk.network().network_security_groups.begin_delete(RG, NSG)
    assert refused.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"


def test_subnets_show_their_address_range_and_security_group(sdk: Sdk) -> None:
    network = sdk.network()
    instance = network.subnets.get(RG, "vnet-sqlmi-eastus2", "snet-sqlmi")
    endpoints = network.subnets.get(RG, "vnet-sqlmi-eastus2", "snet-endpoints")
    listed = list(network.subnets.list(RG, "vnet-sqlmi-eastus2"))

    assert instance.address_prefix == "10.10.0.0/24"
    assert instance.network_security_group.id.endswith(f"/networkSecurityGroups/{NSG}")
    assert instance.delegations[0].service_name == "Microsoft.Sql/managedInstances"
    assert endpoints.address_prefix == "10.10.1.0/24"
    assert len(endpoints.private_endpoints) == 2
    assert sorted(s.name for s in listed) == ["snet-endpoints", "snet-sqlmi"]
    with pytest.raises(ResourceNotFoundError):
        network.subnets.get(RG, "vnet-sqlmi-eastus2", "nope")
