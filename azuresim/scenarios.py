"""The simulator's starting estates: `greenfield` and `protected`.

Both build the same two-region topology (two instances in a failover group,
a vault per region, four private endpoints, one network security group per
instance subnet); they differ only in whether the customer-managed TDE
protector is already in place. Names and ids are fixed so that a config file
written once keeps working across resets.

RSA key generation is the one slow step, so the protector's key material is
generated once per process and reused by every reset.
"""

from __future__ import annotations

import functools
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from azuresim.state import (
    ROLE_KEY_VAULT_ADMINISTRATOR,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    Database,
    FailoverGroup,
    InstanceKey,
    Key,
    KeyAccess,
    KeyVersion,
    ManagedInstance,
    NetworkSecurityGroup,
    Principal,
    PrivateEndpoint,
    PrivateEndpointConnection,
    Protector,
    RoleAssignment,
    SecurityRule,
    Vault,
    World,
    generate_rsa,
    new_version,
)

SCENARIOS = ("greenfield", "protected")

FAILOVER_GROUP = "fog-tde"
PROTECTOR_KEY = "tde-protector"
DATABASES = ("sales", "inventory", "billing", "audit")
OPERATOR_NAME = "tdemesh-operator"
DEFAULT_KEY_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]

# Stable ids, so that a config or a journal survives a reset.
_NAMESPACE = uuid.UUID("6a1f0c1e-7d44-4c55-9a52-5d1b0a7e0001")
OPERATOR_OBJECT_ID = str(uuid.uuid5(_NAMESPACE, "operator-object"))
OPERATOR_CLIENT_ID = str(uuid.uuid5(_NAMESPACE, "operator-client"))
# One secret per simulator process: stable across resets, never stored.
OPERATOR_SECRET = secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Region:
    """One side of the estate, with every name the TEAM contract fixes."""

    location: str
    octet: int  # 10.<octet>.0.0/16 is the region's virtual network

    @property
    def resource_group(self) -> str:
        return f"rg-tde-{self.location}"

    @property
    def instance(self) -> str:
        return f"sqlmi-tde-{self.location}"

    @property
    def vault(self) -> str:
        return f"kv-tde-{self.location}"

    @property
    def nsg(self) -> str:
        return f"nsg-sqlmi-{self.location}"

    @property
    def vnet_id(self) -> str:
        return (
            f"/subscriptions/{_SUB}/resourceGroups/{self.resource_group}/providers/"
            f"Microsoft.Network/virtualNetworks/vnet-sqlmi-{self.location}"
        )

    @property
    def instance_subnet_id(self) -> str:
        return f"{self.vnet_id}/subnets/snet-sqlmi"

    @property
    def endpoint_subnet_id(self) -> str:
        return f"{self.vnet_id}/subnets/snet-endpoints"

    @property
    def instance_prefix(self) -> str:
        return f"10.{self.octet}.0.0/24"

    @property
    def endpoint_prefix(self) -> str:
        return f"10.{self.octet}.1.0/24"

    def endpoint_name(self, vault: str) -> str:
        return f"pe-sqlmi-{self.location}-{vault}"


_SUB = "00000000-0000-0000-0000-000000000000"
PRIMARY = Region("eastus2", 10)
SECONDARY = Region("centralus", 20)
REGIONS = (PRIMARY, SECONDARY)


@functools.cache
def protector_material() -> rsa.RSAPrivateKey:
    """The protector's RSA 2048 key, generated once per process."""
    return generate_rsa(2048)


def instance_principal_id(instance: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"identity:{instance}"))


