"""ARM matches provider namespaces and resource-type segments in any case;
the simulator answers such requests and still renders canonical ids."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from simclients import Sdk

API = {"api-version": "2025-01-01"}
NET_API = {"api-version": "2026-03-01"}


def arm(sdk: Sdk) -> httpx.Client:
    """A plain HTTPS client with the simulator's CA and an ARM token."""
    token = sdk.credential().get_token("https://management.azure.com/.default")
    return httpx.Client(
        base_url=sdk.endpoints.arm_url,
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle),
        headers={"Authorization": f"Bearer {token.token}"},
    )


def subscription(sdk: Sdk) -> str:
    return f"/subscriptions/{sdk.endpoints.subscription_id}"


@pytest.mark.parametrize(
    "spelling",
    [
        "/resourcegroups/rg-tde-eastus2/providers/microsoft.sql/managedinstances/",
        "/RESOURCEGROUPS/rg-tde-eastus2/providers/MICROSOFT.SQL/MANAGEDINSTANCES/",
        "/resourceGroups/rg-tde-eastus2/Providers/Microsoft.Sql/managedInstances/",
    ],
)
def test_an_instance_is_found_in_any_case_and_its_id_stays_canonical(
    sdk: Sdk, spelling: str
) -> None:
    canonical = sdk.sql().managed_instances.get("rg-tde-eastus2", "sqlmi-tde-eastus2")

    with arm(sdk) as client:
        answer = client.get(
            subscription(sdk) + spelling + "sqlmi-tde-eastus2", params=API
        )

    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["id"] == canonical.id
    assert "/resourceGroups/" in body["id"]
    assert "/Microsoft.Sql/managedInstances/" in body["id"]
    assert body["type"] == "Microsoft.Sql/managedInstances"


def test_nested_types_and_listings_match_in_lower_case(sdk: Sdk) -> None:
    sql = sdk.sql()
    keys = {
        k.id
        for k in sql.managed_instance_keys.list_by_instance(
            "rg-tde-eastus2", "sqlmi-tde-eastus2"
        )
    }
    base = (
        subscription(sdk)
        + "/resourcegroups/rg-tde-eastus2/providers/microsoft.sql/managedinstances/"
        "sqlmi-tde-eastus2"
    )

    with arm(sdk) as client:
        listed = client.get(base + "/keys", params=API)
        protector = client.get(base + "/encryptionprotector/current", params=API)
        groups = client.get(
            subscription(sdk) + "/resourcegroups/rg-tde-eastus2/providers/"
            "microsoft.sql/locations/eastus2/instancefailovergroups",
            params=API,
        )

    assert listed.status_code == 200, listed.text
    assert {k["id"] for k in listed.json()["value"]} == keys
    assert protector.json()["id"].endswith(
        "/Microsoft.Sql/managedInstances/sqlmi-tde-eastus2/encryptionProtector/current"
    )
    [group] = groups.json()["value"]
    assert "/providers/Microsoft.Sql/locations/" in group["id"]
    assert group["name"] == "fog-tde"


def test_a_lower_case_security_rule_put_completes_through_its_monitor(
    sdk: Sdk,
) -> None:
    path = (
        subscription(sdk) + "/resourcegroups/rg-tde-eastus2/providers/"
        "microsoft.network/networksecuritygroups/nsg-sqlmi-eastus2/"
        "securityrules/deny-kv-case"
    )
    rule = {
        "properties": {
            "priority": 140,
            "direction": "Outbound",
            "access": "Deny",
            "protocol": "Tcp",
            "destinationAddressPrefix": "10.10.1.4/32",
            "destinationPortRange": "443",
        }
    }

    with arm(sdk) as client:
        created = client.put(path, params=NET_API, json=rule)
        assert created.status_code == 201, created.text
        monitor = client.get(created.headers["Azure-AsyncOperation"])

    assert monitor.status_code == 200
    assert created.json()["id"].endswith(
        "/Microsoft.Network/networkSecurityGroups/nsg-sqlmi-eastus2/"
        "securityRules/deny-kv-case"
    )
    assert "/resourceGroups/rg-tde-eastus2/" in created.json()["id"]


def test_an_unknown_type_segment_is_still_not_found(sdk: Sdk) -> None:
    with arm(sdk) as client:
        answer = client.get(
            subscription(sdk) + "/resourcegroups/rg-tde-eastus2/providers/"
            "microsoft.sql/managedinstancez/sqlmi-tde-eastus2",
            params=API,
        )

    assert answer.status_code == 404
