"""Wrap, unwrap, encrypt and decrypt with real RSA, through CryptographyClient."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys.crypto import (
    EncryptionAlgorithm,
    KeyWrapAlgorithm,
    SignatureAlgorithm,
)
from cryptography.hazmat.primitives import hashes
from simclients import Sdk

from azuresim.process import SimProcess

VAULT = "kv-tde-eastus2"
OAEP = [KeyWrapAlgorithm.rsa_oaep, KeyWrapAlgorithm.rsa_oaep_256]


def inner_code(error: HttpResponseError) -> str | None:
    body = error.response.json() if error.response is not None else {}
    return (body.get("error", {}).get("innererror") or {}).get("code")


@pytest.mark.parametrize("algorithm", [*OAEP, KeyWrapAlgorithm.rsa1_5])
def test_wrap_then_unwrap_round_trip(sdk: Sdk, algorithm: KeyWrapAlgorithm) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("wrapping")
    crypto = sdk.crypto_client(key)
    secret = os.urandom(32)

    wrapped = crypto.wrap_key(algorithm, secret)
    assert wrapped.key_id == key.id and wrapped.encrypted_key != secret
    assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == secret


def test_unwrap_of_a_wrong_algorithm_fails(sdk: Sdk) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("wrapping")
    crypto = sdk.crypto_client(key)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, os.urandom(32))
    with pytest.raises(HttpResponseError) as caught:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key)
    assert caught.value.status_code == 400


@pytest.mark.parametrize("algorithm", OAEP)
def test_server_side_wrap_for_a_caller_without_get(
    simulator: SimProcess, sdk: Sdk, algorithm: KeyWrapAlgorithm
) -> None:
    """Without `get` the client cannot wrap locally, so the vault wraps."""
    key = sdk.key_client(VAULT).create_rsa_key("wrapping")
    app = simulator.add_principal("wrap-only")
    simulator.put_vault(
        VAULT,
        enable_rbac_authorization=False,
        access_policies=[
            {"object_id": app["object_id"], "key_permissions": ["wrapKey", "unwrapKey"]}
        ],
    )
    credential = sdk.credential(app["client_id"], app["client_secret"])
    crypto = sdk.crypto_client(key.id, credential)
    secret = os.urandom(32)

    wrapped = crypto.wrap_key(algorithm, secret)
    assert crypto.unwrap_key(algorithm, wrapped.encrypted_key).key == secret


def test_encrypt_decrypt_round_trip(sdk: Sdk) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("enc")
    crypto = sdk.crypto_client(key)
    encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"attack at dawn")
    assert (
        crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, encrypted.ciphertext).plaintext
        == b"attack at dawn"
    )


def test_disabled_key_refuses_unwrap_and_decrypt(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    key = client.create_rsa_key("disabled")
    crypto = sdk.crypto_client(key.id)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, os.urandom(32))
    encrypted = crypto.encrypt(EncryptionAlgorithm.rsa_oaep, b"x")
    client.update_key_properties("disabled", enabled=False)

    with pytest.raises(HttpResponseError) as caught:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key)
    assert caught.value.status_code == 403
    assert caught.value.error.code == "Forbidden"
    assert inner_code(caught.value) == "KeyDisabled"
    assert "unwrapKey" in caught.value.message
    with pytest.raises(HttpResponseError) as caught:
        crypto.decrypt(EncryptionAlgorithm.rsa_oaep, encrypted.ciphertext)
    assert inner_code(caught.value) == "KeyDisabled"

    client.update_key_properties("disabled", enabled=True)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key).key


def test_expired_and_not_yet_valid_keys_refuse_unwrap(
    simulator: SimProcess, sdk: Sdk
) -> None:
    client = sdk.key_client(VAULT)
    key = client.create_rsa_key("timed")
    crypto = sdk.crypto_client(key.id)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, os.urandom(32))
    now = datetime.fromisoformat(simulator.clock()["now"])  # the vault's time

    client.update_key_properties("timed", expires_on=now - timedelta(days=1))
    with pytest.raises(HttpResponseError) as caught:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key)
    assert caught.value.status_code == 403 and inner_code(caught.value) == "KeyExpired"

    client.update_key_properties(
        "timed",
        expires_on=now + timedelta(days=400),
        not_before=now + timedelta(days=300),
    )
    with pytest.raises(HttpResponseError) as caught:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key)
    assert inner_code(caught.value) == "KeyNotYetValid"


def test_key_ops_limit_what_the_key_does(sdk: Sdk) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("limited", key_operations=["wrapKey"])
    crypto = sdk.crypto_client(key.id)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep, os.urandom(32))
    with pytest.raises(HttpResponseError) as caught:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key)
    assert caught.value.status_code == 403


def test_versionless_key_id_uses_the_latest_version(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.create_rsa_key("latest")
    newest = client.rotate_key("latest")
    crypto = sdk.crypto_client(f"{sdk.endpoints.vaults[VAULT]}/keys/latest")
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    unwrapped = crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    assert unwrapped.key == b"k" * 32
    assert unwrapped.key_id == newest.id


@pytest.mark.parametrize(
    "algorithm", [SignatureAlgorithm.rs256, SignatureAlgorithm.ps384]
)
def test_sign_in_the_vault_and_verify_there(
    simulator: SimProcess, sdk: Sdk, algorithm: SignatureAlgorithm
) -> None:
    key = sdk.key_client(VAULT).create_rsa_key("signing")
    app = simulator.add_principal("signer")
    simulator.put_vault(
        VAULT,
        enable_rbac_authorization=False,
        access_policies=[
            {"object_id": app["object_id"], "key_permissions": ["sign", "verify"]}
        ],
    )
    crypto = sdk.crypto_client(
        key.id, sdk.credential(app["client_id"], app["client_secret"])
    )
    hash_algorithm = (
        hashes.SHA256() if algorithm.value.endswith("256") else hashes.SHA384()
    )
    hasher = hashes.Hash(hash_algorithm)
    hasher.update(b"the protector rotates tonight")
    digest = hasher.finalize()

    signed = crypto.sign(algorithm, digest)
    assert crypto.verify(algorithm, digest, signed.signature).is_valid
    assert not crypto.verify(
        algorithm, digest, b"\x00" * len(signed.signature)
    ).is_valid


def test_disabled_key_refuses_sign(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    key = client.create_rsa_key("unsigned")
    client.update_key_properties("unsigned", enabled=False)
    with pytest.raises(HttpResponseError) as caught:
        sdk.crypto_client(key.id).sign(SignatureAlgorithm.rs256, b"d" * 32)
    assert inner_code(caught.value) == "KeyDisabled"


def test_an_empty_version_segment_means_the_latest_version(sdk: Sdk) -> None:
    """CryptographyClient falls back to `/keys/{name}//wrapkey` for a versionless
    id it could not read; the vault must treat the empty version as latest."""
    import ssl

    import httpx

    latest = sdk.key_client(VAULT).create_rsa_key("slashes")
    token = sdk.credential().get_token("https://vault.azure.net/.default").token
    url = f"{sdk.endpoints.vaults[VAULT]}/keys/slashes//wrapkey?api-version=2025-07-01"
    with httpx.Client(
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle)
    ) as http:
        response = http.post(
            url,
            json={"alg": "RSA-OAEP", "value": "AAAA"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["kid"] == latest.id
