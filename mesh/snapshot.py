"""Snapshot: what one read-only probe saw of a mesh, as frozen facts.

Every part carries the `ReadError`s met while reading it: a part that could
not be read is a fact about the estate (a vault the operator cannot reach is
news), not a failed probe. Fields that could not be read are None; an empty
tuple means "read, and there were none".

Names follow the domain: an instance, a vault, a key and its versions, the
thumbprint, the protector, an endpoint (private endpoint), the failover
group, primary and secondary roles, a region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mesh.keyuri import same_vault_url


@dataclass(frozen=True)
class ReadError:
    """One read that failed: which resource, which operation, and why."""

    resource: str  # an ARM id, a vault URL, a key id
    operation: str  # e.g. "managed_instances.get"
    message: str
    status: int | None = None  # HTTP status, None for connection errors
    code: str | None = None  # Azure's error code
    fix: str | None = None  # what to do, when the gateway could tell

    @property
    def unreachable(self) -> bool:
        """No answer at all (connection refused, timeout), or a 5xx."""
        return self.status is None or self.status >= 500


# --------------------------------------------------------------------------
# Managed instances


@dataclass(frozen=True)
class Identity:
    type: str  # None | SystemAssigned | UserAssigned | SystemAssigned,UserAssigned
    principal_id: str | None = None  # the system-assigned identity
    tenant_id: str | None = None
    primary_user_assigned_id: str | None = None
    # User-assigned identity resource id -> its principal id.
    user_assigned: tuple[tuple[str, str | None], ...] = ()

    @property
    def effective_principal_id(self) -> str | None:
        """The principal that reaches the vault: the primary user-assigned
        identity if any is assigned, else the system-assigned one."""
        if self.user_assigned:
            wanted = (self.primary_user_assigned_id or "").lower()
            for resource_id, principal in self.user_assigned:
                if resource_id.lower() == wanted:
                    return principal
            return None
        return self.principal_id


@dataclass(frozen=True)
class RegisteredKey:
    """A key registered on an instance (`{vault}_{key}_{version}`)."""

    name: str
    server_key_type: str  # AzureKeyVault | ServiceManaged
    uri: str | None = None
    thumbprint: str | None = None
    created: datetime | None = None
    auto_rotation_enabled: bool | None = None


@dataclass(frozen=True)
class Protector:
    """The instance's encryption protector (`.../encryptionProtector/current`)."""

    server_key_type: str  # AzureKeyVault | ServiceManaged
    server_key_name: str
    uri: str | None = None
    thumbprint: str | None = None
    auto_rotation_enabled: bool = False

    @property
    def customer_managed(self) -> bool:
        return self.server_key_type.lower() == "azurekeyvault"


@dataclass(frozen=True)
class Database:
    name: str
    status: str  # Online | Inaccessible | ...
    created: datetime | None = None
    # While Inaccessible, Azure's reason (extendedAccessibilityInfo).
    inaccessibility_reason_kind: str | None = None
    inaccessibility_error_code: str | None = None
    inaccessibility_description: str | None = None
    inaccessibility_key_uri: str | None = None
    failover_group_id: str | None = None

    @property
    def inaccessible(self) -> bool:
        return self.status.lower() == "inaccessible"


@dataclass(frozen=True)
class Instance:
    region: str
    name: str
    resource_group: str
    resource_id: str
    location: str | None = None
    state: str | None = None  # Ready, ...
    provisioning_state: str | None = None
    subnet_id: str | None = None
    subnet_prefix: str | None = None  # the subnet's address range, if known
    identity: Identity | None = None
    key_id: str | None = None  # properties.keyId: the protector URI it reports
    protector: Protector | None = None
    keys: tuple[RegisteredKey, ...] | None = None
    databases: tuple[Database, ...] | None = None
    errors: tuple[ReadError, ...] = ()

    def registered(self, name: str) -> RegisteredKey | None:
        for key in self.keys or ():
            if key.name.lower() == name.lower():
                return key
        return None


