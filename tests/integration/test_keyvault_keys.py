"""Key Vault key management through the real KeyClient, over HTTPS, retries off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.keys import (
    JsonWebKey,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyType,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from simclients import Sdk

from azuresim.process import SimProcess

VAULT = "kv-tde-eastus2"


def b64int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_create_rsa_key_of_each_size(sdk: Sdk, size: int) -> None:
    client = sdk.key_client(VAULT)
    key = client.create_rsa_key(f"k{size}", size=size)

    assert key.key_type == KeyType.rsa
    assert len(key.key.n) * 8 == size
    assert key.key.e == b"\x01\x00\x01"
    assert (
        key.id == f"{sdk.endpoints.vaults[VAULT]}/keys/k{size}/{key.properties.version}"
    )
    assert len(key.properties.version) == 32
    assert key.properties.enabled is True
    assert key.key_operations == [
        "encrypt",
        "decrypt",
        "sign",
        "verify",
        "wrapKey",
        "unwrapKey",
    ]


def test_create_hsm_key_and_refuse_an_odd_size(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    assert (
        client.create_rsa_key("hsm", hardware_protected=True).key_type
        == KeyType.rsa_hsm
    )
    with pytest.raises(HttpResponseError) as caught:
        client.create_rsa_key("odd", size=1024)
    assert caught.value.status_code == 400
    assert caught.value.error.code == "BadParameter"


def test_protected_vault_reports_recovery_level_and_days(sdk: Sdk) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("levels")
    assert key.properties.recovery_level == "Recoverable"
    assert key.properties.recoverable_days == 90


def test_customized_retention_without_purge_protection(
    sdk: Sdk, simulator: SimProcess
) -> None:
    simulator.put_vault(
        "kv-sim-seven", enable_purge_protection=False, soft_delete_retention_days=7
    )
    key = Sdk(simulator).key_client("kv-sim-seven").create_rsa_key("k")
    assert key.properties.recovery_level == "CustomizedRecoverable+Purgeable"
    assert key.properties.recoverable_days == 7


def test_get_latest_and_by_version(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    first = client.create_rsa_key("versioned")
    second = client.create_rsa_key("versioned")

    assert client.get_key("versioned").id == second.id
    assert client.get_key("versioned", first.properties.version).key.n == first.key.n
    with pytest.raises(ResourceNotFoundError):
        client.get_key("versioned", "0" * 32)
    with pytest.raises(ResourceNotFoundError):
        client.get_key("missing")


def test_list_keys_and_page_through_versions(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    versions = {client.create_rsa_key("paged").properties.version for _ in range(3)}

    assert "paged" in {k.name for k in client.list_properties_of_keys()}
    pages = list(
        client.list_properties_of_key_versions("paged", max_page_size=1).by_page()
    )
    listed = [props for page in pages for props in page]
    assert len(pages) == 3
    assert {p.version for p in listed} == versions
    assert [p.version for p in listed] == sorted(versions)


def test_update_properties_of_latest_and_of_a_version(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    first = client.create_rsa_key("updatable")
    client.create_rsa_key("updatable")
    not_before = datetime(2030, 1, 1, tzinfo=UTC)
    expires = datetime(2031, 1, 1, tzinfo=UTC)

    latest = client.update_key_properties(
        "updatable",
        enabled=False,
        not_before=not_before,
        expires_on=expires,
        key_operations=["wrapKey", "unwrapKey"],
        tags={"role": "protector"},
    )
    old = client.update_key_properties(
        "updatable", first.properties.version, enabled=False
    )

    assert latest.properties.enabled is False
    assert latest.properties.not_before == not_before
    assert latest.properties.expires_on == expires
    assert latest.key_operations == ["wrapKey", "unwrapKey"]
    assert latest.properties.tags == {"role": "protector"}
    assert old.id == first.id and old.properties.enabled is False
    assert client.get_key("updatable").properties.enabled is False


def test_rotate_makes_a_new_version_with_new_material(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    original = client.create_rsa_key("rotating", size=3072)
    rotated = client.rotate_key("rotating")

    assert rotated.properties.version != original.properties.version
    assert rotated.key.n != original.key.n
    assert len(rotated.key.n) * 8 == 3072
    assert client.get_key("rotating").id == rotated.id


def test_rotation_policy_defaults_and_appends_notify(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.create_rsa_key("policy")
    default = client.get_key_rotation_policy("policy")
    assert [a.action for a in default.lifetime_actions] == ["Notify"]

    updated = client.update_key_rotation_policy(
        "policy",
        KeyRotationPolicy(),
        lifetime_actions=[
            KeyRotationLifetimeAction("Rotate", time_after_create="P90D")
        ],
        expires_in="P1Y",
    )
    assert [a.action for a in updated.lifetime_actions] == ["Rotate", "Notify"]
    assert updated.expires_in == "P1Y"
    assert client.get_key_rotation_policy("policy").expires_in == "P1Y"

    rotated = client.rotate_key("policy")
    assert rotated.properties.expires_on is not None
    lifetime = rotated.properties.expires_on - rotated.properties.created_on
    assert abs(lifetime - timedelta(days=365)) < timedelta(minutes=5)


def test_import_key_and_import_again_as_a_new_version(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()
    jwk = JsonWebKey(
        kty=KeyType.rsa,
        n=b"\x00" + b64int(numbers.public_numbers.n),
        e=b64int(numbers.public_numbers.e),
        d=b64int(numbers.d),
        p=b64int(numbers.p),
        q=b64int(numbers.q),
        dp=b64int(numbers.dmp1),
        dq=b64int(numbers.dmq1),
        qi=b64int(numbers.iqmp),
        key_ops=["wrapKey", "unwrapKey"],
    )

    first = client.import_key(
        "byok", jwk, hardware_protected=True, tags={"source": "hsm"}
    )
    second = client.import_key("byok", jwk)

    assert first.key.n == b64int(numbers.public_numbers.n)  # no leading zero back
    assert first.key_type == KeyType.rsa_hsm
    assert first.key_operations == ["wrapKey", "unwrapKey"]
    assert second.properties.version != first.properties.version
    assert second.key.n == first.key.n
    assert len(list(client.list_properties_of_key_versions("byok"))) == 2


def test_import_refuses_a_public_key_only(sdk: Sdk) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    jwk = JsonWebKey(kty=KeyType.rsa, n=b64int(numbers.n), e=b64int(numbers.e))
    with pytest.raises(HttpResponseError) as caught:
        sdk.key_client(VAULT).import_key("public-only", jwk)
    assert caught.value.status_code == 400


def test_soft_delete_get_list_and_recover(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    created = client.create_rsa_key("doomed")

    poller = client.begin_delete_key("doomed")
    deleted = poller.result()
    poller.wait()

    assert deleted.recovery_id == f"{sdk.endpoints.vaults[VAULT]}/deletedkeys/doomed"
    assert deleted.scheduled_purge_date - deleted.deleted_date == timedelta(days=90)
    assert client.get_deleted_key("doomed").id == created.id
    assert "doomed" in {k.name for k in client.list_deleted_keys()}
    with pytest.raises(ResourceNotFoundError):
        client.get_key("doomed")
    with pytest.raises(ResourceExistsError):
        client.create_rsa_key("doomed")

    recovered = client.begin_recover_deleted_key("doomed").result()
    assert recovered.id == created.id
    assert client.get_key("doomed").key.n == created.key.n


def test_purge_is_refused_under_purge_protection(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.create_rsa_key("kept")
    client.begin_delete_key("kept").wait()

    with pytest.raises(HttpResponseError) as caught:
        client.purge_deleted_key("kept")
    assert caught.value.status_code == 403
    assert "purge protection" in caught.value.message
    assert client.get_deleted_key("kept").name == "kept"


def test_purge_without_purge_protection(simulator: SimProcess) -> None:
    simulator.put_vault("kv-sim-purgeable", enable_purge_protection=False)
    client = Sdk(simulator).key_client("kv-sim-purgeable")
    client.create_rsa_key("gone")
    client.begin_delete_key("gone").wait()

    client.purge_deleted_key("gone")
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_key("gone")
    client.create_rsa_key("gone")  # the name is free again


def test_delete_without_soft_delete_is_final(simulator: SimProcess) -> None:
    simulator.put_vault(
        "kv-sim-nosoft", enable_soft_delete=False, enable_purge_protection=False
    )
    client = Sdk(simulator).key_client("kv-sim-nosoft")
    assert client.create_rsa_key("k").properties.recovery_level == "Purgeable"

    deleted = client.begin_delete_key("k").result()
    assert deleted.recovery_id is None
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_key("k")


def test_soft_deleted_key_is_purged_after_retention(
    sdk: Sdk, simulator: SimProcess
) -> None:
    client = sdk.key_client(VAULT)
    client.create_rsa_key("aging")
    client.begin_delete_key("aging").wait()

    simulator.set_clock(advance_seconds=91 * 86400)
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_key("aging")
