"""The simulator's one state store: every resource of the simulated Azure.

All listeners (token, ARM, each vault, admin) read and change this one `World`.
They run in one asyncio event loop, so the store needs no locks: a handler
runs to completion before the next one starts. Times are simulated
(`World.clock`), never the wall clock, so that timers can be advanced.

Resources are plain mutable dataclasses; the HTTP layers render them into
Azure's JSON shapes. Nothing here knows about HTTP.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from azuresim.clock import SimClock

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "11111111-1111-1111-1111-111111111111"

# Built-in role definition ids (the same GUIDs as in Azure).
ROLE_KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
ROLE_KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
ROLE_KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
ROLE_KEY_VAULT_READER = "21090545-7ca7-4776-b22c-e363652d74d2"

# Azure geographies of the regions the simulator knows; backup blobs restore
# only within one geography (and one subscription).
GEOGRAPHY = {
    "eastus": "US",
    "eastus2": "US",
    "centralus": "US",
    "westus2": "US",
    "westeurope": "Europe",
    "northeurope": "Europe",
    "japaneast": "Japan",
    "japanwest": "Japan",
}

Status = Literal["Approved", "Pending", "Rejected", "Disconnected"]


def new_guid() -> str:
    return str(uuid.uuid4())


def new_version() -> str:
    return uuid.uuid4().hex


def thumbprint_of(public_key: rsa.RSAPublicKey) -> str:
    """SHA-1 over the DER public key, upper-case hex, 40 characters.

    Identical key material gives an identical thumbprint in every vault; that
    is what a managed instance matches its fallback key by.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der).hexdigest().upper()


# --------------------------------------------------------------------------
# Identity


@dataclass
class Principal:
    """A service principal that can get tokens (the operator) or a managed
    identity (an instance's)."""

    object_id: str
    display_name: str
    client_id: str | None = None
    client_secret: str | None = None


# --------------------------------------------------------------------------
# Key Vault


@dataclass
class KeyVersion:
    version: str
    private_key: rsa.RSAPrivateKey
    kty: str  # "RSA" or "RSA-HSM"
    key_ops: list[str]
    enabled: bool
    created: datetime
    updated: datetime
    not_before: datetime | None = None
    expires: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    exportable: bool = False

    @property
    def thumbprint(self) -> str:
        return thumbprint_of(self.private_key.public_key())

    @property
    def key_size(self) -> int:
        return self.private_key.key_size


@dataclass
class RotationPolicy:
    lifetime_actions: list[dict[str, object]]
    expiry_time: str | None
    created: datetime
    updated: datetime


@dataclass
class Key:
    name: str
    versions: list[KeyVersion]  # in creation order; the last is the latest
    rotation_policy: RotationPolicy | None = None
    managed: bool = False

    @property
    def latest(self) -> KeyVersion:
        return self.versions[-1]

    def version(self, version: str) -> KeyVersion | None:
        for candidate in self.versions:
            if candidate.version == version:
                return candidate
        return None


@dataclass
class DeletedKey:
    key: Key
    deleted: datetime
    scheduled_purge: datetime


@dataclass
class AccessPolicy:
    object_id: str
    tenant_id: str
    key_permissions: list[str]
    application_id: str | None = None


@dataclass
class PrivateEndpointConnection:
    """A vault's record of one private endpoint; its status is the truth
    about whether the endpoint carries traffic."""

    name: str
    private_endpoint_id: str
    status: Status = "Approved"
    description: str = "Auto-approved"
    provisioning_state: str = "Succeeded"


@dataclass
class Vault:
    name: str
    resource_group: str
    location: str
    subscription_id: str = SUBSCRIPTION_ID
    tenant_id: str = TENANT_ID
    port: int = 0  # its data-plane listener; the vault URL is https://127.0.0.1:port
    sku: str = "premium"
    enable_soft_delete: bool = True
    soft_delete_retention_days: int = 90
    enable_purge_protection: bool = True
    enable_rbac_authorization: bool = True
    access_policies: list[AccessPolicy] = field(default_factory=list)
    public_network_access: str = "Disabled"
    network_default_action: str = "Deny"
    network_bypass: str = "AzureServices"
    private_endpoint_connections: list[PrivateEndpointConnection] = field(
        default_factory=list
    )
    keys: dict[str, Key] = field(default_factory=dict)
    deleted_keys: dict[str, DeletedKey] = field(default_factory=dict)
    ip_rules: list[str] = field(default_factory=list)
    virtual_network_rules: list[str] = field(default_factory=list)  # subnet ids
    tags: dict[str, str] = field(default_factory=dict)
    enabled_for_deployment: bool = False
    enabled_for_disk_encryption: bool = False
    enabled_for_template_deployment: bool = False

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def geography(self) -> str:
        return GEOGRAPHY.get(self.location, self.location)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.KeyVault/vaults/{self.name}"
        )


