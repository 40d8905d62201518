"""The simulator's ARM answers against real recorded and published Azure
responses (arm_fixtures/, copied from the team's shared contracts): the same
status codes, the same LRO headers on the simulator's own host, and the same
JSON field names and nesting.

Bodies are compared by shape, not value: every field the recording has must
be present with the same kind of value (object, list, scalar), recursively;
ids, hosts, times and GUIDs are normalised before URLs are compared. Fields
the simulator adds beyond a recording (newer API versions carry more) are
listed per operation so that an addition is a decision, not an accident.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from simclients import Sdk

from azuresim.process import SimProcess

CONTRACTS = Path(__file__).parent / "arm_fixtures"
SUB = "00000000-0000-0000-0000-000000000000"
EAST_MI = (
    f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/"
    "Microsoft.Sql/managedInstances/sqlmi-tde-eastus2"
)
API = {"sql": "2025-01-01", "kv": "2026-05-15", "net": "2026-03-01"}


# --------------------------------------------------------------------------
# Recordings and comparison


def recorded(
    file: str,
    method: str,
    path_pattern: str,
    status: int | None = None,
    where: Callable[[Any], bool] = lambda body: True,
) -> dict[str, Any]:
    """The first recorded interaction whose method, path and body match."""
    data = json.loads((CONTRACTS / "recorded" / file).read_text())
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        if request["method"] != method or not re.search(path_pattern, request["path"]):
            continue
        if (status is None or response["status"] == status) and where(response["body"]):
            return dict(response)
    raise LookupError(f"{file}: no {method} {path_pattern}")


def example(file: str, status: str = "200") -> Any:
    data = json.loads((CONTRACTS / "examples" / file).read_text())
    return data["responses"][status].get("body")


def missing_fields(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Paths present in `expected` but absent (or of another kind) in `actual`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object"]
        problems: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            elif value is not None:
                problems += missing_fields(value, actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list"]
        if expected and actual:
            return missing_fields(expected[0], actual[0], f"{path}[0]")
        return []
    if isinstance(actual, dict | list):
        return [f"{path}: expected a scalar"]
    return []


def extra_fields(expected: Any, actual: Any, path: str = "$") -> set[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        extra = {f"{path}.{k}" for k in actual if k not in expected}
        for key, value in expected.items():
            if key in actual:
                extra |= extra_fields(value, actual[key], f"{path}.{key}")
        return extra
    if isinstance(expected, list) and isinstance(actual, list) and expected and actual:
        return extra_fields(expected[0], actual[0], f"{path}[0]")
    return set()


def assert_same_shape(
    expected: Any, actual: Any, allowed_extra: frozenset[str] = frozenset()
) -> None:
    assert missing_fields(expected, actual) == []
    assert extra_fields(expected, actual) <= allowed_extra


_GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def url_shape(url: str) -> str:
    """A monitor URL without host, ids, names and query values."""
    path = re.sub(r"^https://[^/]+", "", url).split("?")[0]
    path = _GUID.sub("{id}", path)
    for segment in (
        "subscriptions",
        "resourceGroups",
        "locations",
        "vaults",
        "privateEndpointConnections",
    ):
        path = re.sub(rf"/{segment}/[^/]+", f"/{segment}/{{}}", path)
    return path


# --------------------------------------------------------------------------
# A raw ARM client (the SDK hides status codes and headers)


class Arm:
    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.base = sim.endpoints.arm_url
        token = Sdk(sim).credential().get_token("https://management.azure.com/.default")
        self.client = httpx.Client(
            verify=ssl.create_default_context(cafile=sim.endpoints.ca_bundle),
            headers={"Authorization": f"Bearer {token.token}"},
            timeout=30,
        )

    def call(
        self, method: str, path: str, body: Any = None, api: str = "sql"
    ) -> httpx.Response:
        url = path if path.startswith("https://") else self.base + path
        if "api-version" not in url:
            url += ("&" if "?" in url else "?") + f"api-version={API[api]}"
        return self.client.request(method, url, json=body)

    def wait(self, monitor: str) -> httpx.Response:
        """Poll a monitor URL until it is no longer InProgress (or 202)."""
        for _ in range(200):
            response = self.call("GET", monitor)
            if response.status_code == 202:
                pass
            elif (
                response.status_code != 200
                or response.json().get("status") != "InProgress"
            ):
                return response
            time.sleep(0.1)
        raise TimeoutError(monitor)


@pytest.fixture
def arm(simulator: SimProcess) -> Arm:
    return Arm(simulator)


def assert_lro_headers(
    response: httpx.Response, recording: dict[str, Any], base: str
) -> None:
    expected = {k.lower() for k in recording["headers"]} - {"content-type"}
    actual = {k.lower() for k in response.headers} & {
        "azure-asyncoperation",
        "location",
        "retry-after",
    }
    assert actual == expected
    for name in expected:
        assert response.headers[name].startswith(base + "/")
        assert url_shape(response.headers[name]) == url_shape(
            recording["headers"][_canonical(recording, name)]
        )


def _canonical(recording: dict[str, Any], lower: str) -> str:
    return next(k for k in recording["headers"] if k.lower() == lower)


def new_key_uri(sim: SimProcess, name: str) -> str:
    key = Sdk(sim).key_client("kv-tde-eastus2").create_rsa_key(name, size=2048)
    return str(key.id)


# --------------------------------------------------------------------------
# Microsoft.Sql


def test_managed_instance_get(arm: Arm) -> None:
    recording = recorded("mi-keys.json", "GET", r"/managedInstances/[^/?]+\?")
    response = arm.call("GET", EAST_MI)

    assert response.status_code == recording["status"]
    assert_same_shape(
        recording["body"],
        response.json(),
        frozenset(
            {
                "$.properties.keyId",
                "$.properties.currentBackupStorageRedundancy",
                "$.properties.requestedBackupStorageRedundancy",
                "$.properties.zoneRedundant",
            }
        ),
    )


def test_managed_instance_key_put_poll_get_delete(
    arm: Arm, simulator: SimProcess
) -> None:
    put = recorded("mi-keys.json", "PUT", r"/keys/")
    poll = recorded("mi-keys.json", "GET", r"managedInstanceKeyAzureAsyncOperation")
    get = recorded("mi-keys.json", "GET", r"/managedInstances/[^/]+/keys/[^/?]+\?")
    delete = recorded("mi-keys.json", "DELETE", r"/keys/")
    uri = new_key_uri(simulator, "contract")
    name = "kv-tde-eastus2_contract_" + uri.rsplit("/", 1)[-1]

    response = arm.call(
        "PUT",
        f"{EAST_MI}/keys/{name}",
        {"properties": {"serverKeyType": "AzureKeyVault", "uri": uri}},
    )
    assert response.status_code == put["status"] == 202
    assert_same_shape(put["body"], response.json())
    assert response.json()["operation"] == put["body"]["operation"]
    assert_lro_headers(response, put, arm.base)

    done = arm.wait(response.headers["Azure-AsyncOperation"])
    assert done.status_code == poll["status"]
    assert done.json()["status"] == "Succeeded"
    assert_same_shape(poll["body"], done.json())

    key = arm.call("GET", f"{EAST_MI}/keys/{name}")
    assert key.status_code == get["status"]
    assert_same_shape(
        get["body"], key.json(), frozenset({"$.properties.autoRotationEnabled"})
    )

    removed = arm.call("DELETE", f"{EAST_MI}/keys/{name}")
    assert removed.status_code == delete["status"]
    assert removed.json()["operation"] == delete["body"]["operation"]
    assert_lro_headers(removed, delete, arm.base)


def test_managed_instance_keys_list(arm: Arm) -> None:
    recording = recorded("mi-tde-byok.json", "GET", r"/managedInstances/[^/]+/keys\?")
    published = example("ManagedInstanceKeyList.json")
    response = arm.call("GET", f"{EAST_MI}/keys")

    assert response.status_code == recording["status"]
    assert_same_shape(recording["body"], response.json())
    service_managed = response.json()["value"][-1]
    assert service_managed == {
        **published["value"][-1],
        "id": f"{EAST_MI}/keys/ServiceManaged",
    }


def test_encryption_protector_put_poll_get(arm: Arm) -> None:
    put = recorded(
        "mi-encryption-protector.json", "PUT", r"/encryptionProtector/current"
    )
    poll = recorded(
        "mi-encryption-protector.json", "GET", r"EncryptionProtectorAzureAsyncOperation"
    )
    get = recorded(
        "mi-encryption-protector.json", "GET", r"/encryptionProtector/current\?"
    )
    current = arm.call("GET", f"{EAST_MI}/encryptionProtector/current").json()

    response = arm.call(
        "PUT",
        f"{EAST_MI}/encryptionProtector/current",
        {
            "properties": {
                "serverKeyName": current["properties"]["serverKeyName"],
                "serverKeyType": "AzureKeyVault",
            }
        },
    )
    assert response.status_code == put["status"] == 202
    assert response.json()["operation"] == "UpsertManagedServerEncryptionProtector"
    assert_lro_headers(response, put, arm.base)
    first = arm.call("GET", response.headers["Azure-AsyncOperation"])
    assert first.json()["status"] == "InProgress"
    assert_same_shape(poll["body"], first.json())
    assert (
        arm.wait(response.headers["Azure-AsyncOperation"]).json()["status"]
        == "Succeeded"
    )

    protector = arm.call("GET", f"{EAST_MI}/encryptionProtector/current")
    assert protector.status_code == get["status"]
    assert_same_shape(
        get["body"],
        protector.json(),
        frozenset({"$.properties.thumbprint", "$.properties.autoRotationEnabled"}),
    )
    listed = arm.call("GET", f"{EAST_MI}/encryptionProtector").json()
    assert_same_shape(
        example("ManagedInstanceEncryptionProtectorList.json"),
        listed,
        frozenset(
            {
                "$.value[0].properties.thumbprint",
                "$.value[0].properties.autoRotationEnabled",
            }
        ),
    )


def test_service_managed_protector_shape(arm: Arm) -> None:
    recording = recorded("mi-tde-byok.json", "GET", r"/encryptionProtector/current\?")
    arm.wait(
        arm.call(
            "PUT",
            f"{EAST_MI}/encryptionProtector/current",
            {
                "properties": {
                    "serverKeyName": "ServiceManaged",
                    "serverKeyType": "ServiceManaged",
                }
            },
        ).headers["Azure-AsyncOperation"]
    )
    response = arm.call("GET", f"{EAST_MI}/encryptionProtector/current").json()

    assert response["kind"] == recording["body"]["kind"] == "servicemanaged"
    assert response["properties"] == recording["body"]["properties"]


def test_revalidate_is_a_202_with_location(arm: Arm) -> None:
    assert (
        set(example("ManagedInstanceEncryptionProtectorRevalidate.json", "202") or {})
        == set()
    )
    response = arm.call("POST", f"{EAST_MI}/encryptionProtector/current/revalidate")

    assert response.status_code == 202
    assert "Location" in response.headers
    assert "Retry-After" not in response.headers
    result = arm.wait(response.headers["Location"])
    assert result.status_code == 204


def test_managed_databases_list_get_and_missing(arm: Arm) -> None:
    listed = recorded("managed-databases.json", "GET", r"/databases\?")
    one = recorded(
        "managed-databases.json", "GET", r"/databases/cliautomationdb01\?", 200
    )
    missing = recorded(
        "managed-databases.json", "GET", r"/databases/cliautomationdb01\?", 404
    )
    extras = frozenset({"$.properties.failoverGroupId"})

    response = arm.call("GET", f"{EAST_MI}/databases")
    assert response.status_code == listed["status"]
    assert_same_shape(
        listed["body"],
        response.json(),
        # The first recorded database was restored: no earliestRestorePoint.
        frozenset(
            {
                "$.value[0].properties.failoverGroupId",
                "$.value[0].properties.earliestRestorePoint",
            }
        ),
    )
    got = arm.call("GET", f"{EAST_MI}/databases/sales")
    assert_same_shape(
        {k: v for k, v in one["body"].items() if k != "tags"},
        got.json(),
        extras,
    )
    gone = arm.call("GET", f"{EAST_MI}/databases/nope")
    assert gone.status_code == missing["status"]
    assert gone.json()["error"]["code"] == missing["body"]["error"]["code"]
    assert gone.json()["error"]["message"] == missing["body"]["error"][
        "message"
    ].replace("cliautomationdb01", "nope")


def test_inaccessible_databases_list(arm: Arm) -> None:
    response = arm.call("GET", f"{EAST_MI}/inaccessibleManagedDatabases")
    assert response.status_code == 200
    assert response.json() == {"value": []}
    published = example("InaccessibleManagedDatabaseListByManagedInstance.json")
    assert set(published) == set(response.json())


FOG = (
    f"/subscriptions/{SUB}/resourceGroups/{{rg}}/providers/Microsoft.Sql/locations/"
    "{loc}/instanceFailoverGroups/fog-tde"
)


def test_failover_group_get_from_each_region(arm: Arm) -> None:
    recording = recorded(
        "instance-failover-group.json",
        "GET",
        r"/instanceFailoverGroups/[^/?]+\?",
        where=lambda body: (
            body["properties"]["readWriteEndpoint"]["failoverPolicy"] == "Manual"
        ),
    )
    east = arm.call("GET", FOG.format(rg="rg-tde-eastus2", loc="eastus2")).json()
    central = arm.call("GET", FOG.format(rg="rg-tde-centralus", loc="centralus")).json()

    for body in (east, central):
        assert_same_shape(
            recording["body"], body, frozenset({"$.properties.secondaryType"})
        )
    assert "/locations/East US 2/" in east["id"]
    assert "/locations/Central US/" in central["id"]
    assert east["properties"]["readWriteEndpoint"] == {"failoverPolicy": "Manual"}
    listed = arm.call(
        "GET",
        f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/Microsoft.Sql/"
        "locations/eastus2/instanceFailoverGroups",
    ).json()
    published = example("InstanceFailoverGroupList.json")
    for group in published["value"]:
        # The published groups are Automatic; a Manual group has no grace
        # period (as the recording shows).
        group["properties"]["readWriteEndpoint"].pop(
            "failoverWithDataLossGracePeriodMinutes"
        )
    assert_same_shape(
        published, listed, frozenset({"$.value[0].properties.secondaryType"})
    )


def test_failover_group_update_failover_and_delete(arm: Arm) -> None:
    update = recorded(
        "instance-failover-group.json", "PUT", r"/instanceFailoverGroups/"
    )
    failover = recorded("instance-failover-group.json", "POST", r"/failover\?")
    result = recorded(
        "instance-failover-group.json", "GET", r"instanceFailoverGroupOperationResults"
    )
    delete = recorded(
        "instance-failover-group.json", "DELETE", r"/instanceFailoverGroups/"
    )
    east = FOG.format(rg="rg-tde-eastus2", loc="eastus2")
    body = arm.call("GET", east).json()

    response = arm.call("PUT", east, {"properties": body["properties"]})
    assert response.status_code == update["status"]
    assert response.json()["operation"] == "UpdateManagedFailoverGroup"
    assert_lro_headers(response, update, arm.base)
    arm.wait(response.headers["Azure-AsyncOperation"])

    central = FOG.format(rg="rg-tde-centralus", loc="centralus")
    response = arm.call("POST", central + "/failover")
    assert response.status_code == failover["status"]
    assert response.json()["operation"] == failover["body"]["operation"]
    assert_lro_headers(response, failover, arm.base)
    assert (
        arm.wait(response.headers["Azure-AsyncOperation"]).json()["status"]
        == "Succeeded"
    )
    final = arm.call("GET", response.headers["Location"])
    assert final.status_code == result["status"]
    assert_same_shape(
        result["body"], final.json(), frozenset({"$.properties.secondaryType"})
    )
    assert final.json()["properties"]["replicationRole"] == "Primary"

    response = arm.call("DELETE", east)
    assert response.status_code == delete["status"]
    assert response.json()["operation"] == "DropManagedFailoverGroup"
    assert_lro_headers(response, delete, arm.base)


# --------------------------------------------------------------------------
# Microsoft.KeyVault and Microsoft.Network

VAULT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/"
    "Microsoft.KeyVault/vaults/kv-tde-eastus2"
)
PEC = VAULT + "/privateEndpointConnections/pe-sqlmi-eastus2-kv-tde-eastus2"


def test_vault_get(arm: Arm) -> None:
    recording = recorded(
        "keyvault-private-endpoint-connection.json",
        "GET",
        r"/vaults/[^/?]+\?api-version=2021",
        where=lambda body: "privateEndpointConnections" in body["properties"],
    )
    response = arm.call("GET", VAULT, api="kv")

    assert response.status_code == 200
    connection = "$.properties.privateEndpointConnections[0]"
    assert_same_shape(
        recording["body"],
        response.json(),
        frozenset(
            {
                "$.properties.enabledForDiskEncryption",
                "$.properties.enabledForTemplateDeployment",
                "$.properties.enableRbacAuthorization",
                "$.properties.enablePurgeProtection",
                "$.properties.networkAcls",
                f"{connection}.etag",
                f"{connection}.properties.privateLinkServiceConnectionState.description",
            }
        ),
    )
    published = example("getVault.json")
    published["properties"].pop("hsmPoolResourceId")  # managed HSM pools only
    assert_same_shape(
        published,
        response.json(),
        frozenset(
            {
                "$.properties.enableSoftDelete",
                "$.properties.softDeleteRetentionInDays",
                "$.properties.enableRbacAuthorization",
                "$.properties.enablePurgeProtection",
                "$.properties.networkAcls",
                "$.properties.privateEndpointConnections",
            }
        ),
    )


def test_vault_missing(arm: Arm) -> None:
    recording = recorded("mi-tde-byok.json", "GET", r"/vaults/", 404)
    response = arm.call("GET", VAULT.replace("kv-tde-eastus2", "kv-nope"), api="kv")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == recording["body"]["error"]["code"]
    assert response.json()["error"]["message"] == recording["body"]["error"][
        "message"
    ].replace("sqltdebyok000003", "kv-nope").replace(
        "CustomerExperienceTeam_RG", "rg-tde-eastus2"
    )


def test_private_endpoint_connection_get_reject_delete(arm: Arm) -> None:
    get = recorded(
        "keyvault-private-endpoint-connection.json",
        "GET",
        r"/privateEndpointConnections/[^/?]+\?api-version=2019-09-01$",
    )
    put = recorded(
        "keyvault-private-endpoint-connection.json",
        "PUT",
        r"/privateEndpointConnections/",
    )
    delete = recorded(
        "keyvault-private-endpoint-connection.json",
        "DELETE",
        r"/privateEndpointConnections/",
    )

    response = arm.call("GET", PEC, api="kv")
    assert response.status_code == get["status"]
    assert_same_shape(
        get["body"],
        response.json(),
        frozenset(
            {"$.etag", "$.properties.privateLinkServiceConnectionState.description"}
        ),
    )
    assert_same_shape(
        example("getPrivateEndpointConnection.json"),
        response.json(),
        frozenset({"$.location"}),
    )

    body = response.json()
    body["properties"]["privateLinkServiceConnectionState"]["status"] = "Rejected"
    rejected = arm.call("PUT", PEC, body, api="kv")
    assert rejected.status_code == put["status"] == 200
    assert rejected.json()["properties"]["provisioningState"] == "Updating"
    assert_same_shape(put["body"], rejected.json())
    assert set(rejected.headers) >= {"azure-asyncoperation"}
    assert "kv-operation=" in rejected.headers["Azure-AsyncOperation"]
    assert url_shape(rejected.headers["Azure-AsyncOperation"]) == url_shape(
        put["headers"]["Azure-AsyncOperation"]
    )

    removed = arm.call("DELETE", PEC, api="kv")
    assert removed.status_code == delete["status"] == 202
    assert removed.content == b""
    assert "azure-asyncoperation" not in removed.headers
    assert url_shape(removed.headers["Location"]) == url_shape(
        delete["headers"]["Location"]
    )


def test_private_endpoint_get(arm: Arm) -> None:
    recording = recorded(
        "keyvault-private-endpoint-connection.json",
        "GET",
        r"/privateEndpoints/[^/?]+\?",
    )
    response = arm.call(
        "GET",
        f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/Microsoft.Network/"
        "privateEndpoints/pe-sqlmi-eastus2-kv-tde-eastus2",
        api="net",
    )
    assert response.status_code == 200
    assert_same_shape(
        recording["body"],
        response.json(),
        frozenset(
            {
                "$.properties.applicationSecurityGroups",
                "$.properties.privateLinkServiceConnections[0].properties.requestMessage",
                "$.properties.ipConfigurations",
                "$.properties.customNetworkInterfaceName",
            }
        ),
    )
    assert_same_shape(
        example("PrivateEndpointGet.json"),
        response.json(),
        frozenset(
            {
                "$.etag",
                "$.properties.resourceGuid",
                "$.properties.privateLinkServiceConnections[0].name",
                "$.properties.privateLinkServiceConnections[0].etag",
                "$.properties.privateLinkServiceConnections[0].type",
                "$.properties.privateLinkServiceConnections[0].properties.provisioningState",
            }
        ),
    )


def test_security_rule_put_is_a_network_style_lro(arm: Arm) -> None:
    pe_put = recorded(
        "keyvault-private-endpoint-connection.json", "PUT", r"/privateEndpoints/"
    )
    poll = recorded(
        "keyvault-private-endpoint-connection.json",
        "GET",
        r"/Microsoft.Network/locations/.+/operations/",
    )
    rule = (
        f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/Microsoft.Network/"
        "networkSecurityGroups/nsg-sqlmi-eastus2/securityRules/deny-kv"
    )
    response = arm.call(
        "PUT",
        rule,
        {
            "properties": {
                "priority": 100,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "destinationAddressPrefix": "10.10.1.4",
                "destinationPortRange": "443",
            }
        },
        api="net",
    )
    assert response.status_code == pe_put["status"] == 201
    assert_lro_headers(response, pe_put, arm.base)
    assert response.json()["properties"]["provisioningState"] == "Updating"
    first = arm.call("GET", response.headers["Azure-AsyncOperation"])
    assert first.json() == poll["body"] == {"status": "InProgress"}
    assert arm.wait(response.headers["Azure-AsyncOperation"]).json() == {
        "status": "Succeeded"
    }
