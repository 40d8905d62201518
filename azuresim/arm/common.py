"""What every simulated resource provider shares: JSON in and out, lookups
that fail the way ARM fails, and location names."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from azuresim.errors import ArmError
from azuresim.lro import ARM_JSON
from azuresim.state import World

# Display names ARM puts into ids (".../locations/East US 2/...").
LOCATION_NAMES = {
    "eastus": "East US",
    "eastus2": "East US 2",
    "centralus": "Central US",
    "westus2": "West US 2",
    "westcentralus": "West Central US",
    "westeurope": "West Europe",
    "northeurope": "North Europe",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
}


def location_key(name: str) -> str:
    """`East US 2`, `EastUS2` and `eastus2` are one location."""
    return name.replace(" ", "").lower()


def display_location(name: str) -> str:
    return LOCATION_NAMES.get(location_key(name), name)


def ok(body: dict[str, Any], status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, media_type=ARM_JSON)


def listing(items: list[dict[str, Any]]) -> Response:
    return ok({"value": items})


async def body_of(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content is not valid JSON: {error}",
        ) from error
    if not isinstance(parsed, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request body must be an object."
        )
    return parsed


def properties_of(body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    return props


def check_subscription(world: World, subscription_id: str) -> None:
    if subscription_id.lower() != world.subscription_id.lower():
        raise ArmError(
            404,
            "SubscriptionNotFound",
            f"The subscription '{subscription_id}' could not be found.",
        )


def resource_groups(world: World) -> set[str]:
    groups = {i.resource_group.lower() for i in world.instances.values()}
    groups |= {v.resource_group.lower() for v in world.vaults.values()}
    groups |= {n.resource_group.lower() for n in world.network_security_groups.values()}
    groups |= {e.resource_group.lower() for e in world.private_endpoints.values()}
    return groups


def check_resource_group(world: World, subscription_id: str, group: str) -> None:
    check_subscription(world, subscription_id)
    if group.lower() not in resource_groups(world):
        raise ArmError(
            404,
            "ResourceGroupNotFound",
            f"Resource group '{group}' could not be found.",
        )


class Grouped(Protocol):
    """A resource that lives in a resource group."""

    @property
    def resource_group(self) -> str: ...


R = TypeVar("R", bound=Grouped)


def scoped_listing(
    world: World,
    request: Request,
    resources: Iterable[R],
    render: Callable[[R], dict[str, Any]],
) -> Response:
    """A list call at subscription scope, or at resource-group scope when the
    URL names a group: the scope is checked, then its resources rendered."""
    params = request.path_params
    group = params.get("rg")
    if group is None:
        check_subscription(world, params["sub"])
    else:
        check_resource_group(world, params["sub"], group)
    return listing(
        [render(r) for r in resources if group is None or same(r.resource_group, group)]
    )


def find_in_group(
    world: World,
    request: Request,
    resources: Mapping[str, R],
    name_param: str,
    resource_type: str,
) -> R:
    """The resource a URL names, in the URL's resource group; ARM's 404
    when there is none (names compare case-insensitively, as in Azure)."""
    params = request.path_params
    check_resource_group(world, params["sub"], params["rg"])
    name = params[name_param]
    for resource_name, resource in resources.items():
        if same(resource_name, name) and same(resource.resource_group, params["rg"]):
            return resource
    raise resource_not_found(resource_type, name, params["rg"])


def resource_not_found(resource_type: str, name: str, group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{group}' was "
        "not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def same(left: str, right: str) -> bool:
    return left.lower() == right.lower()


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
