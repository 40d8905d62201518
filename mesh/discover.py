"""discover(): build a mesh's config by reading Azure.

From any instance in a failover group, Azure tells the rest: the group
names both instances; each instance's protector names its vault; the private
endpoints in each instance's resource group, whose subnet is in the
instance's virtual network, name the vaults they reach; the network security
group is the one attached to the instance's subnet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mesh.config import Config, Mesh, Region
from mesh.endpoints import Cloud
from mesh.errors import MeshError
from mesh.facts import endpoint_target, props
from mesh.gateway import Gateway
from mesh.keyuri import KeyUriError, parse_key_uri


def _segment(resource_id: str, name: str) -> str | None:
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name.lower():
            return parts[index + 1]
    return None


def _network(subnet_id: str) -> str:
    return subnet_id.lower().split("/subnets/")[0]


def _region(location: str) -> str:
    return location.replace(" ", "").lower()


def discover(
    gateway: Gateway,
    *,
    cloud: Cloud,
    mesh_name: str = "default",
    resource_groups: list[str] | None = None,
    failover_group: str | None = None,
    endpoints_file: Path | None = None,
    allow_fault_drills: bool = False,
) -> Config:
    instances = _instances(gateway, resource_groups)
    group, pair = _failover_group(gateway, instances, failover_group)
    by_id = {str(i.get("id", "")).lower(): i for i in instances}
    regions: dict[str, Region] = {}
    for instance_id in pair:
        instance = by_id.get(instance_id.lower()) or _get_by_id(gateway, instance_id)
        region_name = _region(str(instance.get("location") or ""))
        regions[region_name] = _describe_region(gateway, instance)
    mesh = Mesh(
        cloud=cloud,
        subscription_id=gateway.endpoints.subscription_id,
        tenant_id=gateway.endpoints.tenant_id,
        failover_group=group,
        allow_fault_drills=allow_fault_drills,
        endpoints_file=endpoints_file,
        regions=regions,
    )
    return Config(default_mesh=mesh_name, meshes={mesh_name: mesh})


def _instances(gateway: Gateway, groups: list[str] | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for group in groups or [None]:  # type: ignore[list-item]
        found += gateway.list_instances(group)
    if not found:
        raise MeshError(
            "no SQL managed instance is visible",
            ", ".join(groups or []) or gateway.endpoints.subscription_id,
            "check the subscription and resource groups, and that the operator "
            "has Reader on them",
        )
    return sorted(found, key=lambda i: str(i.get("name")))


def _failover_group(
    gateway: Gateway, instances: list[dict[str, Any]], wanted: str | None
) -> tuple[str, tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    for instance in instances:
        rg = _segment(str(instance.get("id", "")), "resourceGroups") or ""
        location = str(instance.get("location") or "")
        if (rg, location) in seen:
            continue
        seen.add((rg, location))
        for group in gateway.list_failover_groups(rg, location):
            if wanted and str(group.get("name")).lower() != wanted.lower():
                continue
            pairs = props(group).get("managedInstancePairs") or []
            if pairs:
                primary = str(pairs[0].get("primaryManagedInstanceId") or "")
                partner = str(pairs[0].get("partnerManagedInstanceId") or "")
                return str(group.get("name")), (primary, partner)
    raise MeshError(
        "no instance failover group found" + (f" named {wanted}" if wanted else ""),
        wanted or "instance failover groups",
        "create the failover group first, or pass --failover-group with its name",
    )


def _get_by_id(gateway: Gateway, instance_id: str) -> dict[str, Any]:
    rg = _segment(instance_id, "resourceGroups") or ""
    name = instance_id.rstrip("/").rsplit("/", 1)[-1]
    return gateway.get_instance(rg, name)


def _describe_region(gateway: Gateway, instance: dict[str, Any]) -> Region:
    instance_id = str(instance.get("id", ""))
    rg = _segment(instance_id, "resourceGroups") or ""
    name = str(instance.get("name"))
    subnet = str(props(instance).get("subnetId") or "")
    location = _region(str(instance.get("location") or ""))

    endpoints: dict[str, str] = {}
    vault_ids: dict[str, str] = {}
    for endpoint in gateway.list_private_endpoints(rg):
        endpoint_subnet = str((props(endpoint).get("subnet") or {}).get("id") or "")
        if subnet and _network(endpoint_subnet) != _network(subnet):
            continue
        target, _ = endpoint_target(endpoint)
        if not target or "microsoft.keyvault/vaults" not in target.lower():
            continue
        vault = target.rstrip("/").rsplit("/", 1)[-1]
        endpoints[vault] = str(endpoint.get("name"))
        vault_ids[vault] = target

    vault = _home_vault(gateway, rg, name, location, vault_ids)
    return Region(
        resource_group=rg,
        instance=name,
        vault=vault,
        network_security_group=_nsg_of(gateway, rg, name, subnet),
        private_endpoints=endpoints,
    )


def _home_vault(
    gateway: Gateway,
    rg: str,
    instance: str,
    location: str,
    vault_ids: dict[str, str],
) -> str:
    """The vault of the instance's protector, else the endpoint-reached vault
    in the instance's own region."""
    uri = props(gateway.get_protector(rg, instance)).get("uri")
    if uri:
        try:
            parsed = parse_key_uri(str(uri))
            named = gateway.endpoints.vault_name_of(parsed.vault_url)
            if named:
                return named
        except KeyUriError:
            pass
    for vault, vault_id in vault_ids.items():
        vault_rg = _segment(vault_id, "resourceGroups") or rg
        if _region(str(gateway.get_vault(vault_rg, vault).get("location"))) == location:
            return vault
    raise MeshError(
        f"cannot tell which vault belongs to {instance}'s region",
        instance,
        "set a customer-managed protector, or create a private endpoint from "
        "the instance's network to the vault in its region",
    )


def _nsg_of(gateway: Gateway, rg: str, instance: str, subnet: str) -> str:
    """The NSG attached to the instance's subnet: from the subnet itself where
    it can be read, else the group's NSG that lists the subnet, else the
    group's only NSG.

    TODO: the config keeps one resource group per region, so an NSG in
    another resource group than the instance cannot be described yet.
    """
    if subnet:
        try:
            attached = props(gateway.get_subnet(subnet)).get("networkSecurityGroup")
        except MeshError:
            attached = None
        nsg_id = str((attached or {}).get("id") or "")
        if nsg_id and (_segment(nsg_id, "resourceGroups") or "").lower() == rg.lower():
            return nsg_id.rstrip("/").rsplit("/", 1)[-1]
    groups = gateway.list_network_security_groups(rg)
    for group in groups:
        for attached in props(group).get("subnets") or []:
            if subnet and str(attached.get("id", "")).lower() == subnet.lower():
                return str(group.get("name"))
    if len(groups) == 1:
        return str(groups[0].get("name"))
    raise MeshError(
        f"cannot tell which network security group guards {instance}'s subnet",
        instance,
        "attach an NSG to the instance's subnet, or write network_security_group "
        "into the config by hand",
    )
