"""Microsoft.Network: private endpoints (read) and network security groups
with their security rules (read and write).

A private endpoint's connection state is not stored on the endpoint: it is
read from the vault's private endpoint connection, as in Azure, where the
vault owner approves or rejects it. Security-rule changes are long-running
operations in the Network RP's style (201/202 plus an Azure-AsyncOperation
monitor whose body is only a status) and reach the network model when they
complete.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from azuresim import lro
from azuresim.arm.common import (
    body_of,
    check_resource_group,
    find_in_group,
    listing,
    ok,
    properties_of,
    same,
    scoped_listing,
)
from azuresim.errors import ArmError
from azuresim.reachability import connection_status
from azuresim.state import NetworkSecurityGroup, PrivateEndpoint, SecurityRule, World

NET = "Microsoft.Network"


def _etag(*parts: object) -> str:
    return f'W/"{uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, parts)))}"'


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, parts))))


class NetworkProvider:
    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------------
    # Private endpoints

    def render_endpoint(self, endpoint: PrivateEndpoint) -> dict[str, Any]:
        vault = self.world.vaults.get(endpoint.vault_name)
        status, description = "Disconnected", ""
        vault_id = (
            f"/subscriptions/{endpoint.subscription_id}/resourceGroups/"
            f"{endpoint.resource_group}/providers/Microsoft.KeyVault/vaults/"
            f"{endpoint.vault_name}"
        )
        if vault is not None:
            vault_id = vault.resource_id
            status = connection_status(vault, endpoint)
            if status == "Missing":
                status = "Disconnected"
            for record in vault.private_endpoint_connections:
                if record.name == endpoint.connection_name:
                    description = record.description
        etag = _etag(endpoint.resource_id, status)
        connection = {
            "name": endpoint.connection_name,
            "id": (
                f"{endpoint.resource_id}/privateLinkServiceConnections/"
                f"{endpoint.connection_name}"
            ),
            "etag": etag,
            "properties": {
                "provisioningState": "Succeeded",
                "privateLinkServiceId": vault_id,
                "groupIds": ["vault"],
                "requestMessage": "",
                "privateLinkServiceConnectionState": {
                    "status": status,
                    "description": description,
                    "actionsRequired": "None",
                },
            },
            "type": f"{NET}/privateEndpoints/privateLinkServiceConnections",
        }
        fqdn = f"{endpoint.vault_name}.vaultcore.azure.net"
        return {
            "name": endpoint.name,
            "id": endpoint.resource_id,
            "etag": etag,
            "type": f"{NET}/privateEndpoints",
            "location": endpoint.location,
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": _guid(endpoint.resource_id),
                "privateLinkServiceConnections": [connection],
                "manualPrivateLinkServiceConnections": [],
                "subnet": {"id": endpoint.subnet_id},
                "networkInterfaces": [
                    {
                        "id": (
                            f"/subscriptions/{endpoint.subscription_id}/resourceGroups/"
                            f"{endpoint.resource_group}/providers/{NET}/"
                            f"networkInterfaces/{endpoint.name}.nic."
                            f"{_guid(endpoint.name)}"
                        )
                    }
                ],
                "customDnsConfigs": [
                    {"fqdn": fqdn, "ipAddresses": [endpoint.ip_address]}
                ],
                "applicationSecurityGroups": [],
                "ipConfigurations": [
                    {
                        "name": f"{endpoint.name}-ipconfig",
                        "properties": {
                            "groupId": "vault",
                            "memberName": "default",
                            "privateIPAddress": endpoint.ip_address,
                        },
                    }
                ],
                "customNetworkInterfaceName": f"{endpoint.name}-nic",
            },
        }

    async def list_endpoints(self, request: Request) -> Response:
        return scoped_listing(
            self.world,
            request,
            self.world.private_endpoints.values(),
            self.render_endpoint,
        )

    async def get_endpoint(self, request: Request) -> Response:
        return ok(self.render_endpoint(self.endpoint(request)))

    def render_zone_group(self, endpoint: PrivateEndpoint) -> dict[str, Any]:
        """The endpoint's DNS zone group: the vault's A record in the
        privatelink zone, pointing at the endpoint's address."""
        zone = (
            f"/subscriptions/{endpoint.subscription_id}/resourceGroups/"
            f"{endpoint.resource_group}/providers/{NET}/privateDnsZones/"
            "privatelink.vaultcore.azure.net"
        )
        return {
            "name": "default",
            "id": f"{endpoint.resource_id}/privateDnsZoneGroups/default",
            "etag": _etag(endpoint.resource_id, "default"),
            "properties": {
                "provisioningState": "Succeeded",
                "privateDnsZoneConfigs": [
                    {
                        "name": "privatelink-vaultcore-azure-net",
                        "properties": {
                            "privateDnsZoneId": zone,
                            "recordSets": [
                                {
                                    "recordType": "A",
                                    "recordSetName": endpoint.vault_name,
                                    "fqdn": (
                                        f"{endpoint.vault_name}."
                                        "privatelink.vaultcore.azure.net"
                                    ),
                                    "ttl": 10,
                                    "ipAddresses": [endpoint.ip_address],
                                    "provisioningState": "Succeeded",
                                }
                            ],
                        },
                    }
                ],
            },
        }

    def endpoint(self, request: Request) -> PrivateEndpoint:
        return find_in_group(
            self.world,
            request,
            self.world.private_endpoints,
            "name",
            f"{NET}/privateEndpoints",
        )

    async def list_zone_groups(self, request: Request) -> Response:
        return listing([self.render_zone_group(self.endpoint(request))])

    async def get_zone_group(self, request: Request) -> Response:
        endpoint = self.endpoint(request)
        if request.path_params["group"] != "default":
            raise ArmError(
                404,
                "NotFound",
                f"Resource {endpoint.resource_id}/privateDnsZoneGroups/"
                f"{request.path_params['group']} not found.",
            )
        return ok(self.render_zone_group(endpoint))

    # ------------------------------------------------------------------
    # Subnets (read): the instances' and the endpoints'

    def subnets(self) -> dict[str, dict[str, Any]]:
        """Every subnet the estate uses, by lower-cased id."""
        found: dict[str, dict[str, Any]] = {}
        for instance in self.world.instances.values():
            nsg = self.world.network_security_groups.get(instance.nsg_name)
            props: dict[str, Any] = {
                "provisioningState": "Succeeded",
                "addressPrefix": instance.subnet_prefix,
                "delegations": [
                    {
                        "name": "managedInstanceDelegation",
                        "id": f"{instance.subnet_id}/delegations/"
                        "managedInstanceDelegation",
                        "etag": _etag(instance.subnet_id, "delegation"),
                        "properties": {
                            "provisioningState": "Succeeded",
                            "serviceName": "Microsoft.Sql/managedInstances",
                            "actions": [
                                "Microsoft.Network/virtualNetworks/subnets/join/action",
                            ],
                        },
                        "type": f"{NET}/virtualNetworks/subnets/delegations",
                    }
                ],
                "privateEndpointNetworkPolicies": "Disabled",
                "privateLinkServiceNetworkPolicies": "Enabled",
            }
            if nsg is not None:
                props["networkSecurityGroup"] = {"id": nsg.resource_id}
            found[instance.subnet_id.lower()] = self._subnet(instance.subnet_id, props)
        for endpoint in self.world.private_endpoints.values():
            key = endpoint.subnet_id.lower()
            if key not in found:
                prefix = ipaddress.ip_network(f"{endpoint.ip_address}/24", strict=False)
                found[key] = self._subnet(
                    endpoint.subnet_id,
                    {
                        "provisioningState": "Succeeded",
                        "addressPrefix": str(prefix),
                        "privateEndpoints": [],
                        "delegations": [],
                        "privateEndpointNetworkPolicies": "Disabled",
                        "privateLinkServiceNetworkPolicies": "Enabled",
                    },
                )
            found[key]["properties"]["privateEndpoints"].append(
                {"id": endpoint.resource_id}
            )
        return found

    def _subnet(self, subnet_id: str, props: dict[str, Any]) -> dict[str, Any]:
        props.setdefault("privateEndpoints", [])
        return {
            "name": subnet_id.rsplit("/", 1)[-1],
            "id": subnet_id,
            "etag": _etag(subnet_id),
            "properties": props,
            "type": f"{NET}/virtualNetworks/subnets",
        }

    async def list_subnets(self, request: Request) -> Response:
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        network = (
            f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}/providers/"
            f"{NET}/virtualNetworks/{params['vnet']}/subnets/"
        ).lower()
        return listing(
            [body for key, body in self.subnets().items() if key.startswith(network)]
        )

    async def get_subnet(self, request: Request) -> Response:
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        subnet_id = (
            f"/subscriptions/{params['sub']}/resourceGroups/{params['rg']}/providers/"
            f"{NET}/virtualNetworks/{params['vnet']}/subnets/{params['subnet']}"
        )
        body = self.subnets().get(subnet_id.lower())
        if body is None:
            raise ArmError(404, "NotFound", f"Resource {subnet_id} not found.")
        return ok(body)

    # ------------------------------------------------------------------
    # Network security groups

    def render_rule(
        self, nsg: NetworkSecurityGroup, rule: SecurityRule, state: str = "Succeeded"
    ) -> dict[str, Any]:
        props: dict[str, Any] = {"provisioningState": state}
        if rule.description:
            props["description"] = rule.description
        props["protocol"] = rule.protocol
        props.update(_plural_or_single(rule))
        props.update(
            {
                "access": rule.access,
                "priority": rule.priority,
                "direction": rule.direction,
            }
        )
        return {
            "name": rule.name,
            "id": f"{nsg.resource_id}/securityRules/{rule.name}",
            "etag": _etag(nsg.resource_id, rule),
            "type": f"{NET}/networkSecurityGroups/securityRules",
            "properties": props,
        }

    def render_nsg(
        self, nsg: NetworkSecurityGroup, state: str = "Succeeded"
    ) -> dict[str, Any]:
        subnets = [
            {"id": i.subnet_id}
            for i in self.world.instances.values()
            if i.nsg_name == nsg.name
        ]
        return {
            "name": nsg.name,
            "id": nsg.resource_id,
            "etag": _etag(nsg.resource_id, sorted(nsg.rules)),
            "type": f"{NET}/networkSecurityGroups",
            "location": nsg.location,
            "properties": {
                "provisioningState": state,
                "resourceGuid": _guid(nsg.resource_id),
                "securityRules": [
                    self.render_rule(nsg, r, state) for r in nsg.rules.values()
                ],
                "defaultSecurityRules": [
                    self.render_rule(nsg, r) for r in _default_rules()
                ],
                "subnets": subnets,
            },
        }

    def nsg(self, request: Request) -> NetworkSecurityGroup:
        return find_in_group(
            self.world,
            request,
            self.world.network_security_groups,
            "nsg",
            f"{NET}/networkSecurityGroups",
        )

    async def list_nsgs(self, request: Request) -> Response:
        return scoped_listing(
            self.world,
            request,
            self.world.network_security_groups.values(),
            self.render_nsg,
        )

    def _run(
        self,
        request: Request,
        nsg: NetworkSecurityGroup,
        name: str,
        complete: Callable[[], None],
        *,
        created: bool = False,
        body: dict[str, Any] | None = None,
    ) -> Response:
        """Start a change of `nsg` as an operation and answer as the Network RP
        does: a PUT 201 (created) or 200 with the body, a DELETE 202."""

        def effect() -> dict[str, Any] | None:
            complete()
            return None

        operation = lro.start(self.world, name, effect)
        return lro.network_accepted(
            request,
            operation,
            location=nsg.location,
            subscription_id=nsg.subscription_id,
            status=202 if body is None else (201 if created else 200),
            body=body,
            with_location=body is None,
        )

    async def get_nsg(self, request: Request) -> Response:
        return ok(self.render_nsg(self.nsg(request)))

    async def put_nsg(self, request: Request) -> Response:
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        body = await body_of(request)
        props = properties_of(body)
        existing = self.world.network_security_groups.get(params["nsg"])
        location = str(body.get("location") or (existing.location if existing else ""))
        if not location:
            raise ArmError(
                400, "LocationRequired", "The location property is required."
            )
        wanted = NetworkSecurityGroup(
            name=params["nsg"],
            resource_group=existing.resource_group if existing else params["rg"],
            location=location,
            subscription_id=self.world.subscription_id,
        )
        for item in props.get("securityRules") or []:
            rule = _rule_from(item.get("name", ""), properties_of(item))
            _check_conflict(wanted, rule)
            wanted.rules[rule.name] = rule

        def complete() -> None:
            self.world.network_security_groups[wanted.name] = wanted

        return self._run(
            request,
            wanted,
            "PutNetworkSecurityGroup",
            complete,
            created=existing is None,
            body=self.render_nsg(wanted, "Updating"),
        )

    async def delete_nsg(self, request: Request) -> Response:
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        nsg = self.world.network_security_groups.get(params["nsg"])
        if nsg is None:
            return Response(status_code=204)
        if any(i.nsg_name == nsg.name for i in self.world.instances.values()):
            raise ArmError(
                400,
                "InUseNetworkSecurityGroupCannotBeDeleted",
                f"Network security group {nsg.resource_id} cannot be deleted because "
                "it is in use by a managed instance subnet.",
            )

        def complete() -> None:
            self.world.network_security_groups.pop(nsg.name, None)

        return self._run(request, nsg, "DeleteNetworkSecurityGroup", complete)

    # ------------------------------------------------------------------
    # Security rules

    async def list_rules(self, request: Request) -> Response:
        nsg = self.nsg(request)
        return listing([self.render_rule(nsg, r) for r in nsg.rules.values()])

    async def get_rule(self, request: Request) -> Response:
        nsg = self.nsg(request)
        name = request.path_params["rule"]
        rule = nsg.rules.get(name)
        if rule is None:
            raise ArmError(
                404,
                "NotFound",
                f"Resource {nsg.resource_id}/securityRules/{name} not found.",
            )
        return ok(self.render_rule(nsg, rule))

    async def put_rule(self, request: Request) -> Response:
        nsg = self.nsg(request)
        name = request.path_params["rule"]
        rule = _rule_from(name, properties_of(await body_of(request)))
        _check_conflict(nsg, rule)
        existed = name in nsg.rules

        def complete() -> None:
            nsg.rules[rule.name] = rule

        return self._run(
            request,
            nsg,
            "PutSecurityRule",
            complete,
            created=not existed,
            body=self.render_rule(nsg, rule, "Updating"),
        )

    async def delete_rule(self, request: Request) -> Response:
        nsg = self.nsg(request)
        name = request.path_params["rule"]
        if name not in nsg.rules:
            return Response(status_code=204)

        def complete() -> None:
            nsg.rules.pop(name, None)

        return self._run(request, nsg, "DeleteSecurityRule", complete)


