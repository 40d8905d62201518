"""The estate as the runbooks act on it: every Azure call they make.

Each method is one SDK operation (or one read-back) on one resource, made
through the mesh Gateway so that retries are the Gateway's and show up in
the run's events. The methods take the run's context so that every call is
observed and journaled under the step that made it. Nothing here decides
anything; the runbook modules do.

The simulator is reached exactly like Azure. The two exceptions are named:
`pass_time` advances the simulator's clock instead of sleeping, and
`vault_outage` uses the simulator's admin API (an outage has no ARM call).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.assessment import Assessment
from mesh.config import Mesh
from mesh.keyuri import parse_key_uri, server_key_name
from mesh.permissions import ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
from mesh.snapshot import Snapshot
from runbooks.engine import RunContext

T = TypeVar("T")

# The geographies of the regions we know; backup blobs restore only within
# one geography and one subscription.
GEOGRAPHY = {
    "eastus": "US",
    "eastus2": "US",
    "centralus": "US",
    "northcentralus": "US",
    "southcentralus": "US",
    "westus": "US",
    "westus2": "US",
    "westus3": "US",
    "westcentralus": "US",
    "westeurope": "Europe",
    "northeurope": "Europe",
    "swedencentral": "Sweden",
    "uksouth": "UK",
    "ukwest": "UK",
    "francecentral": "France",
    "germanywestcentral": "Germany",
    "japaneast": "Japan",
    "japanwest": "Japan",
    "australiaeast": "Australia",
    "australiasoutheast": "Australia",
    "canadacentral": "Canada",
    "canadaeast": "Canada",
}
DRILL_RULE_PREFIX = "tdemesh-drill-deny-"


class Access(Protocol):
    """What the runbooks need of the mesh Gateway."""

    def sql(self) -> Any: ...

    def network(self) -> Any: ...

    def keyvault(self) -> Any: ...

    def authorization(self) -> Any: ...

    def keys(self, vault: str) -> Any: ...

    def run(
        self,
        operation: str,
        resource: str,
        fn: Callable[[], T],
        on_retry: Callable[[int, int, str, float], None],
    ) -> T: ...

    def snapshot(self) -> Snapshot: ...

    def assess(self, snapshot: Snapshot) -> Assessment: ...

    def admin(self, method: str, path: str, body: Mapping[str, Any] | None) -> Any: ...


@dataclass(frozen=True)
class RegisteredKey:
    name: str
    uri: str
    thumbprint: str | None


class Estate:
    """One mesh, its config, and the calls the runbooks make on it."""

    def __init__(self, name: str, mesh: Mesh, access: Access, simulator: bool) -> None:
        self.name = name
        self.mesh = mesh
        self.access = access
        self.simulator = simulator

    # -- names -------------------------------------------------------------

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.mesh.regions)

    def other(self, region: str) -> str:
        return next(r for r in self.regions if r != region)

    def instance(self, region: str) -> str:
        return self.mesh.regions[region].instance

    def vault(self, region: str) -> str:
        return self.mesh.regions[region].vault

    def group(self, region: str) -> str:
        return self.mesh.regions[region].resource_group

    def nsg(self, region: str) -> str:
        return self.mesh.regions[region].network_security_group

    def vault_region(self, vault: str) -> str:
        region = self.mesh.region_of_vault(vault)
        if region is None:
            raise LookupError(f"vault {vault} is not in mesh {self.name}")
        return region

    def instance_id(self, region: str) -> str:
        return (
            f"/subscriptions/{self.mesh.subscription_id}/resourceGroups/"
            f"{self.group(region)}/providers/Microsoft.Sql/managedInstances/"
            f"{self.instance(region)}"
        )

    def vault_id(self, region: str) -> str:
        return (
            f"/subscriptions/{self.mesh.subscription_id}/resourceGroups/"
            f"{self.group(region)}/providers/Microsoft.KeyVault/vaults/"
            f"{self.vault(region)}"
        )

    def fog_id(self, region: str) -> str:
        return (
            f"/subscriptions/{self.mesh.subscription_id}/resourceGroups/"
            f"{self.group(region)}/providers/Microsoft.Sql/locations/{region}/"
            f"instanceFailoverGroups/{self.mesh.failover_group}"
        )

    # -- plumbing ----------------------------------------------------------

    def _call(
        self,
        ctx: RunContext,
        operation: str,
        resource: str,
        fn: Callable[[], T],
    ) -> T:
        def on_retry(attempt: int, most: int, reason: str, wait: float) -> None:
            ctx.retried(operation, resource, attempt, most, reason, wait)

        return ctx.call(
            operation,
            resource,
            lambda: self.access.run(operation, resource, fn, on_retry),
        )

    # -- looking -----------------------------------------------------------

    def look(self, ctx: RunContext) -> tuple[Snapshot, Assessment]:
        snapshot = ctx.call("mesh.probe", f"mesh {self.name}", self.access.snapshot)
        return snapshot, self.access.assess(snapshot)

    def managed_instance(self, ctx: RunContext, region: str) -> Any:
        sql = self.access.sql()
        return self._call(
            ctx,
            "sql.managed_instances.get",
            self.instance_id(region),
            lambda: sql.managed_instances.get(
                self.group(region), self.instance(region)
            ),
        )

    def registered_keys(self, ctx: RunContext, region: str) -> list[RegisteredKey]:
        sql = self.access.sql()
        items = self._call(
            ctx,
            "sql.managed_instance_keys.list_by_instance",
            self.instance_id(region),
            lambda: list(
                sql.managed_instance_keys.list_by_instance(
                    self.group(region), self.instance(region)
                )
            ),
        )
        found = []
        for item in items:
            properties = item.get("properties") or {}
            if properties.get("uri"):
                found.append(
                    RegisteredKey(
                        item["name"], properties["uri"], properties.get("thumbprint")
                    )
                )
        return found

    def protector(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        sql = self.access.sql()
        result = self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.get",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: sql.managed_instance_encryption_protectors.get(
                self.group(region), self.instance(region), "current"
            ),
        )
        return dict(result.get("properties") or {})

    def vault_properties(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        kv = self.access.keyvault()
        result = self._call(
            ctx,
            "keyvault.vaults.get",
            self.vault_id(region),
            lambda: kv.vaults.get(self.group(region), self.vault(region)),
        )
        return result.as_dict().get("properties", {})  # type: ignore[no-any-return]

    def vault_key(self, ctx: RunContext, vault: str, name: str) -> Any | None:
        """The latest version of a key, or None when the vault has no such key."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.access.keys(vault)
        try:
            return self._call(
                ctx,
                "keys.get_key",
                f"{vault}/keys/{name}",
                lambda: client.get_key(name),
            )
        except ResourceNotFoundError:
            return None

    def key_versions(self, ctx: RunContext, vault: str, name: str) -> list[Any]:
        client = self.access.keys(vault)
        return self._call(
            ctx,
            "keys.list_properties_of_key_versions",
            f"{vault}/keys/{name}",
            lambda: list(client.list_properties_of_key_versions(name)),
        )

    def failover_group(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        sql = self.access.sql()
        result = self._call(
            ctx,
            "sql.instance_failover_groups.get",
            self.fog_id(region),
            lambda: sql.instance_failover_groups.get(
                self.group(region), region, self.mesh.failover_group
            ),
        )
        return dict(result.get("properties") or {})

    def primary_region(self, ctx: RunContext) -> str:
        """The region whose instance holds the primary role now."""
        for region in self.regions:
            try:
                role = self.failover_group(ctx, region).get("replicationRole")
            except Exception:  # the group may be read from either side
                continue
            if role == "Primary":
                return region
            if role == "Secondary":
                return self.other(region)
        raise LookupError(f"failover group {self.mesh.failover_group} not found")

    def database_states(self, ctx: RunContext, region: str) -> dict[str, str]:
        sql = self.access.sql()
        items = self._call(
            ctx,
            "sql.managed_databases.list_by_instance",
            self.instance_id(region),
            lambda: list(
                sql.managed_databases.list_by_instance(
                    self.group(region), self.instance(region)
                )
            ),
        )
        return {i["name"]: (i.get("properties") or {}).get("status", "") for i in items}

    def security_rule(self, ctx: RunContext, region: str, rule: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        net = self.access.network()
        try:
            return self._call(
                ctx,
                "network.security_rules.get",
                f"{self.nsg(region)}/securityRules/{rule}",
                lambda: net.security_rules.get(
                    self.group(region), self.nsg(region), rule
                ),
            )
        except ResourceNotFoundError:
            return None

    # -- changing ----------------------------------------------------------

    def enable_identity(self, ctx: RunContext, region: str) -> None:
        sql = self.access.sql()
        self._call(
            ctx,
            "sql.managed_instances.begin_update",
            self.instance_id(region),
            lambda: sql.managed_instances.begin_update(
                self.group(region),
                self.instance(region),
                {"identity": {"type": "SystemAssigned"}},
            ).result(),
        )

    def protect_vault(self, ctx: RunContext, region: str) -> None:
        kv = self.access.keyvault()
        self._call(
            ctx,
            "keyvault.vaults.update",
            self.vault_id(region),
            lambda: kv.vaults.update(
                self.group(region),
                self.vault(region),
                {
                    "properties": {
                        "enableSoftDelete": True,
                        "enablePurgeProtection": True,
                    }
                },
            ),
        )

    def grant_role(self, ctx: RunContext, vault_region: str, principal: str) -> None:
        auth = self.access.authorization()
        scope = self.vault_id(vault_region)
        role = (
            f"/subscriptions/{self.mesh.subscription_id}/providers/"
            "Microsoft.Authorization/roleDefinitions/"
            f"{ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER}"
        )
        # A stable name, so a retried or resumed grant finds its own assignment.
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{principal}|{role}"))
        self._call(
            ctx,
            "authorization.role_assignments.create",
            f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            lambda: auth.role_assignments.create(
                scope,
                name,
                {
                    "properties": {
                        "roleDefinitionId": role,
                        "principalId": principal,
                        "principalType": "ServicePrincipal",
                    }
                },
            ),
        )

    def grant_policy(self, ctx: RunContext, vault_region: str, principal: str) -> None:
        kv = self.access.keyvault()
        self._call(
            ctx,
            "keyvault.vaults.update_access_policy",
            self.vault_id(vault_region) + "/accessPolicies/add",
            lambda: kv.vaults.update_access_policy(
                self.group(vault_region),
                self.vault(vault_region),
                "add",
                {
                    "properties": {
                        "accessPolicies": [
                            {
                                "tenantId": self.mesh.tenant_id,
                                "objectId": principal,
                                "permissions": {
                                    "keys": ["get", "wrapKey", "unwrapKey"]
                                },
                            }
                        ]
                    }
                },
            ),
        )

    def create_key(self, ctx: RunContext, vault: str, name: str, size: int) -> Any:
        client = self.access.keys(vault)
        return self._call(
            ctx,
            "keys.create_rsa_key",
            f"{vault}/keys/{name}",
            lambda: client.create_rsa_key(name, size=size),
        )

    def copy_key(self, ctx: RunContext, source: str, target: str, name: str) -> Any:
        """Backup from `source`, restore into `target`; the blob stays in memory."""
        source_client = self.access.keys(source)
        target_client = self.access.keys(target)
        blob = self._call(
            ctx,
            "keys.backup_key",
            f"{source}/keys/{name}",
            lambda: source_client.backup_key(name),
        )
        return self._call(
            ctx,
            "keys.restore_key_backup",
            f"{target}/keys/{name}",
            lambda: target_client.restore_key_backup(blob),
        )

    def import_key(
        self,
        ctx: RunContext,
        vault: str,
        name: str,
        private_key: rsa.RSAPrivateKey,
        hsm: bool,
    ) -> Any:
        from azure.keyvault.keys import JsonWebKey

        numbers = private_key.private_numbers()
        public = numbers.public_numbers
        jwk = JsonWebKey(
            kty="RSA-HSM" if hsm else "RSA",
            key_ops=["wrapKey", "unwrapKey", "encrypt", "decrypt", "sign", "verify"],
            n=_bytes(public.n),
            e=_bytes(public.e),
            d=_bytes(numbers.d),
            p=_bytes(numbers.p),
            q=_bytes(numbers.q),
            dp=_bytes(numbers.dmp1),
            dq=_bytes(numbers.dmq1),
            qi=_bytes(numbers.iqmp),
        )
        client = self.access.keys(vault)
        return self._call(
            ctx,
            "keys.import_key",
            f"{vault}/keys/{name}",
            lambda: client.import_key(name, jwk, hardware_protected=hsm),
        )

    def register_key(self, ctx: RunContext, region: str, uri: str) -> str:
        """Register a vault key on an instance; returns its server key name."""
        parsed = parse_key_uri(uri)
        vault = self.vault_name_of(uri)
        name = server_key_name(vault, parsed.name, parsed.version or "")
        sql = self.access.sql()
        self._call(
            ctx,
            "sql.managed_instance_keys.begin_create_or_update",
            f"{self.instance_id(region)}/keys/{name}",
            lambda: sql.managed_instance_keys.begin_create_or_update(
                self.group(region),
                self.instance(region),
                name,
                {"properties": {"serverKeyType": "AzureKeyVault", "uri": uri}},
            ).result(),
        )
        return name

    def set_protector(
        self, ctx: RunContext, region: str, key_name: str, auto_rotation: bool
    ) -> None:
        sql = self.access.sql()
        self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.begin_create_or_update",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: sql.managed_instance_encryption_protectors.begin_create_or_update(
                self.group(region),
                self.instance(region),
                "current",
                {
                    "properties": {
                        "serverKeyType": "AzureKeyVault",
                        "serverKeyName": key_name,
                        "autoRotationEnabled": auto_rotation,
                    }
                },
            ).result(),
        )

    def revalidate(self, ctx: RunContext, region: str) -> None:
        sql = self.access.sql()
        self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.begin_revalidate",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: sql.managed_instance_encryption_protectors.begin_revalidate(
                self.group(region), self.instance(region), "current"
            ).result(),
        )

    def add_deny_rule(
        self, ctx: RunContext, region: str, rule: str, address: str, priority: int
    ) -> None:
        net = self.access.network()
        body = {
            "properties": {
                "description": "tdemesh vault-loss drill: cuts the key path",
                "priority": priority,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": f"{address}/32",
                "destinationPortRange": "443",
            }
        }
        self._call(
            ctx,
            "network.security_rules.begin_create_or_update",
            f"{self.nsg(region)}/securityRules/{rule}",
            lambda: net.security_rules.begin_create_or_update(
                self.group(region), self.nsg(region), rule, body
            ).result(),
        )

    def delete_rule(self, ctx: RunContext, region: str, rule: str) -> None:
        net = self.access.network()
        self._call(
            ctx,
            "network.security_rules.begin_delete",
            f"{self.nsg(region)}/securityRules/{rule}",
            lambda: net.security_rules.begin_delete(
                self.group(region), self.nsg(region), rule
            ).result(),
        )

    def failover(self, ctx: RunContext, to_region: str) -> None:
        """A planned failover, asked of the instance that becomes primary."""
        sql = self.access.sql()
        self._call(
            ctx,
            "sql.instance_failover_groups.begin_failover",
            self.fog_id(to_region),
            lambda: sql.instance_failover_groups.begin_failover(
                self.group(to_region), to_region, self.mesh.failover_group
            ).result(),
        )

    # -- simulator-only ----------------------------------------------------

    def vault_outage(self, ctx: RunContext, vault: str, on: bool) -> None:
        if not self.simulator:
            raise RuntimeError("a vault outage exists only on the simulator")
        method = "POST" if on else "DELETE"
        self._call(
            ctx,
            f"simulator.outages.{method.lower()}",
            vault,
            lambda: self.access.admin(method, "outages", {"vault": vault}),
        )

    def outages(self, ctx: RunContext) -> list[str]:
        if not self.simulator:
            return []
        state = self._call(
            ctx,
            "simulator.state.get",
            "simulator",
            lambda: self.access.admin("GET", "state", None),
        )
        raw = state.get("outages", []) if isinstance(state, Mapping) else []
        return [str(o.get("vault_name", o.get("vault", ""))) for o in raw]

    def pass_time(self, ctx: RunContext, seconds: float, why: str) -> None:
        """Let `seconds` of Azure time pass: the simulator's clock jumps; on
        Azure the run waits, saying what it waits for."""
        ctx.log(f"waiting {seconds:.0f}s: {why}")
        if self.simulator:
            self._call(
                ctx,
                "simulator.clock.advance",
                "simulator",
                lambda: self.access.admin(
                    "POST", "clock", {"advance_seconds": seconds}
                ),
            )
        else:
            time.sleep(seconds)

    # -- helpers -----------------------------------------------------------

    def vault_name_of(self, uri: str) -> str:
        """The vault a key id points at, by the mesh's vault URLs."""
        endpoints = self.mesh.endpoints()
        name = endpoints.vault_name_of(uri)
        if name:
            return name
        host = parse_key_uri(uri).host
        return host.split(".", 1)[0]


def _bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def thumbprint_of(public_key: rsa.RSAPublicKey) -> str:
    """SHA-1 over the DER SubjectPublicKeyInfo, as Azure SQL shows it."""
    import hashlib

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der).hexdigest().upper()


def thumbprint_of_key(key: Any) -> str | None:
    """The thumbprint of a KeyVaultKey's public part (n, e)."""
    jwk = getattr(key, "key", None)
    n, e = getattr(jwk, "n", None), getattr(jwk, "e", None)
    if not n or not e:
        return None
    public = rsa.RSAPublicNumbers(
        int.from_bytes(e, "big"), int.from_bytes(n, "big")
    ).public_key()
    return thumbprint_of(public)