def build(world: World, name: str, port_for: Callable[[str], int]) -> None:
    """Fill a fresh `world` with the named scenario."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {SCENARIOS}")
    world.scenario = name
    world.port_for = port_for

    _add_operator(world)
    for region in REGIONS:
        _add_vault(world, region, port_for)
    for region in REGIONS:
        _add_network(world, region)
        _add_instance(world, region)
    _add_failover_group(world)

    if name == "protected":
        _protect(world)


def _add_operator(world: World) -> None:
    world.principals[OPERATOR_OBJECT_ID] = Principal(
        object_id=OPERATOR_OBJECT_ID,
        display_name=OPERATOR_NAME,
        client_id=OPERATOR_CLIENT_ID,
        client_secret=OPERATOR_SECRET,
    )


def _add_vault(world: World, region: Region, port_for: Callable[[str], int]) -> None:
    vault = Vault(
        name=region.vault,
        resource_group=region.resource_group,
        location=region.location,
        subscription_id=world.subscription_id,
        tenant_id=world.tenant_id,
        enable_soft_delete=True,
        enable_purge_protection=True,
        enable_rbac_authorization=True,
    )
    vault.port = port_for(vault.name)
    for source in REGIONS:
        endpoint = source.endpoint_name(vault.name)
        vault.private_endpoint_connections.append(
            PrivateEndpointConnection(
                name=endpoint,
                private_endpoint_id=_endpoint_id(world, source, endpoint),
                status="Approved",
                description="Auto-Approved",
            )
        )
    world.vaults[vault.name] = vault
    _assign(world, vault, OPERATOR_OBJECT_ID, ROLE_KEY_VAULT_ADMINISTRATOR)


def _endpoint_id(world: World, region: Region, endpoint: str) -> str:
    return (
        f"/subscriptions/{world.subscription_id}/resourceGroups/"
        f"{region.resource_group}/providers/Microsoft.Network/privateEndpoints/"
        f"{endpoint}"
    )


def _add_network(world: World, region: Region) -> None:
    for host, vault in enumerate(r.vault for r in REGIONS):
        endpoint = region.endpoint_name(vault)
        world.private_endpoints[endpoint] = PrivateEndpoint(
            name=endpoint,
            resource_group=region.resource_group,
            location=region.location,
            subnet_id=region.endpoint_subnet_id,
            vault_name=vault,
            ip_address=f"10.{region.octet}.1.{4 + host}",
            connection_name=endpoint,
            subscription_id=world.subscription_id,
        )
    nsg = NetworkSecurityGroup(
        name=region.nsg,
        resource_group=region.resource_group,
        location=region.location,
        subscription_id=world.subscription_id,
    )
    nsg.rules["allow-keyvault-endpoints-out"] = SecurityRule(
        name="allow-keyvault-endpoints-out",
        priority=200,
        direction="Outbound",
        access="Allow",
        protocol="Tcp",
        source_address_prefix=region.instance_prefix,
        destination_address_prefix=region.endpoint_prefix,
        destination_port_range="443",
        description="Managed instance to the Key Vault private endpoints",
    )
    world.network_security_groups[nsg.name] = nsg


def _add_instance(world: World, region: Region) -> None:
    now = world.clock.now()
    principal_id = instance_principal_id(region.instance)
    world.principals[principal_id] = Principal(
        object_id=principal_id, display_name=region.instance
    )
    instance = ManagedInstance(
        name=region.instance,
        resource_group=region.resource_group,
        location=region.location,
        subnet_id=region.instance_subnet_id,
        nsg_name=region.nsg,
        subscription_id=world.subscription_id,
        identity_type="SystemAssigned",
        principal_id=principal_id,
        subnet_prefix=region.instance_prefix,
        dns_zone="7f3c9a2b1d4e",
    )
    for database in DATABASES:
        instance.databases[database] = Database(name=database, created=now)
    world.instances[instance.name] = instance


def _add_failover_group(world: World) -> None:
    world.failover_groups[FAILOVER_GROUP] = FailoverGroup(
        name=FAILOVER_GROUP,
        resource_group=PRIMARY.resource_group,
        primary_instance=PRIMARY.instance,
        secondary_instance=SECONDARY.instance,
        failover_policy="Manual",
    )


def _assign(world: World, vault: Vault, principal_id: str, role: str) -> None:
    name = str(uuid.uuid5(_NAMESPACE, f"{vault.resource_id}|{principal_id}|{role}"))
    world.role_assignments[name] = RoleAssignment(
        name=name,
        scope=vault.resource_id,
        role_definition_id=role,
        principal_id=principal_id,
    )


def _protect(world: World) -> None:
    """Put the whole customer-managed architecture in place, healthy."""
    now = world.clock.now()
    version = new_version()
    material = protector_material()
    for region in REGIONS:
        vault = world.vaults[region.vault]
        vault.keys[PROTECTOR_KEY] = Key(
            name=PROTECTOR_KEY,
            versions=[
                KeyVersion(
                    version=version,
                    private_key=material,
                    kty="RSA",
                    key_ops=list(DEFAULT_KEY_OPS),
                    enabled=True,
                    created=now,
                    updated=now,
                )
            ],
        )
        for owner in REGIONS:
            _assign(
                world,
                vault,
                instance_principal_id(owner.instance),
                ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
            )

    thumbprint = world.vaults[PRIMARY.vault].keys[PROTECTOR_KEY].latest.thumbprint
    for region in REGIONS:
        instance = world.instances[region.instance]
        for source in REGIONS:
            vault = world.vaults[source.vault]
            key_name = f"{vault.name}_{PROTECTOR_KEY}_{version}"
            instance.keys[key_name] = InstanceKey(
                name=key_name,
                uri=f"{vault.url}/keys/{PROTECTOR_KEY}/{version}",
                thumbprint=thumbprint,
                created=now,
            )
        protector = f"{region.vault}_{PROTECTOR_KEY}_{version}"
        instance.protector = Protector(
            server_key_type="AzureKeyVault",
            server_key_name=protector,
            auto_rotation_enabled=False,
        )
        instance.key_access = KeyAccess(
            active_key_name=protector,
            last_check=now,
            next_check=now + _seconds(world.timers.key_check_interval),
        )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
