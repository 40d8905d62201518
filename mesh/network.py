"""Which network security group rule decides an instance's outbound 443 to
an endpoint's address, evaluated the way Azure evaluates NSG rules: by
priority, first match wins, and with no match the default rules allow
traffic inside the virtual network (a private endpoint's address is).
"""

from __future__ import annotations

import ipaddress

from mesh.snapshot import SecurityRule

HTTPS_PORT = 443
_VNET_TAGS = {"*", "any", "virtualnetwork"}


def deciding_rule(
    rules: tuple[SecurityRule, ...],
    destination_ip: str,
    source_prefix: str | None = None,
    port: int = HTTPS_PORT,
) -> SecurityRule | None:
    """The outbound rule that decides TCP `port` to `destination_ip`, if any."""
    for rule in sorted(rules, key=lambda r: r.priority):
        if rule.direction.lower() != "outbound":
            continue
        if _matches(rule, destination_ip, source_prefix, port):
            return rule
    return None


def denies(
    rules: tuple[SecurityRule, ...],
    destination_ip: str,
    source_prefix: str | None = None,
    port: int = HTTPS_PORT,
) -> SecurityRule | None:
    """The rule that cuts the traffic, or None when it is allowed."""
    rule = deciding_rule(rules, destination_ip, source_prefix, port)
    if rule is not None and rule.access.lower() == "deny":
        return rule
    return None


def _matches(
    rule: SecurityRule, destination_ip: str, source_prefix: str | None, port: int
) -> bool:
    if rule.protocol.lower() not in ("*", "tcp", "any"):
        return False
    if not any(_port_in(spec, port) for spec in rule.destination_ports):
        return False
    if not any(_address_in(p, destination_ip) for p in rule.destination_prefixes):
        return False
    return any(_source_covers(p, source_prefix) for p in rule.source_prefixes)


def _port_in(spec: str, port: int) -> bool:
    spec = spec.strip()
    if spec in ("*", ""):
        return True
    if "-" in spec:
        low, _, high = spec.partition("-")
        try:
            return int(low) <= port <= int(high)
        except ValueError:
            return False
    try:
        return int(spec) == port
    except ValueError:
        return False


def _address_in(prefix: str, address: str) -> bool:
    prefix = prefix.strip()
    if prefix.lower() in _VNET_TAGS:
        return True  # a private endpoint's address is inside the network
    try:
        network = ipaddress.ip_network(prefix, strict=False)
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False  # other service tags (Internet, AzureKeyVault) are public


def _source_covers(prefix: str, source_prefix: str | None) -> bool:
    prefix = prefix.strip()
    if prefix.lower() in _VNET_TAGS:
        return True
    try:
        network = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return False
    if source_prefix is None:
        return True  # subnet range unknown: assume the rule is meant for it
    try:
        return network.overlaps(ipaddress.ip_network(source_prefix, strict=False))
    except ValueError:
        return True