# --------------------------------------------------------------------------
# Failover group


@dataclass(frozen=True)
class FailoverGroup:
    name: str
    resource_group: str
    location: str  # the region it was read from
    primary_instance: str | None  # instance names
    secondary_instance: str | None
    replication_state: str | None = None
    failover_policy: str | None = None
    grace_period_minutes: int | None = None
    primary_location: str | None = None
    secondary_location: str | None = None
    errors: tuple[ReadError, ...] = ()

    def role_of(self, instance: str) -> str | None:
        """ "Primary", "Secondary" or None for an instance name."""
        if self.primary_instance and instance.lower() == self.primary_instance.lower():
            return "Primary"
        if (
            self.secondary_instance
            and instance.lower() == self.secondary_instance.lower()
        ):
            return "Secondary"
        return None


# --------------------------------------------------------------------------
# Vaults and keys


@dataclass(frozen=True)
class AccessPolicy:
    object_id: str
    tenant_id: str | None
    key_permissions: tuple[str, ...]


@dataclass(frozen=True)
class RoleAssignment:
    """A role assignment whose scope covers the vault."""

    name: str
    scope: str
    role_definition_id: str  # the GUID at the end of the definition id
    principal_id: str


@dataclass(frozen=True)
class EndpointConnection:
    """A vault's record of one private endpoint connection."""

    name: str
    private_endpoint_id: str | None
    status: str | None  # Approved | Pending | Rejected | Disconnected
    description: str | None = None
    provisioning_state: str | None = None


@dataclass(frozen=True)
class KeyVersion:
    """One version of a key in one vault, with what MI checks of it."""

    vault: str
    name: str
    version: str
    kid: str
    enabled: bool | None
    kty: str | None = None  # RSA | RSA-HSM | EC | oct ...
    size: int | None = None  # bits, from n
    thumbprint: str | None = None  # SHA-1 of the DER SubjectPublicKeyInfo
    key_ops: tuple[str, ...] | None = None
    not_before: datetime | None = None
    expires: datetime | None = None
    created: datetime | None = None
    updated: datetime | None = None
    recovery_level: str | None = None


@dataclass(frozen=True)
class VaultKey:
    """Every version of one key name in one vault (or why it is unknown)."""

    vault: str
    name: str
    exists: bool | None  # None: could not be read
    versions: tuple[KeyVersion, ...] = ()
    errors: tuple[ReadError, ...] = ()

    def version(self, version: str) -> KeyVersion | None:
        for candidate in self.versions:
            if candidate.version.lower() == version.lower():
                return candidate
        return None

    @property
    def latest(self) -> KeyVersion | None:
        dated = [v for v in self.versions if v.created is not None]
        if not dated:
            return self.versions[-1] if self.versions else None
        return max(dated, key=lambda v: v.created or datetime.min)


@dataclass(frozen=True)
class Vault:
    region: str
    name: str
    resource_group: str
    resource_id: str
    url: str  # data plane, https://host[:port]
    location: str | None = None
    tenant_id: str | None = None
    soft_delete: bool | None = None
    purge_protection: bool | None = None
    retention_days: int | None = None
    rbac_authorization: bool | None = None
    access_policies: tuple[AccessPolicy, ...] = ()
    role_assignments: tuple[RoleAssignment, ...] | None = None
    public_network_access: str | None = None
    network_default_action: str | None = None
    network_bypass: str | None = None
    endpoint_connections: tuple[EndpointConnection, ...] = ()
    keys: tuple[VaultKey, ...] = ()
    # Whether the operator (this process) reached the data plane.
    operator_reachable: bool | None = None
    operator_error: ReadError | None = None
    readable: bool = True  # the ARM read of the vault succeeded
    errors: tuple[ReadError, ...] = ()

    def key(self, name: str) -> VaultKey | None:
        for key in self.keys:
            if key.name.lower() == name.lower():
                return key
        return None


