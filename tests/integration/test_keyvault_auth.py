"""Who may call a vault: the 401 challenge, foreign tokens, RBAC and access policies."""

from __future__ import annotations

import re
import ssl
import time

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from simclients import Sdk

from azuresim.process import SimProcess

VAULT = "kv-tde-eastus2"


class ForeignCredential:
    """A token the simulator never issued."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("eyJ.not-issued-by-the-simulator.x", int(time.time()) + 3600)


def http(sdk: Sdk) -> httpx.Client:
    return httpx.Client(
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle)
    )


def inner_code(error: HttpResponseError) -> str | None:
    assert error.response is not None
    return (error.response.json()["error"].get("innererror") or {}).get("code")


def test_request_without_token_gets_the_challenge(sdk: Sdk) -> None:
    vault = sdk.endpoints.vaults[VAULT]
    url = f"{vault}/keys/tde-protector/create?api-version=2025-07-01"
    response = http(sdk).post(url, headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == (
        f'Bearer authorization="{sdk.endpoints.authority}/{sdk.endpoints.tenant_id}", '
        'resource="https://vault.azure.net"'
    )
    assert response.json() == {
        "error": {
            "code": "Unauthorized",
            "message": "AKV10000: Request is missing a Bearer or PoP token.",
        }
    }


def test_foreign_token_is_refused(sdk: Sdk) -> None:
    client = sdk.key_client(VAULT, ForeignCredential())
    with pytest.raises(ClientAuthenticationError) as caught:
        client.get_key("tde-protector")
    assert caught.value.status_code == 401


def test_wrong_client_secret_gets_no_token(sdk: Sdk) -> None:
    credential = sdk.credential(sdk.endpoints.client_id, "not-the-secret")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        credential.get_token("https://vault.azure.net/.default")


def test_client_secret_credential_gets_a_token(sdk: Sdk) -> None:
    token = sdk.credential().get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > time.time() + 3000


def test_rbac_vault_refuses_a_principal_with_no_role(
    simulator: SimProcess, sdk: Sdk
) -> None:
    app = simulator.add_principal("no-role")
    client = sdk.key_client(
        VAULT, sdk.credential(app["client_id"], app["client_secret"])
    )

    with pytest.raises(HttpResponseError) as caught:
        client.get_key("tde-protector")
    assert caught.value.status_code == 403
    assert caught.value.error.code == "Forbidden"
    assert inner_code(caught.value) == "ForbiddenByRbac"
    assert "Microsoft.KeyVault/vaults/keys/read" in caught.value.message
    assert re.search(r"Missing key permission: get\b", caught.value.message)


def test_service_encryption_user_may_unwrap_but_not_delete(
    simulator: SimProcess, sdk: Sdk
) -> None:
    app = simulator.add_principal(
        "instance-like",
        roles=[{"role": "Key Vault Crypto Service Encryption User", "vault": VAULT}],
    )
    credential = sdk.credential(app["client_id"], app["client_secret"])
    client = sdk.key_client(VAULT, credential)

    key = client.get_key("tde-protector")
    crypto = sdk.crypto_client(key, credential)
    wrapped = crypto.wrap_key("RSA-OAEP-256", b"s" * 32)
    assert crypto.unwrap_key("RSA-OAEP-256", wrapped.encrypted_key).key == b"s" * 32
    with pytest.raises(HttpResponseError) as caught:
        client.begin_delete_key("tde-protector")
    assert caught.value.status_code == 403
    assert "Missing key permission: delete" in caught.value.message


def test_access_policy_vault_names_the_missing_permission(
    simulator: SimProcess, sdk: Sdk
) -> None:
    app = simulator.add_principal("reader")
    simulator.put_vault(
        VAULT,
        enable_rbac_authorization=False,
        access_policies=[
            {"object_id": app["object_id"], "key_permissions": ["get", "list"]}
        ],
    )
    client = sdk.key_client(
        VAULT, sdk.credential(app["client_id"], app["client_secret"])
    )

    assert client.get_key("tde-protector").name == "tde-protector"
    with pytest.raises(HttpResponseError) as caught:
        client.create_rsa_key("not-allowed")
    assert caught.value.status_code == 403
    assert inner_code(caught.value) == "AccessDenied"
    assert "does not have keys create permission" in caught.value.message


def test_operator_loses_access_when_the_vault_switches_to_access_policies(
    simulator: SimProcess, sdk: Sdk
) -> None:
    """RBAC assignments do not count on an access-policy vault."""
    simulator.put_vault(VAULT, enable_rbac_authorization=False, access_policies=[])
    with pytest.raises(HttpResponseError) as caught:
        sdk.key_client(VAULT).get_key("tde-protector")
    assert inner_code(caught.value) == "AccessDenied"
