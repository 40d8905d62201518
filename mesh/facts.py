"""From Azure's answers to Snapshot facts.

ARM resources arrive as the JSON Azure sends (see gateway.wire); Key Vault
keys as SDK objects. The thumbprint is computed the way Azure computes it:
SHA-1 over the DER SubjectPublicKeyInfo of the RSA public key, upper-case
hex, so identical material has one thumbprint in every vault.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.snapshot import (
    AccessPolicy,
    Database,
    EndpointConnection,
    Identity,
    KeyVersion,
    Protector,
    RegisteredKey,
    RoleAssignment,
    SecurityRule,
)


def thumbprint_of(n: bytes, e: bytes) -> str:
    public = rsa.RSAPublicNumbers(
        int.from_bytes(e, "big"), int.from_bytes(n, "big")
    ).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der).hexdigest().upper()


def key_version_from(vault: str, key: Any) -> KeyVersion:
    """A KeyVersion from a KeyVaultKey (with material) or KeyProperties."""
    properties = getattr(key, "properties", key)
    material = getattr(key, "key", None)
    kty = size = thumbprint = None
    key_ops: tuple[str, ...] | None = None
    if material is not None:
        kty = _enum_text(material.kty) if material.kty else None
        n, e = getattr(material, "n", None), getattr(material, "e", None)
        if n and e:
            thumbprint = thumbprint_of(n, e)
            size = int.from_bytes(n, "big").bit_length()
        ops = getattr(material, "key_ops", None)
        key_ops = tuple(_enum_text(op) or "" for op in ops) if ops is not None else None
    kid = str(properties.id or "")
    return KeyVersion(
        vault=vault,
        name=str(properties.name or ""),
        version=str(properties.version or ""),
        kid=kid,
        enabled=properties.enabled,
        kty=kty,
        size=size,
        thumbprint=thumbprint,
        key_ops=key_ops,
        not_before=properties.not_before,
        expires=properties.expires_on,
        created=properties.created_on,
        updated=properties.updated_on,
        recovery_level=properties.recovery_level,
    )


def _enum_text(value: Any) -> str | None:
    """An SDK enum member's wire value ("RSA", "wrapKey"); strings pass."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def props(resource: dict[str, Any]) -> dict[str, Any]:
    value = resource.get("properties")
    return value if isinstance(value, dict) else {}


def identity_from(resource: dict[str, Any]) -> Identity | None:
    identity = resource.get("identity")
    if not isinstance(identity, dict):
        return Identity("None")
    users = identity.get("userAssignedIdentities") or {}
    return Identity(
        type=str(identity.get("type") or "None"),
        principal_id=identity.get("principalId"),
        tenant_id=identity.get("tenantId"),
        primary_user_assigned_id=props(resource).get("primaryUserAssignedIdentityId"),
        user_assigned=tuple(
            (str(rid), (value or {}).get("principalId")) for rid, value in users.items()
        ),
    )


def protector_from(resource: dict[str, Any]) -> Protector:
    p = props(resource)
    return Protector(
        server_key_type=str(p.get("serverKeyType") or "ServiceManaged"),
        server_key_name=str(p.get("serverKeyName") or "ServiceManaged"),
        uri=p.get("uri"),
        thumbprint=p.get("thumbprint"),
        auto_rotation_enabled=bool(p.get("autoRotationEnabled")),
    )


def registered_key_from(resource: dict[str, Any]) -> RegisteredKey:
    p = props(resource)
    kind = str(resource.get("kind") or "")
    key_type = p.get("serverKeyType") or (
        "ServiceManaged" if kind.lower() == "servicemanaged" else "AzureKeyVault"
    )
    return RegisteredKey(
        name=str(resource.get("name") or ""),
        server_key_type=str(key_type),
        uri=p.get("uri"),
        thumbprint=p.get("thumbprint"),
        created=parse_time(p.get("creationDate")),
        auto_rotation_enabled=p.get("autoRotationEnabled"),
    )