# --------------------------------------------------------------------------
# Network


@dataclass(frozen=True)
class Endpoint:
    """A private endpoint from an instance's network to a vault."""

    region: str  # the instance's region
    name: str
    vault: str  # the vault it connects to
    resource_id: str
    ip_addresses: tuple[str, ...] = ()
    subnet_id: str | None = None
    # The connection state as the endpoint reports it.
    connection_status: str | None = None
    provisioning_state: str | None = None
    exists: bool | None = True
    errors: tuple[ReadError, ...] = ()


@dataclass(frozen=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str = "*"
    source_prefixes: tuple[str, ...] = ("*",)
    destination_prefixes: tuple[str, ...] = ("*",)
    destination_ports: tuple[str, ...] = ("*",)
    default: bool = False  # one of Azure's built-in default rules


@dataclass(frozen=True)
class NetworkSecurityGroup:
    """The NSG of an instance's subnet; only its outbound rules are kept."""

    region: str
    name: str
    resource_id: str
    outbound_rules: tuple[SecurityRule, ...] | None = None
    errors: tuple[ReadError, ...] = ()


# --------------------------------------------------------------------------
# The whole picture


@dataclass(frozen=True)
class Snapshot:
    mesh: str
    cloud: str
    subscription_id: str
    taken_at: datetime  # when the probe started, UTC (this machine)
    regions: tuple[str, ...]
    instances: tuple[Instance, ...]
    vaults: tuple[Vault, ...]
    endpoints: tuple[Endpoint, ...]
    network_security_groups: tuple[NetworkSecurityGroup, ...]
    failover_group: FailoverGroup | None
    # Azure's clock during the probe (the median `Date` of its answers), if
    # Azure gave one: on the simulator, the simulated clock.
    azure_time: datetime | None = None
    duration_seconds: float = 0.0
    calls: int = 0
    errors: tuple[ReadError, ...] = field(default=())

    @property
    def now(self) -> datetime:
        """The time every deadline and expiry is measured against: Azure's,
        or this machine's when no answer said."""
        return self.azure_time or self.taken_at

    def instance(self, name: str) -> Instance | None:
        for instance in self.instances:
            if instance.name.lower() == name.lower():
                return instance
        return None

    def role_of(self, instance: str) -> str | None:
        """ "Primary" or "Secondary" in the failover group, if known."""
        group = self.failover_group
        return group.role_of(instance) if group is not None else None

    def instance_in(self, region: str) -> Instance | None:
        for instance in self.instances:
            if instance.region == region:
                return instance
        return None

    def vault(self, name: str) -> Vault | None:
        for vault in self.vaults:
            if vault.name.lower() == name.lower():
                return vault
        return None

    def vault_in(self, region: str) -> Vault | None:
        for vault in self.vaults:
            if vault.region == region:
                return vault
        return None

    def endpoint(self, region: str, vault: str) -> Endpoint | None:
        """The endpoint from the instance in `region` to `vault`."""
        for endpoint in self.endpoints:
            if endpoint.region == region and endpoint.vault.lower() == vault.lower():
                return endpoint
        return None

    def network_security_group(self, region: str) -> NetworkSecurityGroup | None:
        for group in self.network_security_groups:
            if group.region == region:
                return group
        return None

    def vault_of_url(self, url: str) -> Vault | None:
        """The vault a key id points at, by its data-plane host and port."""
        for vault in self.vaults:
            if same_vault_url(vault.url, url):
                return vault
        return None

    def all_errors(self) -> tuple[ReadError, ...]:
        found = list(self.errors)
        for instance in self.instances:
            found += instance.errors
        for vault in self.vaults:
            found += vault.errors
            for key in vault.keys:
                found += key.errors
        for endpoint in self.endpoints:
            found += endpoint.errors
        for group in self.network_security_groups:
            found += group.errors
        if self.failover_group is not None:
            found += self.failover_group.errors
        return tuple(found)
