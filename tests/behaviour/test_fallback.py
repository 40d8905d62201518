"""When the protector's vault is unreachable the instance falls back to the
same key material in the other vault; when access was taken away on
purpose, it does not."""

from __future__ import annotations

from tests.behaviour.conftest import CHECK, EAST, GRACE, Estate


def deny_rule(estate: Estate, address: str) -> None:
    poller = estate.sdk.network().security_rules.begin_create_or_update(
        "rg-tde-eastus2",
        "nsg-sqlmi-eastus2",
        "deny-kv-drill",
        {
            "properties": {
                "priority": 100,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": address,
                "destinationPortRange": "443",
            }
        },
    )
    estate.finish(poller)


def assert_falls_back_and_stays_online(estate: Estate) -> None:
    assert not estate.using_fallback("sqlmi-tde-eastus2")
    estate.advance(CHECK)

    assert estate.using_fallback("sqlmi-tde-eastus2")
    [fallback] = estate.events("fallback")
    assert fallback["instance"] == "sqlmi-tde-eastus2"
    assert "kv-tde-centralus" in fallback["key"]
    estate.advance(GRACE + 3 * CHECK)
    assert estate.statuses(EAST) == {"Online"}
    assert estate.events("key-lost") == []


def test_an_nsg_deny_to_the_endpoint_address_triggers_the_fallback(
    estate: Estate,
) -> None:
    deny_rule(estate, "10.10.1.4/32")
    assert_falls_back_and_stays_online(estate)


def test_a_rejected_endpoint_connection_triggers_the_fallback(estate: Estate) -> None:
    estate.sdk.keyvault_mgmt().private_endpoint_connections.put(
        "rg-tde-eastus2",
        "kv-tde-eastus2",
        "pe-sqlmi-eastus2-kv-tde-eastus2",
        {
            "properties": {
                "privateLinkServiceConnectionState": {
                    "status": "Rejected",
                    "description": "vault-loss drill",
                }
            }
        },
    )
    assert_falls_back_and_stays_online(estate)


def test_a_vault_outage_triggers_the_fallback(estate: Estate) -> None:
    estate.sim.start_outage("kv-tde-eastus2")
    assert_falls_back_and_stays_online(estate)


def test_fallback_ends_when_the_primary_path_returns(estate: Estate) -> None:
    estate.sim.start_outage("kv-tde-eastus2")
    estate.advance(CHECK)
    estate.sim.end_outages()
    estate.advance(CHECK)

    assert not estate.using_fallback("sqlmi-tde-eastus2")
    assert len(estate.events("fallback-ended")) == 1


def test_both_paths_cut_leaves_no_usable_copy(estate: Estate) -> None:
    deny_rule(estate, "10.10.1.0/24")
    estate.advance(CHECK)

    [lost] = estate.events("key-lost")
    assert lost["code"] == "AkvEndpointNotReachableFromNode"
    assert "deny-kv-drill" in lost["reason"]


def test_a_revoked_permission_gets_no_fallback(estate: Estate) -> None:
    estate.revoke("sqlmi-tde-eastus2", "kv-tde-eastus2")
    estate.advance(CHECK)

    assert not estate.using_fallback("sqlmi-tde-eastus2")
    [lost] = estate.events("key-lost")
    assert lost["code"] == "AzureKeyVaultMissingPermissions"


def test_a_disabled_key_gets_no_fallback(estate: Estate) -> None:
    version = estate.protector_version(EAST)
    estate.sdk.key_client("kv-tde-eastus2").update_key_properties(
        "tde-protector", version, enabled=False
    )
    estate.advance(CHECK)

    assert not estate.using_fallback("sqlmi-tde-eastus2")
    [lost] = estate.events("key-lost")
    assert lost["code"] == "AzureKeyVaultKeyDisabled"


def test_a_deleted_key_gets_no_fallback(estate: Estate) -> None:
    estate.sdk.key_client("kv-tde-eastus2").begin_delete_key("tde-protector")
    estate.advance(CHECK)

    assert not estate.using_fallback("sqlmi-tde-eastus2")
    [lost] = estate.events("key-lost")
    assert lost["code"] == "AzureKeyVaultKeyNameNotFound"
    assert "deleted" in lost["reason"]
