"""The timers: Inaccessible after the grace period, auto-heal inside the
window, revalidation after it, auto-rotation pickup, failover role switch."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from tests.behaviour.conftest import (
    CENTRAL,
    CHECK,
    EAST,
    GRACE,
    HEAL_WINDOW,
    LRO_SECONDS,
    ROLE_SWITCH,
    Estate,
)


def lose_access(estate: Estate) -> None:
    """Revoke the east instance on both vaults and let it notice."""
    estate.revoke("sqlmi-tde-eastus2", "kv-tde-eastus2")
    estate.revoke("sqlmi-tde-eastus2", "kv-tde-centralus")
    estate.advance(CHECK)


def restore_access(estate: Estate) -> None:
    estate.grant("sqlmi-tde-eastus2", "kv-tde-eastus2")


def test_databases_go_inaccessible_after_the_grace_period_with_the_reason(
    estate: Estate,
) -> None:
    lose_access(estate)
    estate.advance(GRACE - 1)
    assert estate.statuses(EAST) == {"Online"}

    estate.advance(1)
    assert estate.statuses(EAST) == {"Inaccessible"}
    sales = estate.sql.managed_databases.get(*EAST, "sales")
    info = sales.extended_accessibility_info
    assert info.inaccessibility_reason_kind == "TransparentDataEncryption"
    assert info.inaccessibility_reason_error_code == "AzureKeyVaultMissingPermissions"
    assert "kv-tde-eastus2" in info.inaccessibility_reason_description
    assert "/keys/tde-protector/" in info.inaccessibility_reason_tde_key_uri
    inaccessible = estate.sql.managed_databases.list_inaccessible_by_instance(*EAST)
    assert sorted(d.name for d in inaccessible) == [
        "audit",
        "billing",
        "inventory",
        "sales",
    ]
    assert estate.statuses(CENTRAL) == {"Online"}


def test_access_back_inside_the_window_heals_at_the_next_check(estate: Estate) -> None:
    lose_access(estate)
    estate.advance(GRACE)
    restore_access(estate)
    assert estate.statuses(EAST) == {"Inaccessible"}

    estate.advance(CHECK)
    assert estate.statuses(EAST) == {"Online"}
    [healed] = estate.events("healed")
    assert healed["how"] == "auto-heal"


def test_access_back_after_the_window_needs_revalidation(estate: Estate) -> None:
    lose_access(estate)
    estate.advance(HEAL_WINDOW)
    assert len(estate.events("auto-heal-window-passed")) == 1
    restore_access(estate)
    estate.advance(2 * CHECK)
    assert estate.statuses(EAST) == {"Inaccessible"}

    poller = estate.sql.managed_instance_encryption_protectors.begin_revalidate(
        *EAST, "current"
    )
    estate.finish(poller)
    assert estate.statuses(EAST) == {"Online"}
    [healed] = estate.events("healed")
    assert healed["how"] == "revalidation"


def test_revalidation_fails_while_no_copy_is_usable(estate: Estate) -> None:
    lose_access(estate)
    estate.advance(HEAL_WINDOW)

    poller = estate.sql.managed_instance_encryption_protectors.begin_revalidate(
        *EAST, "current"
    )
    with pytest.raises(HttpResponseError) as failed:
        estate.finish(poller)
    assert (
        failed.value.error.code == "ManagedInstanceNoConditionToMakeDatabaseAccessible"
    )
    assert estate.statuses(EAST) == {"Inaccessible"}


def test_auto_rotation_adopts_a_new_version_after_the_pickup_delay(
    estate: Estate,
) -> None:
    protector = estate.sql.managed_instance_encryption_protectors.get(*EAST, "current")
    estate.finish(
        estate.sql.managed_instance_encryption_protectors.begin_create_or_update(
            *EAST,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": protector.server_key_name,
                    "autoRotationEnabled": True,
                }
            },
        )
    )
    rotated = estate.sdk.key_client("kv-tde-eastus2").rotate_key("tde-protector")
    assert rotated.properties.version
    estate.advance(CHECK)
    assert estate.protector_version(EAST) != rotated.properties.version

    estate.advance(86400 - CHECK / 2)
    assert estate.protector_version(EAST) != rotated.properties.version
    estate.advance(CHECK)
    assert estate.protector_version(EAST) == rotated.properties.version
    assert len(estate.events("auto-rotation")) == 1


def test_roles_switch_after_the_role_switch_time(estate: Estate) -> None:
    sql = estate.sql
    poller = sql.instance_failover_groups.begin_failover(
        "rg-tde-centralus", "centralus", "fog-tde"
    )
    estate.advance(119)
    east = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    assert east.replication_role == "Primary"

    result = estate.finish(poller, 1)
    assert result.replication_role == "Primary"
    east = sql.instance_failover_groups.get("rg-tde-eastus2", "eastus2", "fog-tde")
    assert east.replication_role == "Secondary"
    assert len(estate.events("role-switch")) == 1


def test_planned_failover_is_refused_while_the_new_primary_is_inaccessible(
    estate: Estate,
) -> None:
    estate.revoke("sqlmi-tde-centralus", "kv-tde-centralus")
    estate.revoke("sqlmi-tde-centralus", "kv-tde-eastus2")
    estate.advance(CHECK + GRACE)

    with pytest.raises(HttpResponseError) as refused:
        estate.sql.instance_failover_groups.begin_failover(
            "rg-tde-centralus", "centralus", "fog-tde"
        )
    assert refused.value.error.code == "FailoverDatabasesInaccessible"


def protect_east_with_a_key_central_lacks(estate: Estate) -> tuple[str, str]:
    """Make a new key, copied into the central vault, the east protector,
    then drop its registration from central: the failover partner lacks the
    material. Returns the protector's uri and the central copy's uri."""
    east_keys = estate.sdk.key_client("kv-tde-eastus2")
    created = east_keys.create_rsa_key("tde-2", size=2048)
    blob = east_keys.backup_key("tde-2")
    copy = estate.sdk.key_client("kv-tde-centralus").restore_key_backup(blob)
    version = created.properties.version
    east_name = f"kv-tde-eastus2_tde-2_{version}"
    central_name = f"kv-tde-centralus_tde-2_{version}"
    keys = estate.sql.managed_instance_keys
    estate.finish(
        keys.begin_create_or_update(
            *EAST,
            east_name,
            {"properties": {"serverKeyType": "AzureKeyVault", "uri": created.id}},
        )
    )
    estate.finish(
        keys.begin_create_or_update(
            *CENTRAL,
            central_name,
            {"properties": {"serverKeyType": "AzureKeyVault", "uri": copy.id}},
        )
    )
    estate.finish(
        estate.sql.managed_instance_encryption_protectors.begin_create_or_update(
            *EAST,
            "current",
            {
                "properties": {
                    "serverKeyType": "AzureKeyVault",
                    "serverKeyName": east_name,
                }
            },
        )
    )
    estate.finish(keys.begin_delete(*CENTRAL, central_name), LRO_SECONDS)
    return str(created.id), str(copy.id)


def test_planned_failover_is_refused_when_the_partner_lacks_the_key_material(
    estate: Estate,
) -> None:
    protect_east_with_a_key_central_lacks(estate)

    with pytest.raises(HttpResponseError) as refused:
        estate.sql.instance_failover_groups.begin_failover(
            "rg-tde-centralus", "centralus", "fog-tde"
        )
    assert refused.value.error.code == "KeyMaterialNotFoundOnRemoteServer"
    group = estate.sql.instance_failover_groups.get(
        "rg-tde-eastus2", "eastus2", "fog-tde"
    )
    assert group.replication_role == "Primary"


def force_failover_to_central(estate: Estate) -> None:
    poller = estate.sql.instance_failover_groups.begin_force_failover_allow_data_loss(
        "rg-tde-centralus", "centralus", "fog-tde"
    )
    result = estate.finish(poller, ROLE_SWITCH)
    assert result.replication_role == "Primary"


def test_a_forced_failover_onto_a_partner_without_the_material_cannot_unwrap(
    estate: Estate,
) -> None:
    protector_uri, _ = protect_east_with_a_key_central_lacks(estate)

    force_failover_to_central(estate)
    east = estate.sql.instance_failover_groups.get(
        "rg-tde-eastus2", "eastus2", "fog-tde"
    )
    assert east.replication_role == "Secondary"
    [lost] = estate.events("key-lost")
    assert lost["instance"] == "sqlmi-tde-centralus"
    assert lost["code"] == "KeyMaterialNotFoundOnRemoteServer"
    estate.advance(GRACE - 1)
    assert estate.statuses(CENTRAL) == {"Online"}

    estate.advance(1)
    assert estate.statuses(CENTRAL) == {"Inaccessible"}
    info = estate.sql.managed_databases.get(
        *CENTRAL, "sales"
    ).extended_accessibility_info
    assert info.inaccessibility_reason_kind == "TransparentDataEncryption"
    assert info.inaccessibility_reason_error_code == "KeyMaterialNotFoundOnRemoteServer"
    assert info.inaccessibility_reason_tde_key_uri == protector_uri
    assert "sqlmi-tde-centralus" in info.inaccessibility_reason_description
    assert estate.statuses(EAST) == {"Online"}


def test_registering_the_material_inside_the_window_heals_the_new_primary(
    estate: Estate,
) -> None:
    _, copy_uri = protect_east_with_a_key_central_lacks(estate)
    force_failover_to_central(estate)
    estate.advance(GRACE)
    assert estate.statuses(CENTRAL) == {"Inaccessible"}

    version = copy_uri.rstrip("/").rsplit("/", 1)[-1]
    estate.finish(
        estate.sql.managed_instance_keys.begin_create_or_update(
            *CENTRAL,
            f"kv-tde-centralus_tde-2_{version}",
            {"properties": {"serverKeyType": "AzureKeyVault", "uri": copy_uri}},
        )
    )
    estate.advance(CHECK)
    assert estate.statuses(CENTRAL) == {"Online"}
    [healed] = estate.events("healed")
    assert healed["instance"] == "sqlmi-tde-centralus"


def test_a_forced_failover_onto_a_partner_with_the_material_keeps_it_online(
    estate: Estate,
) -> None:
    force_failover_to_central(estate)
    estate.advance(GRACE + CHECK)

    assert estate.statuses(CENTRAL) == {"Online"}
    assert estate.events("key-lost") == []


def test_no_switch_to_a_service_managed_key_while_databases_are_inaccessible(
    estate: Estate,
) -> None:
    lose_access(estate)
    estate.advance(GRACE)

    with pytest.raises(HttpResponseError) as refused:
        estate.sql.managed_instance_encryption_protectors.begin_create_or_update(
            *EAST, "current", {"properties": {"serverKeyType": "ServiceManaged"}}
        )
    assert refused.value.error.code == "ManagedInstanceInaccessibleDatabasesExist"
