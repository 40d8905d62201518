"""Microsoft.Sql through the real SqlManagementClient: instances, keys,
the TDE protector, revalidation, databases and the failover group."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from simclients import Sdk

from azuresim.process import SimProcess

EAST = ("rg-tde-eastus2", "sqlmi-tde-eastus2")
CENTRAL = ("rg-tde-centralus", "sqlmi-tde-centralus")


def protector_version(sql: Any, instance: tuple[str, str]) -> str:
    name = sql.managed_instance_encryption_protectors.get(*instance, "current")
    return str(name.server_key_name).rsplit("_", 1)[-1]


def new_key(sdk: Sdk, vault: str, name: str, **kwargs: Any) -> str:
    key = sdk.key_client(vault).create_rsa_key(name, size=2048, **kwargs)
    return str(key.id)


def key_name(vault: str, key_id: str) -> str:
    parts = key_id.rstrip("/").split("/")
    return f"{vault}_{parts[-2]}_{parts[-1]}"


def test_instance_shows_identity_state_and_key_id(sdk: Sdk) -> None:
    instance = sdk.sql().managed_instances.get(*EAST)

    assert instance.identity.type == "SystemAssigned"
    assert instance.identity.principal_id
    assert instance.state == "Ready"
    assert instance.provisioning_state == "Succeeded"
    assert "/keys/tde-protector/" in instance.key_id


def test_keys_list_holds_both_copies_and_the_service_managed_key(sdk: Sdk) -> None:
    keys = list(sdk.sql().managed_instance_keys.list_by_instance(*EAST))

    assert keys[-1].name == "ServiceManaged"
    assert keys[-1].kind == "servicemanaged"
    azure_keys = [k for k in keys if k.kind == "azurekeyvault"]
    assert {k.name.split("_")[0] for k in azure_keys} == {
        "kv-tde-eastus2",
        "kv-tde-centralus",
    }
    assert len({k.thumbprint for k in azure_keys}) == 1


def test_register_a_key_then_get_and_delete_it(sdk: Sdk) -> None:
    sql = sdk.sql()
    key_id = new_key(sdk, "kv-tde-eastus2", "extra")
    name = key_name("kv-tde-eastus2", key_id)

    created = sql.managed_instance_keys.begin_create_or_update(
        *EAST, name, {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}}
    ).result()
    assert created.name == name
    assert created.uri == key_id
    assert len(created.thumbprint) == 40

    sql.managed_instance_keys.begin_delete(*EAST, name).result()
    with pytest.raises(ResourceNotFoundError) as missing:
        sql.managed_instance_keys.get(*EAST, name)
    assert missing.value.error.code == "ServerKeyNotFound"


@pytest.mark.parametrize(
    ("uri_suffix", "code"),
    [
        ("/keys/extra", "AzureKeyVaultMalformedVaultUri"),
        ("/secrets/extra/0123", "AzureKeyVaultMalformedVaultUri"),
    ],
)
def test_versionless_or_malformed_uris_are_refused(
    sdk: Sdk, uri_suffix: str, code: str
) -> None:
    vault_url = sdk.endpoints.vaults["kv-tde-eastus2"]
    with pytest.raises(HttpResponseError) as refused:
        sdk.sql().managed_instance_keys.begin_create_or_update(
            *EAST,
            "kv-tde-eastus2_extra_",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "uri": vault_url + uri_suffix,
                }
            },
        )
    assert refused.value.status_code == 400
    assert refused.value.error.code == code


def test_key_name_must_match_the_uri(sdk: Sdk) -> None:
    key_id = new_key(sdk, "kv-tde-eastus2", "extra")
    with pytest.raises(HttpResponseError) as refused:
        sdk.sql().managed_instance_keys.begin_create_or_update(
            *EAST,
            "kv-tde-eastus2_extra_0000",
            {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}},
        )
    assert refused.value.error.code == "InvalidKeyName"


def test_key_the_instance_cannot_use_is_refused(sdk: Sdk) -> None:
    sql = sdk.sql()
    disabled = new_key(sdk, "kv-tde-eastus2", "off", enabled=False)
    small = sdk.key_client("kv-tde-eastus2").create_rsa_key("small", size=4096)

    for key_id, code in (
        (disabled, "AzureKeyVaultKeyDisabled"),
        (str(small.id), "AzureKeyVaultRsaKeyNotSupported"),
    ):
        with pytest.raises(HttpResponseError) as refused:
            sql.managed_instance_keys.begin_create_or_update(
                *EAST,
                key_name("kv-tde-eastus2", key_id),
                {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}},
            )
        assert refused.value.error.code == code


def test_deleting_the_current_protector_is_refused(sdk: Sdk) -> None:
    sql = sdk.sql()
    protector = sql.managed_instance_encryption_protectors.get(*EAST, "current")

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_keys.begin_delete(*EAST, protector.server_key_name)
    assert refused.value.status_code == 409
    assert refused.value.error.code == "AzureKeyVaultKeyInUse"


def test_protector_shows_key_uri_and_thumbprint(sdk: Sdk) -> None:
    sql = sdk.sql()
    protector = sql.managed_instance_encryption_protectors.get(*EAST, "current")
    listed = list(sql.managed_instance_encryption_protectors.list_by_instance(*EAST))

    assert protector.server_key_type == "AzureKeyVault"
    assert protector.kind == "azurekeyvault"
    assert protector.uri.startswith(sdk.endpoints.vaults["kv-tde-eastus2"])
    assert protector.auto_rotation_enabled is False
    assert [p.name for p in listed] == ["current"]


def test_protector_needs_a_registered_key(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as refused:
        sdk.sql().managed_instance_encryption_protectors.begin_create_or_update(
            *EAST,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": "kv-tde-eastus2_nope_0123",
                }
            },
        )
    assert refused.value.status_code == 404
    assert refused.value.error.code == "ServerKeyNotFound"


def test_protector_needs_the_material_on_the_failover_partner(sdk: Sdk) -> None:
    sql = sdk.sql()
    key_id = new_key(sdk, "kv-tde-eastus2", "east-only")
    name = key_name("kv-tde-eastus2", key_id)
    sql.managed_instance_keys.begin_create_or_update(
        *EAST, name, {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}}
    ).result()

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_encryption_protectors.begin_create_or_update(
            *EAST,
            "current",
            {"properties": {"serverKeyType": "AzureKeyVault", "serverKeyName": name}},
        )
    assert refused.value.error.code == "KeyMaterialNotFoundOnRemoteServer"

    sql.managed_instance_keys.begin_create_or_update(
        *CENTRAL,
        name,
        {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}},
    ).result()
    switched = sql.managed_instance_encryption_protectors.begin_create_or_update(
        *EAST,
        "current",
        {"properties": {"serverKeyType": "AzureKeyVault", "serverKeyName": name}},
    ).result()
    assert switched.server_key_name == name
    assert switched.uri == key_id


def test_auto_rotation_needs_the_same_key_uri_on_the_partner(sdk: Sdk) -> None:
    sql = sdk.sql()
    protector = sql.managed_instance_encryption_protectors.get(*EAST, "current")
    central_copy = protector.server_key_name.replace(
        "kv-tde-eastus2", "kv-tde-centralus"
    )
    sql.managed_instance_keys.begin_delete(*EAST, central_copy).result()
    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_encryption_protectors.begin_create_or_update(
            *CENTRAL,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": central_copy,
                    "autoRotationEnabled": True,
                }
            },
        )
    assert refused.value.error.code == "SameKeyUriNotFoundOnRemoteServer"

    done = sql.managed_instance_encryption_protectors.begin_create_or_update(
        *EAST,
        "current",
        {
            "properties": {
                "serverKeyType": "AzureKeyVault",
                "serverKeyName": protector.server_key_name,
                "autoRotationEnabled": True,
            }
        },
    ).result()
    assert done.auto_rotation_enabled is True


def test_protector_refuses_a_vault_without_purge_protection(
    sdk: Sdk, simulator: SimProcess
) -> None:
    # ARM refuses to turn purge protection off; the admin API can, to model
    # a vault that was never protected.
    simulator.put_vault("kv-tde-eastus2", enable_purge_protection=False)
    sql = sdk.sql()
    protector = sql.managed_instance_encryption_protectors.get(*EAST, "current")

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_encryption_protectors.begin_create_or_update(
            *EAST,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": protector.server_key_name,
                }
            },
        )
    assert refused.value.error.code == "SecurityInvalidAzureKeyVaultRecoveryLevel"


def test_switching_back_to_service_managed(sdk: Sdk) -> None:
    sql = sdk.sql()
    done = sql.managed_instance_encryption_protectors.begin_create_or_update(
        *EAST,
        "current",
        {
            "properties": {
                "serverKeyType": "ServiceManaged",
                "serverKeyName": "ServiceManaged",
            }
        },
    ).result()
    assert done.kind == "servicemanaged"
    assert sql.managed_instances.get(*EAST).key_id is None


def test_revalidate_on_a_healthy_instance_succeeds(sdk: Sdk) -> None:
    poller = sdk.sql().managed_instance_encryption_protectors.begin_revalidate(
        *EAST, "current"
    )
    assert poller.result() is None
    assert poller.status() == "Succeeded"


def test_databases_list_get_and_inaccessible_list(sdk: Sdk) -> None:
    sql = sdk.sql()
    databases = list(sql.managed_databases.list_by_instance(*EAST))
    sales = sql.managed_databases.get(*EAST, "sales")

    assert sorted(d.name for d in databases) == [
        "audit",
        "billing",
        "inventory",
        "sales",
    ]
    assert sales.status == "Online"
    assert list(sql.managed_databases.list_inaccessible_by_instance(*EAST)) == []
    with pytest.raises(ResourceNotFoundError):
        sql.managed_databases.get(*EAST, "nope")


def test_failover_group_seen_from_both_regions(sdk: Sdk) -> None:
    sql = sdk.sql()
    east = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    central = sql.instance_failover_groups.get(
        "rg-tde-centralus", "centralus", "fog-tde"
    )
    listed = list(
        sql.instance_failover_groups.list_by_location("rg-tde-eastus2", "eastus2")
    )

    assert east.replication_role == "Primary"
    assert central.replication_role == "Secondary"
    assert east.partner_regions[0].location == "centralus"
    assert "/locations/East US 2/" in east.id
    assert [g.name for g in listed] == ["fog-tde"]


def test_planned_failover_swaps_roles(sdk: Sdk) -> None:
    sql = sdk.sql()
    result = sql.instance_failover_groups.begin_failover(
        "rg-tde-centralus", "centralus", "fog-tde"
    ).result()

    assert result.replication_role == "Primary"
    assert result.managed_instance_pairs[0].primary_managed_instance_id.endswith(
        "sqlmi-tde-centralus"
    )
    east = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    assert east.replication_role == "Secondary"


def test_forced_failover_swaps_roles(sdk: Sdk) -> None:
    result = (
        sdk.sql()
        .instance_failover_groups.begin_force_failover_allow_data_loss(
            "rg-tde-centralus", "centralus", "fog-tde"
        )
        .result()
    )
    assert result.replication_role == "Primary"


def test_failover_group_update_delete_and_create(sdk: Sdk) -> None:
    sql = sdk.sql()
    group = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    body = {
        "properties": {
            "readWriteEndpoint": {
                "failoverPolicy": "Automatic",
                "failoverWithDataLossGracePeriodMinutes": 60,
            },
            "readOnlyEndpoint": {"failoverPolicy": "Disabled"},
            "partnerRegions": [{"location": "centralus"}],
            "managedInstancePairs": [
                {
                    "primaryManagedInstanceId": group.managed_instance_pairs[
                        0
                    ].primary_managed_instance_id,
                    "partnerManagedInstanceId": group.managed_instance_pairs[
                        0
                    ].partner_managed_instance_id,
                }
            ],
        }
    }
    updated = sql.instance_failover_groups.begin_create_or_update(
        "rg-tde-eastus2", "eastus2", "fog-tde", body
    ).result()
    assert updated.read_write_endpoint.failover_policy == "Automatic"

    sql.instance_failover_groups.begin_delete(
        "rg-tde-eastus2", "eastus2", "fog-tde"
    ).result()
    with pytest.raises(ResourceNotFoundError):
        sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")

    created = sql.instance_failover_groups.begin_create_or_update(
        "rg-tde-eastus2", "eastus2", "fog-new", body
    ).result()
    assert created.replication_role == "Primary"
    with pytest.raises(HttpResponseError) as again:
        sql.instance_failover_groups.begin_create_or_update(
            "rg-tde-eastus2", "eastus2", "fog-other", body
        )
    assert again.value.status_code == 409


def test_the_secondary_cannot_drop_the_geo_primarys_protector_key(sdk: Sdk) -> None:
    sql = sdk.sql()
    primary_key = sql.managed_instance_encryption_protectors.get(*EAST, "current")

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_keys.begin_delete(*CENTRAL, primary_key.server_key_name)
    assert refused.value.error.code == "AzureKeyVaultKeyUsedOnGeoPrimary"


def test_failover_group_creation_needs_the_material_on_the_secondary(
    sdk: Sdk,
) -> None:
    sql = sdk.sql()
    group = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    pairs = group.managed_instance_pairs[0].as_dict()
    sql.instance_failover_groups.begin_delete(
        "rg-tde-eastus2", "eastus2", "fog-tde"
    ).result()
    protector = sql.managed_instance_encryption_protectors.get(*EAST, "current")
    for key in list(sql.managed_instance_keys.list_by_instance(*CENTRAL)):
        if key.kind == "azurekeyvault" and key.thumbprint == protector.thumbprint:
            sql.managed_instance_encryption_protectors.begin_create_or_update(
                *CENTRAL,
                "current",
                {"properties": {"serverKeyType": "ServiceManaged"}},
            ).result()
            sql.managed_instance_keys.begin_delete(*CENTRAL, key.name).result()

    with pytest.raises(HttpResponseError) as refused:
        sql.instance_failover_groups.begin_create_or_update(
            "rg-tde-eastus2",
            "eastus2",
            "fog-tde",
            {
                "properties": {
                    "readWriteEndpoint": {"failoverPolicy": "Manual"},
                    "readOnlyEndpoint": {"failoverPolicy": "Disabled"},
                    "partnerRegions": [{"location": "centralus"}],
                    "managedInstancePairs": [pairs],
                }
            },
        )
    assert refused.value.error.code == "KeyMaterialNotFoundOnRemoteServer"


def test_without_an_identity_keys_cannot_be_registered_until_it_is_enabled(
    sdk: Sdk,
) -> None:
    sql = sdk.sql()
    sql.managed_instances.begin_update(*EAST, {"identity": {"type": "None"}}).result()
    assert sql.managed_instances.get(*EAST).identity is None
    key_id = new_key(sdk, "kv-tde-eastus2", "extra")
    body = {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}}

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_keys.begin_create_or_update(
            *EAST, key_name("kv-tde-eastus2", key_id), body
        )
    assert refused.value.error.code == "AzureKeyVaultNoServerIdentity"

    updated = sql.managed_instances.begin_update(
        *EAST, {"identity": {"type": "SystemAssigned"}}
    ).result()
    assert updated.identity.type == "SystemAssigned"
    assert updated.identity.principal_id


def test_greenfield_setup_end_to_end(greenfield: SimProcess) -> None:
    """The setup runbook's route: one key, copied by backup/restore, granted,
    registered secondary first, protector secondary first."""
    sdk = Sdk(greenfield)
    sql = sdk.sql()
    east_keys = sdk.key_client("kv-tde-eastus2")
    created = east_keys.create_rsa_key("tde-protector", size=2048)
    copy = sdk.key_client("kv-tde-centralus").restore_key_backup(
        east_keys.backup_key("tde-protector")
    )
    version = created.properties.version
    names = {
        "kv-tde-eastus2": (f"kv-tde-eastus2_tde-protector_{version}", created.id),
        "kv-tde-centralus": (f"kv-tde-centralus_tde-protector_{version}", copy.id),
    }
    auth = sdk.authorization()
    for instance in (CENTRAL, EAST):
        principal = sql.managed_instances.get(*instance).identity.principal_id
        for vault in names:
            scope = (
                f"/subscriptions/{sdk.endpoints.subscription_id}/resourceGroups/"
                f"rg-tde-{vault.removeprefix('kv-tde-')}/providers/"
                f"Microsoft.KeyVault/vaults/{vault}"
            )
            auth.role_assignments.create(
                scope,
                str(uuid.uuid4()),
                {
                    "properties": {
                        "roleDefinitionId": (
                            f"/subscriptions/{sdk.endpoints.subscription_id}/providers/"
                            "Microsoft.Authorization/roleDefinitions/"
                            "e147488a-f6f5-4113-8e2d-b22465e65bf6"
                        ),
                        "principalId": principal,
                    }
                },
            )
    for instance in (CENTRAL, EAST):
        for name, uri in names.values():
            sql.managed_instance_keys.begin_create_or_update(
                *instance,
                name,
                {"properties": {"serverKeyType": "AzureKeyVault", "uri": uri}},
            ).result()
    for instance, vault in ((CENTRAL, "kv-tde-centralus"), (EAST, "kv-tde-eastus2")):
        sql.managed_instance_encryption_protectors.begin_create_or_update(
            *instance,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": names[vault][0],
                }
            },
        ).result()

    for instance, vault in ((CENTRAL, "kv-tde-centralus"), (EAST, "kv-tde-eastus2")):
        protector = sql.managed_instance_encryption_protectors.get(*instance, "current")
        assert protector.server_key_name == names[vault][0]
        assert {
            d.status for d in sql.managed_databases.list_by_instance(*instance)
        } == {"Online"}


def test_an_expired_key_is_refused(sdk: Sdk) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    key_id = new_key(sdk, "kv-tde-eastus2", "old", expires_on=yesterday)

    with pytest.raises(HttpResponseError) as refused:
        sdk.sql().managed_instance_keys.begin_create_or_update(
            *EAST,
            key_name("kv-tde-eastus2", key_id),
            {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}},
        )
    assert refused.value.error.code == "AzureKeyVaultInvalidExpirationDate"


def test_an_access_policy_vault_needs_get_wrap_unwrap_for_the_instance(
    sdk: Sdk,
) -> None:
    sql = sdk.sql()
    kvm = sdk.keyvault_mgmt()
    key_id = new_key(sdk, "kv-tde-eastus2", "policy")
    name = key_name("kv-tde-eastus2", key_id)
    body = {"properties": {"serverKeyType": "AzureKeyVault", "uri": key_id}}
    kvm.vaults.update(
        "rg-tde-eastus2",
        "kv-tde-eastus2",
        {"properties": {"enableRbacAuthorization": False}},
    )

    with pytest.raises(HttpResponseError) as refused:
        sql.managed_instance_keys.begin_create_or_update(*EAST, name, body)
    assert refused.value.error.code == "AzureKeyVaultMissingPermissions"

    principal = sql.managed_instances.get(*EAST).identity.principal_id
    kvm.vaults.update_access_policy(
        "rg-tde-eastus2",
        "kv-tde-eastus2",
        "add",
        {
            "properties": {
                "accessPolicies": [
                    {
                        "tenantId": sdk.endpoints.tenant_id,
                        "objectId": principal,
                        "permissions": {"keys": ["get", "wrapKey", "unwrapKey"]},
                    }
                ]
            }
        },
    )
    registered = sql.managed_instance_keys.begin_create_or_update(
        *EAST, name, body
    ).result()
    assert registered.name == name