def _plural_or_single(rule: SecurityRule) -> dict[str, Any]:
    """ARM shows either the single or the plural form of each field."""
    fields: dict[str, Any] = {}
    pairs = (
        ("sourcePortRange", rule.source_port_range, rule.source_port_ranges),
        (
            "destinationPortRange",
            rule.destination_port_range,
            rule.destination_port_ranges,
        ),
        (
            "sourceAddressPrefix",
            rule.source_address_prefix,
            rule.source_address_prefixes,
        ),
        (
            "destinationAddressPrefix",
            rule.destination_address_prefix,
            rule.destination_address_prefixes,
        ),
    )
    for single_name, single, plural in pairs:
        if not plural:
            fields[single_name] = single
    fields["sourcePortRanges"] = list(rule.source_port_ranges)
    fields["destinationPortRanges"] = list(rule.destination_port_ranges)
    fields["sourceAddressPrefixes"] = list(rule.source_address_prefixes)
    fields["destinationAddressPrefixes"] = list(rule.destination_address_prefixes)
    return fields


def _rule_from(name: str, props: dict[str, Any]) -> SecurityRule:
    if not name:
        raise ArmError(400, "InvalidRequestFormat", "A security rule needs a name.")
    missing = [
        field
        for field in ("priority", "direction", "access", "protocol")
        if field not in props
    ]
    if missing:
        raise ArmError(
            400,
            "InvalidRequestFormat",
            f"Security rule {name} is missing {', '.join(missing)}.",
        )
    priority = int(props["priority"])
    if not 100 <= priority <= 4096:
        raise ArmError(
            400,
            "SecurityRuleInvalidPriority",
            f"Security rule {name} has invalid Priority {priority}. Value provided: "
            f"{priority} Allowed range 100-4096.",
        )
    return SecurityRule(
        name=name,
        priority=priority,
        direction=str(props["direction"]),
        access=str(props["access"]),
        protocol=str(props["protocol"]),
        source_address_prefix=str(props.get("sourceAddressPrefix") or "*"),
        source_port_range=str(props.get("sourcePortRange") or "*"),
        destination_address_prefix=str(props.get("destinationAddressPrefix") or "*"),
        destination_port_range=str(props.get("destinationPortRange") or "*"),
        description=str(props.get("description") or ""),
        destination_address_prefixes=[
            str(p) for p in props.get("destinationAddressPrefixes") or []
        ],
        destination_port_ranges=[
            str(p) for p in props.get("destinationPortRanges") or []
        ],
        source_address_prefixes=[
            str(p) for p in props.get("sourceAddressPrefixes") or []
        ],
        source_port_ranges=[str(p) for p in props.get("sourcePortRanges") or []],
    )


