"""The simulator's ARM bodies against the published REST examples
(azure-rest-api-specs x-ms-examples): every field an example shows is
present, nested the same way. Fields the simulator adds, or an example shows
that does not apply to this estate, are named per case."""

from __future__ import annotations

from typing import Any

import pytest

from azuresim.process import SimProcess
from tests.contract.test_arm_contracts import (
    EAST_MI,
    SUB,
    Arm,
    example,
    extra_fields,
    missing_fields,
)

EAST_RG = f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2"
NET = f"{EAST_RG}/providers/Microsoft.Network"
PE = f"{NET}/privateEndpoints/pe-sqlmi-eastus2-kv-tde-eastus2"
FOG = f"{EAST_RG}/providers/Microsoft.Sql/locations/eastus2/instanceFailoverGroups"


def drop(body: Any, *paths: str) -> Any:
    """Remove dotted paths (a `[]` step applies to every list item)."""
    for path in paths:
        _drop(body, path.split("."))
    return body


def _drop(node: Any, steps: list[str]) -> None:
    head, rest = steps[0], steps[1:]
    if head.endswith("[]"):
        for item in node.get(head[:-2]) or []:
            _drop(item, rest)
    elif not rest:
        if isinstance(node, dict):
            node.pop(head, None)
    elif isinstance(node, dict) and head in node:
        _drop(node[head], rest)


AUTOMATIC_GRACE = "properties.readWriteEndpoint.failoverWithDataLossGracePeriodMinutes"

CASES: list[tuple[str, str, str, tuple[str, ...], frozenset[str]]] = [
    (
        "ManagedInstanceGet.json",
        EAST_MI,
        "sql",
        # instance pools, maintenance configurations and the AAD admin
        # block are outside this estate.
        (
            "properties.instancePoolId",
            "properties.maintenanceConfigurationId",
            "properties.administrators",
            "properties.servicePrincipal",
            "properties.privateEndpointConnections",
            "properties.currentBackupStorageRedundancy",
            "properties.requestedBackupStorageRedundancy",
            "properties.zoneRedundant",
            "properties.timezoneId",
            "tags.key",
        ),
        frozenset(
            {
                "$.identity",
                "$.properties.keyId",
                "$.properties.storageAccountType",
                "$.properties.privateEndpointConnections",
                "$.properties.currentBackupStorageRedundancy",
                "$.properties.requestedBackupStorageRedundancy",
                "$.properties.zoneRedundant",
                "$.properties.timezoneId",
            }
        ),
    ),
    (
        "ManagedInstanceKeyGet.json",
        "KEY",
        "sql",
        (),
        frozenset({"$.properties.serverKeyType", "$.properties.uri"}),
    ),
    (
        "ManagedInstanceEncryptionProtectorGet.json",
        f"{EAST_MI}/encryptionProtector/current",
        "sql",
        (),
        frozenset({"$.properties.thumbprint"}),
    ),
    (
        "InstanceFailoverGroupGet.json",
        f"{FOG}/fog-tde",
        "sql",
        (AUTOMATIC_GRACE,),
        frozenset({"$.properties.secondaryType"}),
    ),
    (
        "ManagedDatabaseListByManagedInstance.json",
        f"{EAST_MI}/databases",
        "sql",
        (),
        frozenset(
            {
                "$.value[0].properties.earliestRestorePoint",
                "$.value[0].properties.failoverGroupId",
            }
        ),
    ),
    (
        "PrivateEndpointList.json",
        f"{NET}/privateEndpoints",
        "net",
        (),
        frozenset(
            {
                "$.value[0].etag",
                "$.value[0].properties.resourceGuid",
                "$.value[0].properties.privateLinkServiceConnections[0].name",
                "$.value[0].properties.privateLinkServiceConnections[0].etag",
                "$.value[0].properties.privateLinkServiceConnections[0].type",
                "$.value[0].properties.privateLinkServiceConnections[0]"
                ".properties.provisioningState",
                "$.value[0].properties.applicationSecurityGroups",
                "$.value[0].properties.ipConfigurations",
                "$.value[0].properties.customNetworkInterfaceName",
            }
        ),
    ),
    (
        "PrivateEndpointDnsZoneGroupGet.json",
        f"{PE}/privateDnsZoneGroups/default",
        "net",
        (),
        frozenset(
            {
                "$.etag",
                "$.properties.privateDnsZoneConfigs[0].name",
                "$.properties.privateDnsZoneConfigs[0].properties.recordSets[0].ttl",
                "$.properties.privateDnsZoneConfigs[0].properties.recordSets[0]"
                ".provisioningState",
            }
        ),
    ),
]


def key_path(arm: Arm) -> str:
    keys = arm.call("GET", f"{EAST_MI}/keys").json()["value"]
    return f"{EAST_MI}/keys/{keys[0]['name']}"


@pytest.mark.parametrize(
    ("file", "path", "api", "not_applicable", "added"),
    CASES,
    ids=[case[0].removesuffix(".json") for case in CASES],
)
def test_body_has_the_published_shape(
    simulator: SimProcess,
    file: str,
    path: str,
    api: str,
    not_applicable: tuple[str, ...],
    added: frozenset[str],
) -> None:
    arm = Arm(simulator)
    response = arm.call("GET", key_path(arm) if path == "KEY" else path, api=api)
    published = drop(example(file), *not_applicable)

    assert response.status_code == 200
    assert missing_fields(published, response.json()) == []
    assert extra_fields(published, response.json()) <= added


def test_failover_results_have_the_published_shape(simulator: SimProcess) -> None:
    arm = Arm(simulator)
    central = FOG.replace("rg-tde-eastus2", "rg-tde-centralus").replace(
        "eastus2", "centralus"
    )
    for file, action in (
        ("InstanceFailoverGroupFailover.json", "failover"),
        (
            "InstanceFailoverGroupForceFailoverAllowDataLoss.json",
            "forceFailoverAllowDataLoss",
        ),
    ):
        target = central if action == "failover" else f"{FOG}"
        response = arm.call("POST", f"{target}/fog-tde/{action}")
        assert response.status_code == 202
        assert arm.wait(response.headers["Azure-AsyncOperation"]).json()["status"] == (
            "Succeeded"
        )
        result = arm.call("GET", response.headers["Location"])
        published = drop(example(file), AUTOMATIC_GRACE)
        assert missing_fields(published, result.json()) == []
        assert result.json()["properties"]["replicationRole"] == "Primary"


def test_vault_create_answers_registering_dns_then_succeeded(
    simulator: SimProcess,
) -> None:
    arm = Arm(simulator)
    published = example("createVaultWithNetworkAcls.json")
    path = f"{EAST_RG}/providers/Microsoft.KeyVault/vaults/kv-contract"
    response = arm.call(
        "PUT",
        path,
        {
            "location": "eastus2",
            "properties": {
                "tenantId": "11111111-1111-1111-1111-111111111111",
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [],
                "networkAcls": published["properties"]["networkAcls"],
            },
        },
        api="kv",
    )

    assert response.status_code == 200
    assert response.json()["properties"]["provisioningState"] == "RegisteringDns"
    assert (
        missing_fields(
            drop(
                published, "properties.accessPolicies", "properties.hsmPoolResourceId"
            ),
            response.json(),
        )
        == []
    )
    assert not response.headers.get("Azure-AsyncOperation")
    simulator.set_clock(advance_seconds=60)
    later = arm.call("GET", path, api="kv").json()
    assert later["properties"]["provisioningState"] == "Succeeded"