def database_from(resource: dict[str, Any]) -> Database:
    p = props(resource)
    info = p.get("extendedAccessibilityInfo") or {}
    return Database(
        name=str(resource.get("name") or ""),
        status=str(p.get("status") or "Unknown"),
        created=parse_time(p.get("creationDate")),
        inaccessibility_reason_kind=info.get("inaccessibilityReasonKind"),
        inaccessibility_error_code=info.get("inaccessibilityReasonErrorCode"),
        inaccessibility_description=info.get("inaccessibilityReasonDescription"),
        inaccessibility_key_uri=info.get("inaccessibilityReasonTdeKeyUri"),
        failover_group_id=p.get("failoverGroupId"),
    )


def access_policies_from(vault: dict[str, Any]) -> tuple[AccessPolicy, ...]:
    policies = []
    for item in props(vault).get("accessPolicies") or []:
        permissions = item.get("permissions") or {}
        policies.append(
            AccessPolicy(
                object_id=str(item.get("objectId") or ""),
                tenant_id=item.get("tenantId"),
                key_permissions=tuple(str(p) for p in permissions.get("keys") or []),
            )
        )
    return tuple(policies)


def endpoint_connections_from(vault: dict[str, Any]) -> tuple[EndpointConnection, ...]:
    connections = []
    for item in props(vault).get("privateEndpointConnections") or []:
        p = item.get("properties") or {}
        state = p.get("privateLinkServiceConnectionState") or {}
        endpoint = p.get("privateEndpoint") or {}
        connections.append(
            EndpointConnection(
                name=str(
                    item.get("name") or str(item.get("id", "")).rsplit("/", 1)[-1]
                ),
                private_endpoint_id=endpoint.get("id"),
                status=state.get("status"),
                description=state.get("description"),
                provisioning_state=p.get("provisioningState"),
            )
        )
    return tuple(connections)


def role_assignment_from(item: dict[str, Any]) -> RoleAssignment:
    p = props(item)
    return RoleAssignment(
        name=str(item.get("name") or ""),
        scope=str(p.get("scope") or ""),
        role_definition_id=str(p.get("roleDefinitionId") or ""),
        principal_id=str(p.get("principalId") or ""),
    )


def security_rule_from(item: dict[str, Any], *, default: bool = False) -> SecurityRule:
    p = props(item)

    def many(single: str, plural: str) -> tuple[str, ...]:
        values = [str(v) for v in p.get(plural) or []]
        if p.get(single) not in (None, ""):
            values.insert(0, str(p[single]))
        return tuple(values) or ("*",)

    return SecurityRule(
        name=str(item.get("name") or ""),
        priority=int(p.get("priority") or 65535),
        direction=str(p.get("direction") or ""),
        access=str(p.get("access") or ""),
        protocol=str(p.get("protocol") or "*"),
        source_prefixes=many("sourceAddressPrefix", "sourceAddressPrefixes"),
        destination_prefixes=many(
            "destinationAddressPrefix", "destinationAddressPrefixes"
        ),
        destination_ports=many("destinationPortRange", "destinationPortRanges"),
        default=default,
    )


def endpoint_addresses(endpoint: dict[str, Any]) -> tuple[str, ...]:
    p = props(endpoint)
    found: list[str] = []
    for config in p.get("ipConfigurations") or []:
        address = (config.get("properties") or {}).get("privateIPAddress")
        if address and address not in found:
            found.append(str(address))
    for config in p.get("customDnsConfigs") or []:
        for address in config.get("ipAddresses") or []:
            if address not in found:
                found.append(str(address))
    return tuple(found)


def endpoint_target(endpoint: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the vault resource id it connects to, its connection status)."""
    p = props(endpoint)
    for field in (
        "privateLinkServiceConnections",
        "manualPrivateLinkServiceConnections",
    ):
        for connection in p.get(field) or []:
            cp = connection.get("properties") or {}
            state = cp.get("privateLinkServiceConnectionState") or {}
            return cp.get("privateLinkServiceId"), state.get("status")
    return None, None
