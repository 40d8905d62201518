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


def test_planned_failover_is_refused_when_the_partner_lacks_the_key_material(
    estate: Estate,
) -> None:
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

    with pytest.raises(HttpResponseError) as refused:
        estate.sql.instance_failover_groups.begin_failover(
            "rg-tde-centralus", "centralus", "fog-tde"
        )
    assert refused.value.error.code == "KeyMaterialNotFoundOnRemoteServer"
    group = estate.sql.instance_failover_groups.get(
        "rg-tde-eastus2", "eastus2", "fog-tde"
    )
    assert group.replication_role == "Primary"


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