@dataclass
class RoleAssignment:
    name: str  # a GUID
    scope: str  # an ARM resource id (a vault's, a resource group's ...)
    role_definition_id: str  # the GUID at the end of the definition id
    principal_id: str
    principal_type: str = "ServicePrincipal"


# --------------------------------------------------------------------------
# Network


@dataclass
class PrivateEndpoint:
    name: str
    resource_group: str
    location: str
    subnet_id: str  # the subnet its NIC is in (the instance's virtual network)
    vault_name: str  # the vault it connects to (privateLinkServiceId)
    ip_address: str
    connection_name: str  # the name of the vault's PrivateEndpointConnection
    subscription_id: str = SUBSCRIPTION_ID

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Network/privateEndpoints/"
            f"{self.name}"
        )


@dataclass
class SecurityRule:
    name: str
    priority: int
    direction: str  # "Inbound" | "Outbound"
    access: str  # "Allow" | "Deny"
    protocol: str = "*"  # "Tcp" | "Udp" | "*"
    source_address_prefix: str = "*"
    source_port_range: str = "*"
    destination_address_prefix: str = "*"
    destination_port_range: str = "*"
    description: str = ""
    # Plural forms, as ARM also accepts lists.
    destination_address_prefixes: list[str] = field(default_factory=list)
    destination_port_ranges: list[str] = field(default_factory=list)
    source_address_prefixes: list[str] = field(default_factory=list)
    source_port_ranges: list[str] = field(default_factory=list)


@dataclass
class NetworkSecurityGroup:
    name: str
    resource_group: str
    location: str
    rules: dict[str, SecurityRule] = field(default_factory=dict)
    subscription_id: str = SUBSCRIPTION_ID

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Network/"
            f"networkSecurityGroups/{self.name}"
        )


# --------------------------------------------------------------------------
# SQL Managed Instance


@dataclass
class InstanceKey:
    """A key registered on an instance (`{vault}_{key}_{version}`)."""

    name: str
    uri: str
    thumbprint: str
    created: datetime
    server_key_type: str = "AzureKeyVault"


@dataclass
class Protector:
    server_key_type: str = "ServiceManaged"  # or "AzureKeyVault"
    server_key_name: str = "ServiceManaged"
    auto_rotation_enabled: bool = False


@dataclass
class Database:
    name: str
    status: str = "Online"
    created: datetime | None = None
    # While Inaccessible: why, in Azure's words.
    inaccessibility_reason_kind: str | None = None
    inaccessibility_error_code: str | None = None
    inaccessibility_description: str | None = None
    inaccessibility_key_uri: str | None = None


@dataclass
class KeyAccess:
    """What the instance last concluded about its protector.

    `lost_at` is when the instance first found no usable copy of its
    protector; `active_key_name` is the registered key it is currently
    unwrapping with (the protector, or a same-thumbprint fallback).
    """

    active_key_name: str | None = None
    using_fallback: bool = False
    lost_at: datetime | None = None
    lost_reason_code: str | None = None
    lost_reason: str | None = None
    healable: bool = True  # False once the auto-heal window has passed
    last_check: datetime | None = None
    next_check: datetime | None = None
    # Auto-rotation: a newer version of the protector key, first seen when.
    rotation_candidate: str | None = None
    rotation_seen_at: datetime | None = None
    # When the identity was first seen without key permissions on a vault
    # (by vault name): revocations linger `Timers.permission_propagation`.
    permission_lost_since: dict[str, datetime] = field(default_factory=dict)
    # After a forced failover onto this instance while it lacked the material
    # of the old primary's protector: that protector (thumbprint, key uri),
    # which still wraps the databases' keys until this instance can unwrap.
    wrapped_by_thumbprint: str | None = None
    wrapped_by_uri: str | None = None
    # Whether the current loss is network/5xx-type (Timers.network_buffer).
    lost_to_network: bool = False


@dataclass
class ManagedInstance:
    name: str
    resource_group: str
    location: str
    subnet_id: str
    nsg_name: str  # the network security group of its subnet
    subscription_id: str = SUBSCRIPTION_ID
    identity_type: str = "SystemAssigned"  # "None" | "SystemAssigned" | ...
    principal_id: str | None = None
    state: str = "Ready"
    keys: dict[str, InstanceKey] = field(default_factory=dict)
    protector: Protector = field(default_factory=Protector)
    databases: dict[str, Database] = field(default_factory=dict)
    key_access: KeyAccess = field(default_factory=KeyAccess)
    subnet_prefix: str = "10.0.0.0/24"  # the address range of its subnet
    dns_zone: str = "0a1b2c3d4e5f"
    provisioning_state: str = "Succeeded"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/"
            f"{self.resource_group}/providers/Microsoft.Sql/managedInstances/"
            f"{self.name}"
        )


