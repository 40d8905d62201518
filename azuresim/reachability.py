"""Whether a managed instance can reach a vault: the network model.

An instance reaches a vault only through a private endpoint in its own
virtual network. The path is open when that endpoint exists, the vault's
record of the endpoint's connection is Approved, the network security group
of the instance's subnet lets outbound TCP 443 through to the endpoint's
address (rules evaluated as Azure does: lowest priority number first, the
first match decides, the default rules allow traffic inside the virtual
network), and the simulator has no outage declared for the vault.
"""

from __future__ import annotations

import ipaddress

from azuresim.state import (
    ManagedInstance,
    PrivateEndpoint,
    SecurityRule,
    Vault,
    World,
)

HTTPS_PORT = 443


def path_open(
    world: World, instance: ManagedInstance, vault: Vault
) -> tuple[bool, str]:
    """(True, "") when the instance can reach the vault, else (False, why)."""
    outage = world.outages.get(vault.name)
    if outage is not None and (
        outage.until is None or outage.until > world.clock.now()
    ):
        return False, f"{vault.name} is unavailable (simulated outage)"

    endpoint = endpoint_for(world, instance, vault)
    if endpoint is None:
        return False, (
            f"no private endpoint to {vault.name} in the virtual network of "
            f"{instance.name}"
        )

    status = connection_status(vault, endpoint)
    if status != "Approved":
        return False, (
            f"the connection of private endpoint {endpoint.name} to {vault.name} "
            f"is {status}"
        )

    rule = blocking_rule(world, instance, endpoint.ip_address)
    if rule is not None:
        return False, (
            f"network security group {instance.nsg_name} rule {rule.name} "
            f"(priority {rule.priority}) denies outbound TCP {HTTPS_PORT} to "
            f"{endpoint.ip_address} ({endpoint.name})"
        )
    return True, ""


def virtual_network(subnet_id: str) -> str:
    return subnet_id.lower().split("/subnets/")[0]


def endpoint_for(
    world: World, instance: ManagedInstance, vault: Vault
) -> PrivateEndpoint | None:
    network = virtual_network(instance.subnet_id)
    for endpoint in world.private_endpoints.values():
        if endpoint.vault_name != vault.name:
            continue
        if virtual_network(endpoint.subnet_id) == network:
            return endpoint
    return None


def connection_status(vault: Vault, endpoint: PrivateEndpoint) -> str:
    """The vault's view of the endpoint's connection ("Missing" if none)."""
    for connection in vault.private_endpoint_connections:
        if connection.name == endpoint.connection_name or (
            connection.private_endpoint_id.lower() == endpoint.resource_id.lower()
        ):
            if connection.provisioning_state not in ("Succeeded", "Updating"):
                return connection.provisioning_state
            return connection.status
    return "Missing"


def blocking_rule(
    world: World, instance: ManagedInstance, address: str
) -> SecurityRule | None:
    """The rule that denies the instance outbound TCP 443 to `address`, if
    the first matching rule (by priority) is a Deny."""
    nsg = world.network_security_groups.get(instance.nsg_name)
    if nsg is None:
        return None
    outbound = [r for r in nsg.rules.values() if r.direction.lower() == "outbound"]
    for rule in sorted(outbound, key=lambda r: r.priority):
        if _matches(rule, instance.subnet_prefix, address):
            return rule if rule.access.lower() == "deny" else None
    return None


def _matches(rule: SecurityRule, source_prefix: str, address: str) -> bool:
    if rule.protocol.lower() not in ("*", "tcp", "any"):
        return False
    sources = rule.source_address_prefixes or [rule.source_address_prefix]
    if not any(_source_matches(p, source_prefix) for p in sources):
        return False
    destinations = rule.destination_address_prefixes or [
        rule.destination_address_prefix
    ]
    if not any(_address_matches(p, address) for p in destinations):
        return False
    ports = rule.destination_port_ranges or [rule.destination_port_range]
    return any(_port_matches(p, HTTPS_PORT) for p in ports)


def _source_matches(prefix: str, subnet: str) -> bool:
    text = prefix.strip()
    if text in ("*", "") or text.lower() in ("virtualnetwork", "any"):
        return True
    try:
        return ipaddress.ip_network(text, strict=False).overlaps(
            ipaddress.ip_network(subnet, strict=False)
        )
    except ValueError:
        return False  # a service tag that does not cover the instance subnet


def _address_matches(prefix: str, address: str) -> bool:
    text = prefix.strip()
    # A private endpoint's address is inside the virtual network; public
    # service tags (AzureKeyVault, Internet) do not cover it.
    if text in ("*", "") or text.lower() in ("virtualnetwork", "any"):
        return True
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False


def _port_matches(spec: str, port: int) -> bool:
    text = spec.strip()
    if text in ("*", ""):
        return True
    low, _, high = text.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return False
