"""Backup and restore: opaque blobs bound to one subscription and geography."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from simclients import Sdk

from azuresim.process import SimProcess

PRIMARY, SECONDARY = "kv-tde-eastus2", "kv-tde-centralus"


def test_restore_into_the_paired_vault_keeps_every_version(sdk: Sdk) -> None:
    source = sdk.key_client(PRIMARY)
    first = source.create_rsa_key("portable")
    second = source.rotate_key("portable")

    blob = source.backup_key("portable")
    restored = sdk.key_client(SECONDARY).restore_key_backup(blob)

    assert isinstance(blob, bytes) and len(blob) > 100
    target = sdk.endpoints.vaults[SECONDARY]
    assert restored.id == f"{target}/keys/portable/{second.properties.version}"
    assert restored.key.n == second.key.n
    versions = sdk.key_client(SECONDARY).list_properties_of_key_versions("portable")
    assert {v.version for v in versions} == {
        first.properties.version,
        second.properties.version,
    }
    old = sdk.key_client(SECONDARY).get_key("portable", first.properties.version)
    assert old.key.n == first.key.n


def test_restore_over_an_existing_name_is_a_conflict(sdk: Sdk) -> None:
    client = sdk.key_client(PRIMARY)
    client.create_rsa_key("taken")
    blob = client.backup_key("taken")

    with pytest.raises(ResourceExistsError) as caught:
        client.restore_key_backup(blob)
    assert caught.value.status_code == 409
    assert caught.value.error.code == "Conflict"


def test_restore_over_a_soft_deleted_name_is_a_conflict(sdk: Sdk) -> None:
    client = sdk.key_client(PRIMARY)
    client.create_rsa_key("ghost")
    blob = client.backup_key("ghost")
    client.begin_delete_key("ghost").wait()

    with pytest.raises(ResourceExistsError):
        client.restore_key_backup(blob)


def test_restore_into_another_geography_is_refused(
    simulator: SimProcess, sdk: Sdk
) -> None:
    simulator.put_vault("kv-sim-westeurope", location="westeurope")
    blob = sdk.key_client(PRIMARY).backup_key("tde-protector")

    with pytest.raises(HttpResponseError) as caught:
        sdk.key_client("kv-sim-westeurope").restore_key_backup(blob)
    assert caught.value.status_code == 400
    assert "Cannot decrypt backup blob" in caught.value.message


def test_restore_into_another_subscription_is_refused(
    simulator: SimProcess, sdk: Sdk
) -> None:
    simulator.put_vault(
        "kv-sim-othersub",
        location="eastus2",
        subscription_id="33333333-3333-3333-3333-333333333333",
    )
    blob = sdk.key_client(PRIMARY).backup_key("tde-protector")

    with pytest.raises(HttpResponseError) as caught:
        sdk.key_client("kv-sim-othersub").restore_key_backup(blob)
    assert caught.value.status_code == 400


def test_a_blob_not_made_by_the_simulator_is_refused(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as caught:
        sdk.key_client(PRIMARY).restore_key_backup(
            b"&AzureKeyVaultKeyBackupV1.microsoft.com" + b"x" * 200
        )
    assert caught.value.status_code == 400


def test_restore_within_a_geography_across_regions(
    simulator: SimProcess, sdk: Sdk
) -> None:
    simulator.put_vault("kv-sim-westus2", location="westus2")
    blob = sdk.key_client(PRIMARY).backup_key("tde-protector")
    restored = sdk.key_client("kv-sim-westus2").restore_key_backup(blob)
    assert restored.name == "tde-protector"
