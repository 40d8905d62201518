"""The simulator's answers carry every field of the published REST examples.

Each example of the Key Vault keys specification is performed against the
simulator with the example's own parameters (after whatever set-up the
operation needs: a key to get, a deletion to recover). Every field name and
nesting level of the example's response must be in the simulator's answer;
the simulator may add fields newer service versions return (recoverableDays,
exportable, hsmPlatform, key_size).
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from simclients import Sdk

from azuresim.process import SimProcess

FIXTURES = Path(__file__).parent / "keyvault_fixtures" / "examples"
VAULT = "kv-contract"
TAGS = {"purpose": "unit test", "test name ": "contract"}


def field_paths(value: Any, prefix: str = "") -> set[str]:
    """Every field path in a JSON value; tag names are data, not shape."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}/{key}"
            paths.add(path)
            if key != "tags":
                paths |= field_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= field_paths(item, f"{prefix}[]")
    return paths


class Vault:
    def __init__(self, http: httpx.Client, url: str, api_version: str) -> None:
        self.http = http
        self.url = url
        self.api_version = api_version

    def call(
        self, method: str, path: str, body: Any = None, **query: Any
    ) -> httpx.Response:
        params = {"api-version": self.api_version, **query}
        return self.http.request(method, self.url + path, json=body, params=params)

    def ok(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        response = self.call(method, path, body, **query)
        assert response.status_code in (200, 204), response.text
        return response.json() if response.content else None

    def create(self, name: str, **extra: Any) -> dict[str, Any]:
        body = {"kty": "RSA", "key_size": 2048, "tags": TAGS, **extra}
        created: dict[str, Any] = self.ok("POST", f"/keys/{name}/create", body)
        return created


def version_of(bundle: dict[str, Any]) -> str:
    return str(bundle["key"]["kid"].rsplit("/", 1)[-1])


def perform(vault: Vault, operation: str, parameters: dict[str, Any]) -> httpx.Response:
    name = "example-key"
    body = parameters.get("parameters")
    steps: dict[str, Callable[[], httpx.Response]] = {
        "CreateKey": lambda: vault.call("POST", f"/keys/{name}/create", body),
        "ImportKey": lambda: vault.call("PUT", f"/keys/{name}", body),
        "GetKey": lambda: vault.call(
            "GET", f"/keys/{name}/{version_of(vault.create(name))}"
        ),
        "GetKeyVersions": lambda: (
            vault.create(name),
            vault.create(name),
            vault.call("GET", f"/keys/{name}/versions", maxresults=1),
        )[-1],
        "UpdateKey": lambda: vault.call(
            "PATCH", f"/keys/{name}/{version_of(vault.create(name))}", body
        ),
        "RotateKey": lambda: (
            vault.create(name),
            vault.call("POST", f"/keys/{name}/rotate"),
        )[-1],
        "GetKeyRotationPolicy": lambda: (
            vault.create(name),
            vault.ok("PUT", f"/keys/{name}/rotationpolicy", rotation_policy()),
            vault.call("GET", f"/keys/{name}/rotationpolicy"),
        )[-1],
        "UpdateKeyRotationPolicy": lambda: (
            vault.create(name),
            vault.call(
                "PUT", f"/keys/{name}/rotationpolicy", parameters["keyRotationPolicy"]
            ),
        )[-1],
        "BackupKey": lambda: (
            vault.create(name),
            vault.call("POST", f"/keys/{name}/backup"),
        )[-1],
        "RestoreKey": lambda: restore(vault, name),
        "DeleteKey": lambda: (
            vault.create(name),
            vault.call("DELETE", f"/keys/{name}"),
        )[-1],
        "GetDeletedKey": lambda: (
            vault.create(name),
            vault.ok("DELETE", f"/keys/{name}"),
            vault.call("GET", f"/deletedkeys/{name}"),
        )[-1],
        "RecoverDeletedKey": lambda: (
            vault.create(name),
            vault.ok("DELETE", f"/keys/{name}"),
            vault.call("POST", f"/deletedkeys/{name}/recover"),
        )[-1],
        "wrapKey": lambda: vault.call(
            "POST", f"/keys/{name}/{version_of(vault.create(name))}/wrapkey", body
        ),
        "unwrapKey": lambda: unwrap(vault, name, body),
    }
    return steps[operation]()


def rotation_policy() -> dict[str, Any]:
    return {
        "lifetimeActions": [
            {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}},
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}},
        ],
        "attributes": {"expiryTime": "P2Y"},
    }


def restore(vault: Vault, name: str) -> httpx.Response:
    vault.create(name, attributes={"nbf": 1700000000, "exp": 4102444800})
    blob = vault.ok("POST", f"/keys/{name}/backup")
    vault.ok("DELETE", f"/keys/{name}")
    vault.ok("DELETE", f"/deletedkeys/{name}")
    return vault.call("POST", "/keys/restore", blob)


def unwrap(vault: Vault, name: str, body: dict[str, Any]) -> httpx.Response:
    version = version_of(vault.create(name))
    wrapped = vault.ok(
        "POST",
        f"/keys/{name}/{version}/wrapkey",
        {"alg": body["alg"], "value": "c2VjcmV0LWtleS1tYXRlcmlhbA"},
    )
    return vault.call(
        "POST",
        f"/keys/{name}/{version}/unwrapkey",
        {"alg": body["alg"], "value": wrapped["value"]},
    )


EXAMPLES = sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_answer_has_every_field_of_the_example(
    simulator: SimProcess, sdk: Sdk, example: Path
) -> None:
    spec = json.loads(example.read_text())
    simulator.put_vault(VAULT, enable_purge_protection=False)
    token = sdk.credential().get_token("https://vault.azure.net/.default").token
    http = httpx.Client(
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    vault = Vault(http, sdk.endpoints.vaults[VAULT], spec["parameters"]["api-version"])

    response = perform(vault, spec["operationId"], spec["parameters"])

    status, expected = next(iter(spec["responses"].items()))
    assert response.status_code == int(status), response.text
    missing = field_paths(expected.get("body")) - field_paths(response.json())
    assert missing == set()