@dataclass
class FailoverGroup:
    name: str
    resource_group: str
    primary_instance: str  # instance name
    secondary_instance: str
    failover_policy: str = "Manual"
    grace_period_minutes: int | None = None
    read_only_policy: str = "Disabled"
    secondary_type: str = "Geo"
    replication_state: str = "CATCH_UP"
    # A role switch under way: (the instance becoming primary, when it lands).
    pending_switch: tuple[str, datetime] | None = None


# --------------------------------------------------------------------------
# Timers and faults


@dataclass
class Timers:
    """Every behaviour timer, in simulated seconds, with Azure's defaults."""

    key_check_interval: float = 600.0  # the instance re-checks its protector
    inaccessible_after: float = 600.0  # grace before databases go Inaccessible
    auto_heal_window: float = 1800.0  # access back within this heals by itself
    auto_rotation_pickup: float = 86400.0  # a new protector version is adopted
    role_switch: float = 120.0  # failover: roles swap after this
    lro_duration: float = 20.0  # a typical ARM long-running operation
    permission_propagation: float = 0.0  # revocations may linger this long
    # Network/5xx-type loss: databases stay online this long before they are
    # moved to Inaccessible. Azure documents 24 hours; 0 plays such a loss on
    # the `inaccessible_after` timeline, as the default scenario does.
    network_buffer: float = 0.0


@dataclass
class Outage:
    vault_name: str
    until: datetime | None = None  # None: until removed


@dataclass
class FaultRule:
    """A fault on requests: match by listener/operation, then act.

    kind: "throttle" (429 + Retry-After), "error" (status + code), "latency"
    (delay in real seconds), "drop" (connection closed, no response).
    """

    id: str
    kind: str
    listener: str = "*"  # "arm", "token", a vault name, or "*"
    operation: str = "*"  # e.g. "PUT keys", a path fragment, or "*"
    remaining: int | None = None  # fire this many times; None: until removed
    status: int = 503
    code: str = "ServiceUnavailable"
    retry_after: int = 1
    delay_seconds: float = 0.0


@dataclass
class Operation:
    """An ARM long-running operation, finished lazily on the simulated clock.

    `complete` applies the operation's effect once, when the operation is
    first observed after `due`; it returns the body the operation's Location
    URL then serves (None: empty) or raises an ArmError, which fails it.
    """

    id: str
    name: str  # Azure's operation name, e.g. "UpsertManagedServerEncryptionKeys"
    started: datetime
    due: datetime
    status: str = "InProgress"  # "Succeeded" | "Failed"
    error_code: str | None = None
    error_message: str | None = None
    result: dict[str, Any] | None = None
    complete: Callable[[], dict[str, Any] | None] | None = None


@dataclass
class World:
    clock: SimClock
    timers: Timers = field(default_factory=Timers)
    subscription_id: str = SUBSCRIPTION_ID
    tenant_id: str = TENANT_ID
    scenario: str = "protected"
    principals: dict[str, Principal] = field(default_factory=dict)  # by object id
    issued_tokens: dict[str, tuple[str, datetime]] = field(
        default_factory=dict
    )  # token -> (object id, expiry)
    # token -> the resource it was issued for ("https://vault.azure.net", ...)
    token_audiences: dict[str, str] = field(default_factory=dict)
    vaults: dict[str, Vault] = field(default_factory=dict)  # by name
    role_assignments: dict[str, RoleAssignment] = field(default_factory=dict)
    private_endpoints: dict[str, PrivateEndpoint] = field(default_factory=dict)
    network_security_groups: dict[str, NetworkSecurityGroup] = field(
        default_factory=dict
    )
    instances: dict[str, ManagedInstance] = field(default_factory=dict)
    failover_groups: dict[str, FailoverGroup] = field(default_factory=dict)
    outages: dict[str, Outage] = field(default_factory=dict)  # by vault name
    faults: list[FaultRule] = field(default_factory=list)
    arm_port: int = 0
    # A log of behaviour events (fallback, inaccessible, healed, ...) that the
    # admin API returns, in simulated time order.
    events: list[dict[str, object]] = field(default_factory=list)
    operations: dict[str, Operation] = field(default_factory=dict)  # by id
    # Binds a data-plane listener for a vault name and returns its port; set
    # by the scenario builder so that ARM can create vaults later.
    port_for: Callable[[str], int] | None = None

    def vault_by_port(self, port: int) -> Vault | None:
        for vault in self.vaults.values():
            if vault.port == port:
                return vault
        return None

    def event(self, kind: str, **details: object) -> None:
        self.events.append(
            {"at": self.clock.now().isoformat(), "kind": kind, **details}
        )


def generate_rsa(size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=size)
