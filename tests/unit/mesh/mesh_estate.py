"""Hand-built Snapshots: a healthy protected mesh, and ways to break it.

The healthy mesh mirrors the simulator's `protected` scenario: two regions,
each instance with its home vault's key as protector and the other vault's
copy (same material, same thumbprint) registered as its fallback, four
approved endpoints, no NSG rule in the way.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mesh.keyuri import server_key_name
from mesh.permissions import ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
from mesh.snapshot import (
    Database,
    Endpoint,
    EndpointConnection,
    FailoverGroup,
    Identity,
    Instance,
    KeyVersion,
    NetworkSecurityGroup,
    Protector,
    RegisteredKey,
    RoleAssignment,
    SecurityRule,
    Snapshot,
    Vault,
    VaultKey,
)

NOW = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
SUB = "00000000-0000-0000-0000-000000000000"
REGIONS = ("eastus2", "centralus")
KEY = "tde-protector"
V1 = "0123456789abcdef0123456789abcdef"
V0 = "fedcba9876543210fedcba9876543210"
THUMB = "A1" * 20
OLD_THUMB = "B2" * 20
PRINCIPAL = {
    "eastus2": "aaaaaaaa-0000-0000-0000-000000000001",
    "centralus": "aaaaaaaa-0000-0000-0000-000000000002",
}
ADDRESS = {
    ("eastus2", "kv-tde-eastus2"): "10.1.1.4",
    ("eastus2", "kv-tde-centralus"): "10.1.1.5",
    ("centralus", "kv-tde-centralus"): "10.2.1.4",
    ("centralus", "kv-tde-eastus2"): "10.2.1.5",
}


def rg(region: str) -> str:
    return f"rg-tde-{region}"


def instance_name(region: str) -> str:
    return f"sqlmi-tde-{region}"


def vault_name(region: str) -> str:
    return f"kv-tde-{region}"


def vault_url(region: str) -> str:
    return f"https://{vault_name(region)}.vault.azure.net"


def kid(region: str, version: str = V1, name: str = KEY) -> str:
    return f"{vault_url(region)}/keys/{name}/{version}"


def endpoint_name(region: str, vault: str) -> str:
    return f"pe-sqlmi-{region}-{vault}"


def endpoint_id(region: str, vault: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{rg(region)}/providers/"
        f"Microsoft.Network/privateEndpoints/{endpoint_name(region, vault)}"
    )


def _version(region: str, version: str, thumb: str, **changes: Any) -> KeyVersion:
    fields: dict[str, Any] = dict(
        vault=vault_name(region),
        name=KEY,
        version=version,
        kid=kid(region, version),
        enabled=True,
        kty="RSA",
        size=2048,
        thumbprint=thumb,
        key_ops=("wrapKey", "unwrapKey", "encrypt", "decrypt"),
        created=NOW - timedelta(days=30 if version == V0 else 10),
        updated=NOW - timedelta(days=30 if version == V0 else 10),
        recovery_level="Recoverable",
    )
    fields.update(changes)
    return KeyVersion(**fields)


def _vault(region: str) -> Vault:
    resource_id = (
        f"/subscriptions/{SUB}/resourceGroups/{rg(region)}/providers/"
        f"Microsoft.KeyVault/vaults/{vault_name(region)}"
    )
    assignments = tuple(
        RoleAssignment(
            name=f"ra-{r}",
            scope=resource_id,
            role_definition_id=(
                f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER}"
            ),
            principal_id=PRINCIPAL[r],
        )
        for r in REGIONS
    )
    connections = tuple(
        EndpointConnection(
            name=f"conn-{r}",
            private_endpoint_id=endpoint_id(r, vault_name(region)),
            status="Approved",
            provisioning_state="Succeeded",
        )
        for r in REGIONS
    )
    key = VaultKey(
        vault=vault_name(region),
        name=KEY,
        exists=True,
        versions=(_version(region, V0, OLD_THUMB), _version(region, V1, THUMB)),
    )
    return Vault(
        region=region,
        name=vault_name(region),
        resource_group=rg(region),
        resource_id=resource_id,
        url=vault_url(region),
        location=region,
        soft_delete=True,
        purge_protection=True,
        retention_days=90,
        rbac_authorization=True,
        role_assignments=assignments,
        public_network_access="Disabled",
        network_default_action="Deny",
        endpoint_connections=connections,
        keys=(key,),
        operator_reachable=True,
    )


def _instance(region: str) -> Instance:
    keys = tuple(
        RegisteredKey(
            name=server_key_name(vault_name(r), KEY, V1),
            server_key_type="AzureKeyVault",
            uri=kid(r),
            thumbprint=THUMB,
            created=NOW - timedelta(days=9, hours=1 if region == "centralus" else 0),
        )
        for r in REGIONS
    )
    return Instance(
        region=region,
        name=instance_name(region),
        resource_group=rg(region),
        resource_id=(
            f"/subscriptions/{SUB}/resourceGroups/{rg(region)}/providers/"
            f"Microsoft.Sql/managedInstances/{instance_name(region)}"
        ),
        location=region,
        state="Ready",
        provisioning_state="Succeeded",
        identity=Identity("SystemAssigned", principal_id=PRINCIPAL[region]),
        protector=Protector(
            server_key_type="AzureKeyVault",
            server_key_name=server_key_name(vault_name(region), KEY, V1),
            uri=kid(region),
            thumbprint=THUMB,
        ),
        keys=(RegisteredKey("ServiceManaged", "ServiceManaged"), *keys),
        databases=tuple(
            Database(name, "Online") for name in ("sales", "inventory", "billing")
        ),
    )


def _endpoint(region: str, vault: str) -> Endpoint:
    return Endpoint(
        region=region,
        name=endpoint_name(region, vault),
        vault=vault,
        resource_id=endpoint_id(region, vault),
        ip_addresses=(ADDRESS[(region, vault)],),
        connection_status="Approved",
        provisioning_state="Succeeded",
    )


def _nsg(region: str) -> NetworkSecurityGroup:
    return NetworkSecurityGroup(
        region=region,
        name=f"nsg-sqlmi-{region}",
        resource_id=(
            f"/subscriptions/{SUB}/resourceGroups/{rg(region)}/providers/"
            f"Microsoft.Network/networkSecurityGroups/nsg-sqlmi-{region}"
        ),
        outbound_rules=(
            SecurityRule(
                "AllowVnetOutBound",
                65000,
                "Outbound",
                "Allow",
                source_prefixes=("VirtualNetwork",),
                destination_prefixes=("VirtualNetwork",),
                default=True,
            ),
            SecurityRule("DenyAllOutBound", 65500, "Outbound", "Deny", default=True),
        ),
    )


def healthy() -> Snapshot:
    return Snapshot(
        mesh="test",
        cloud="AzureCloud",
        subscription_id=SUB,
        taken_at=NOW,
        regions=REGIONS,
        instances=tuple(_instance(r) for r in REGIONS),
        vaults=tuple(_vault(r) for r in REGIONS),
        endpoints=tuple(_endpoint(r, vault_name(v)) for r in REGIONS for v in REGIONS),
        network_security_groups=tuple(_nsg(r) for r in REGIONS),
        failover_group=FailoverGroup(
            name="fog-tde",
            resource_group=rg("eastus2"),
            location="eastus2",
            primary_instance=instance_name("eastus2"),
            secondary_instance=instance_name("centralus"),
            replication_state="CATCH_UP",
            failover_policy="Manual",
        ),
    )


# --------------------------------------------------------------------------
# Ways to change one part


def with_instance(snapshot: Snapshot, region: str, **changes: Any) -> Snapshot:
    return replace(
        snapshot,
        instances=tuple(
            replace(i, **changes) if i.region == region else i
            for i in snapshot.instances
        ),
    )


def with_vault(snapshot: Snapshot, region: str, **changes: Any) -> Snapshot:
    return replace(
        snapshot,
        vaults=tuple(
            replace(v, **changes) if v.region == region else v for v in snapshot.vaults
        ),
    )


def with_version(
    snapshot: Snapshot, region: str, version: str, **changes: Any
) -> Snapshot:
    vault = snapshot.vault_in(region)
    assert vault is not None
    keys = tuple(
        replace(
            key,
            versions=tuple(
                replace(v, **changes) if v.version == version else v
                for v in key.versions
            ),
        )
        for key in vault.keys
    )
    return with_vault(snapshot, region, keys=keys)


def with_endpoint(
    snapshot: Snapshot, region: str, vault: str, **changes: Any
) -> Snapshot:
    return replace(
        snapshot,
        endpoints=tuple(
            replace(e, **changes) if (e.region, e.vault) == (region, vault) else e
            for e in snapshot.endpoints
        ),
    )


def with_connection_status(
    snapshot: Snapshot, region: str, vault_region: str, status: str
) -> Snapshot:
    vault = snapshot.vault_in(vault_region)
    assert vault is not None
    wanted = endpoint_id(region, vault.name)
    connections = tuple(
        replace(c, status=status) if c.private_endpoint_id == wanted else c
        for c in vault.endpoint_connections
    )
    return with_vault(snapshot, vault_region, endpoint_connections=connections)


def deny_rule(
    address: str = "*", name: str = "deny-kv", priority: int = 100
) -> SecurityRule:
    return SecurityRule(
        name,
        priority,
        "Outbound",
        "Deny",
        "Tcp",
        destination_prefixes=(address,),
        destination_ports=("443",),
    )


def with_rule(snapshot: Snapshot, region: str, rule: SecurityRule) -> Snapshot:
    return replace(
        snapshot,
        network_security_groups=tuple(
            replace(g, outbound_rules=(rule, *(g.outbound_rules or ())))
            if g.region == region
            else g
            for g in snapshot.network_security_groups
        ),
    )


def cut(snapshot: Snapshot, region: str, vault_region: str) -> Snapshot:
    """An NSG deny from the instance in `region` to the vault's endpoint."""
    address = ADDRESS[(region, vault_name(vault_region))]
    return with_rule(snapshot, region, deny_rule(address, name=f"deny-{vault_region}"))


def revoke(snapshot: Snapshot, region: str, vault_region: str) -> Snapshot:
    vault = snapshot.vault_in(vault_region)
    assert vault is not None and vault.role_assignments is not None
    kept = tuple(
        a for a in vault.role_assignments if a.principal_id != PRINCIPAL[region]
    )
    return with_vault(snapshot, vault_region, role_assignments=kept)