def _check_conflict(nsg: NetworkSecurityGroup, rule: SecurityRule) -> None:
    for other in nsg.rules.values():
        if other.name == rule.name:
            continue
        if other.priority == rule.priority and same(other.direction, rule.direction):
            raise ArmError(
                400,
                "SecurityRuleConflict",
                f"Security rule {rule.name} conflicts with rule {other.name}. Rules "
                "cannot have the same Priority and Direction. To learn more, see "
                "aka.ms/nsgrules.",
            )


_DEFAULT_RULES = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork"),
    (
        "AllowAzureLoadBalancerInBound",
        65001,
        "Inbound",
        "Allow",
        "AzureLoadBalancer",
        "*",
    ),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*"),
    (
        "AllowVnetOutBound",
        65000,
        "Outbound",
        "Allow",
        "VirtualNetwork",
        "VirtualNetwork",
    ),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*"),
)


def _default_rules() -> list[SecurityRule]:
    return [
        SecurityRule(
            name=name,
            priority=priority,
            direction=direction,
            access=access,
            source_address_prefix=source,
            destination_address_prefix=destination,
            description="Azure default rule",
        )
        for name, priority, direction, access, source, destination in _DEFAULT_RULES
    ]


def routes(world: World) -> list[BaseRoute]:
    net = NetworkProvider(world)
    rg = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network"
    nsg = rg + "/networkSecurityGroups/{nsg}"
    return [
        Route(
            "/subscriptions/{sub}/providers/Microsoft.Network/privateEndpoints",
            net.list_endpoints,
            methods=["GET"],
        ),
        Route(rg + "/privateEndpoints", net.list_endpoints, methods=["GET"]),
        Route(rg + "/privateEndpoints/{name}", net.get_endpoint, methods=["GET"]),
        Route(
            rg + "/privateEndpoints/{name}/privateDnsZoneGroups",
            net.list_zone_groups,
            methods=["GET"],
        ),
        Route(
            rg + "/privateEndpoints/{name}/privateDnsZoneGroups/{group}",
            net.get_zone_group,
            methods=["GET"],
        ),
        Route(
            rg + "/virtualNetworks/{vnet}/subnets", net.list_subnets, methods=["GET"]
        ),
        Route(
            rg + "/virtualNetworks/{vnet}/subnets/{subnet}",
            net.get_subnet,
            methods=["GET"],
        ),
        Route(
            "/subscriptions/{sub}/providers/Microsoft.Network/networkSecurityGroups",
            net.list_nsgs,
            methods=["GET"],
        ),
        Route(rg + "/networkSecurityGroups", net.list_nsgs, methods=["GET"]),
        Route(nsg, net.get_nsg, methods=["GET"]),
        Route(nsg, net.put_nsg, methods=["PUT"]),
        Route(nsg, net.delete_nsg, methods=["DELETE"]),
        Route(nsg + "/securityRules", net.list_rules, methods=["GET"]),
        Route(nsg + "/securityRules/{rule}", net.get_rule, methods=["GET"]),
        Route(nsg + "/securityRules/{rule}", net.put_rule, methods=["PUT"]),
        Route(nsg + "/securityRules/{rule}", net.delete_rule, methods=["DELETE"]),
    ]
