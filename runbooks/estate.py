"""The estate as the runbooks act on it: every Azure call they make.

Each method is one operation (or one read-back) on one resource, made
through the mesh Gateway, which owns retries; the Gateway's retry events are
forwarded to the run, so the operator sees each retry as it happens. Every
call is observed and journaled under the step that made it. Nothing here
decides anything; the runbook modules do.

The simulator is reached exactly like Azure. The two exceptions are named:
`pass_time` advances the simulator's clock instead of sleeping, and
`vault_outage` uses the simulator's admin API (an outage has no ARM call).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.assessment import Assessment
from mesh.config import Mesh
from mesh.errors import NotFound
from mesh.gateway import Gateway
from mesh.permissions import (
    ROLE_KEY_PERMISSIONS,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    TDE_PERMISSIONS,
    role_guid,
)
from mesh.retry import RetryEvent
from mesh.snapshot import KeyVersion, Snapshot
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

Probe = Callable[[], tuple[Snapshot, Assessment]]
Admin = Callable[[str, str, Mapping[str, Any] | None], Any]


@dataclass(frozen=True)
class RegisteredKey:
    name: str
    uri: str
    thumbprint: str | None


class _RetryRelay:
    """The Gateway's retry observer: passes each retry to the running step."""

    def __init__(self, estate: Estate, previous: Any) -> None:
        self._estate = estate
        self._previous = previous  # whoever watched the Gateway before

    def retrying(self, event: RetryEvent) -> None:
        if self._previous is not None:
            self._previous.retrying(event)
        ctx = self._estate.current
        if ctx is not None:
            ctx.retried(
                event.operation,
                event.resource,
                event.attempt,
                event.attempts,
                event.reason,
                event.wait_seconds,
            )


class Estate:
    """One mesh, its config, and the calls the runbooks make on it."""

    def __init__(
        self,
        name: str,
        mesh: Mesh,
        gateway: Gateway,
        probe: Probe,
        admin: Admin | None = None,
    ) -> None:
        self.name = name
        self.mesh = mesh
        self.gateway = gateway
        self._probe = probe
        self._admin = admin
        self.current: RunContext | None = None
        self._request_ids = threading.local()
        gateway.observer = _RetryRelay(self, gateway.observer)
        _hook_request_ids(gateway, self._request_ids)

    def snapshot(self) -> Snapshot:
        """A fresh probe, for viewers outside a run (not journaled)."""
        return self._probe()[0]

    @property
    def simulator(self) -> bool:
        return self.gateway.endpoints.is_simulator

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
        self, ctx: RunContext, operation: str, resource: str, fn: Callable[[], T]
    ) -> T:
        def traced() -> T:
            self._request_ids.last = None
            try:
                return fn()
            finally:
                ctx.request_id(getattr(self._request_ids, "last", None))

        # Retries reach the run only while one of its calls is under way, so
        # a viewer's probe on the same Gateway later is not counted in it.
        outer, self.current = self.current, ctx
        try:
            return ctx.call(operation, resource, traced)
        finally:
            self.current = outer

    # -- looking -----------------------------------------------------------

    def look(self, ctx: RunContext) -> tuple[Snapshot, Assessment]:
        """A fresh probe of the whole mesh and its assessment."""
        return self._call(ctx, "mesh.probe", f"mesh {self.name}", self._probe)

    def managed_instance(self, ctx: RunContext, region: str) -> dict[str, Any]:
        return self._call(
            ctx,
            "sql.managed_instances.get",
            self.instance_id(region),
            lambda: self.gateway.get_instance(
                self.group(region), self.instance(region)
            ),
        )

    def principal_id(self, ctx: RunContext, region: str) -> str | None:
        identity = self.managed_instance(ctx, region).get("identity") or {}
        found = identity.get("principalId")
        return str(found) if found else None

    def registered_keys(self, ctx: RunContext, region: str) -> list[RegisteredKey]:
        items = self._call(
            ctx,
            "sql.managed_instance_keys.list_by_instance",
            self.instance_id(region),
            lambda: self.gateway.list_instance_keys(
                self.group(region), self.instance(region)
            ),
        )
        found = []
        for item in items:
            properties = item.get("properties") or {}
            if properties.get("uri"):
                found.append(
                    RegisteredKey(
                        str(item.get("name")),
                        str(properties["uri"]),
                        properties.get("thumbprint"),
                    )
                )
        return found

    def protector(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        result = self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.get",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: self.gateway.get_protector(
                self.group(region), self.instance(region)
            ),
        )
        return dict(result.get("properties") or {})

    def vault_properties(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        result = self._call(
            ctx,
            "keyvault.vaults.get",
            self.vault_id(region),
            lambda: self.gateway.get_vault(self.group(region), self.vault(region)),
        )
        return dict(result.get("properties") or {})

    def vault_key(self, ctx: RunContext, vault: str, name: str) -> KeyVersion | None:
        """The latest version of a key, or None when the vault has no such key."""
        try:
            return self._call(
                ctx,
                "keys.get_key",
                f"{vault}/keys/{name}",
                lambda: self.gateway.get_key(vault, name),
            )
        except NotFound:
            return None

    def unwrap_check(self, ctx: RunContext, vault: str, kid: str) -> None:
        """Wrap a random value and have the vault unwrap it: the copy works."""
        self._call(
            ctx,
            "crypto.wrap_key + crypto.unwrap_key",
            f"{vault}/keys/{kid.rstrip('/').split('/keys/', 1)[-1]}",
            lambda: self.gateway.unwrap_check(kid),
        )

    def key_versions(self, ctx: RunContext, vault: str, name: str) -> list[KeyVersion]:
        return self._call(
            ctx,
            "keys.list_properties_of_key_versions",
            f"{vault}/keys/{name}",
            lambda: self.gateway.list_key_versions(vault, name),
        )

    def failover_group(self, ctx: RunContext, region: str) -> Mapping[str, Any]:
        result = self._call(
            ctx,
            "sql.instance_failover_groups.get",
            self.fog_id(region),
            lambda: self.gateway.get_failover_group(
                self.group(region), region, self.mesh.failover_group
            ),
        )
        return dict(result.get("properties") or {})

    def primary_region(self, ctx: RunContext) -> str:
        """The region whose instance holds the primary role now."""
        for region in self.regions:
            try:
                role = self.failover_group(ctx, region).get("replicationRole")
            except NotFound:
                continue
            if role == "Primary":
                return region
            if role == "Secondary":
                return self.other(region)
        raise LookupError(f"failover group {self.mesh.failover_group} not found")

    def database_states(self, ctx: RunContext, region: str) -> dict[str, str]:
        items = self._call(
            ctx,
            "sql.managed_databases.list_by_instance",
            self.instance_id(region),
            lambda: self.gateway.list_databases(
                self.group(region), self.instance(region)
            ),
        )
        return {
            str(i.get("name")): str((i.get("properties") or {}).get("status", ""))
            for i in items
        }

    def security_rule(
        self, ctx: RunContext, region: str, rule: str
    ) -> Mapping[str, Any] | None:
        group = self._call(
            ctx,
            "network.network_security_groups.get",
            f"{self.nsg(region)}",
            lambda: self.gateway.get_network_security_group(
                self.group(region), self.nsg(region)
            ),
        )
        for item in (group.get("properties") or {}).get("securityRules") or []:
            if str(item.get("name", "")).lower() == rule.lower():
                return dict(item)
        return None

    def missing_permissions(
        self, ctx: RunContext, vault_region: str, principal: str
    ) -> tuple[str, ...]:
        """Which of get, wrapKey, unwrapKey `principal` lacks on the vault,
        read from its role assignments or access policies, as it uses."""
        properties = self.vault_properties(ctx, vault_region)
        granted: set[str] = set()
        if properties.get("enableRbacAuthorization"):
            scope = self.vault_id(vault_region)
            assignments = self._call(
                ctx,
                "authorization.role_assignments.list_for_scope",
                scope,
                lambda: self.gateway.list_role_assignments(scope),
            )
            for item in assignments:
                props = item.get("properties") or {}
                if str(props.get("principalId", "")).lower() != principal.lower():
                    continue
                role = role_guid(str(props.get("roleDefinitionId", "")))
                granted |= ROLE_KEY_PERMISSIONS.get(role, frozenset())
        else:
            for policy in properties.get("accessPolicies") or []:
                if str(policy.get("objectId", "")).lower() == principal.lower():
                    keys = (policy.get("permissions") or {}).get("keys") or []
                    granted |= {str(k).lower() for k in keys}
        if "all" in granted:
            return ()
        return tuple(p for p in TDE_PERMISSIONS if p.lower() not in granted)

    # -- changing ----------------------------------------------------------

    def enable_identity(self, ctx: RunContext, region: str) -> None:
        self._call(
            ctx,
            "sql.managed_instances.begin_update",
            self.instance_id(region),
            lambda: self.gateway.set_instance_identity(
                self.group(region), self.instance(region)
            ),
        )

    def protect_vault(self, ctx: RunContext, region: str) -> None:
        self._call(
            ctx,
            "keyvault.vaults.update",
            self.vault_id(region),
            lambda: self.gateway.update_vault(
                self.group(region),
                self.vault(region),
                {"enableSoftDelete": True, "enablePurgeProtection": True},
            ),
        )

    def grant_role(self, ctx: RunContext, vault_region: str, principal: str) -> None:
        scope = self.vault_id(vault_region)
        role = ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
        # A stable name, so a retried or resumed grant finds its own assignment.
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{principal}|{role}"))
        self._call(
            ctx,
            "authorization.role_assignments.create",
            f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            lambda: self.gateway.create_role_assignment(scope, name, role, principal),
        )

    def grant_policy(self, ctx: RunContext, vault_region: str, principal: str) -> None:
        self._call(
            ctx,
            "keyvault.vaults.update_access_policy",
            self.vault_id(vault_region) + "/accessPolicies/add",
            lambda: self.gateway.set_access_policy(
                self.group(vault_region),
                self.vault(vault_region),
                principal,
                ["get", "wrapKey", "unwrapKey"],
            ),
        )

    def create_key(
        self, ctx: RunContext, vault: str, name: str, size: int
    ) -> KeyVersion:
        return self._call(
            ctx,
            "keys.create_rsa_key",
            f"{vault}/keys/{name}",
            lambda: self.gateway.create_key(vault, name, size=size),
        )

    def copy_key(
        self, ctx: RunContext, source: str, target: str, name: str
    ) -> KeyVersion:
        """Backup from `source`, restore into `target`; the blob stays in memory."""
        blob = self._call(
            ctx,
            "keys.backup_key",
            f"{source}/keys/{name}",
            lambda: self.gateway.backup_key(source, name),
        )
        return self._call(
            ctx,
            "keys.restore_key_backup",
            f"{target}/keys/{name}",
            lambda: self.gateway.restore_key(target, blob),
        )

    def import_key(
        self,
        ctx: RunContext,
        vault: str,
        name: str,
        private_key: rsa.RSAPrivateKey,
        hsm: bool,
    ) -> KeyVersion:
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
        return self._call(
            ctx,
            "keys.import_key",
            f"{vault}/keys/{name}",
            lambda: self.gateway.import_key(vault, name, jwk, hardware_protected=hsm),
        )

    def server_key_name(self, uri: str) -> str:
        return self.gateway.server_key_name(uri)

    def register_key(self, ctx: RunContext, region: str, uri: str) -> None:
        """Register a vault key on an instance as `{vault}_{key}_{version}`."""
        name = self.server_key_name(uri)
        self._call(
            ctx,
            "sql.managed_instance_keys.begin_create_or_update",
            f"{self.instance_id(region)}/keys/{name}",
            lambda: self.gateway.register_instance_key(
                self.group(region), self.instance(region), uri
            ),
        )

    def set_protector(
        self, ctx: RunContext, region: str, key_name: str, auto_rotation: bool
    ) -> None:
        self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.begin_create_or_update",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: self.gateway.set_protector(
                self.group(region),
                self.instance(region),
                key_name,
                auto_rotation=auto_rotation,
            ),
        )

    def revalidate(self, ctx: RunContext, region: str) -> None:
        self._call(
            ctx,
            "sql.managed_instance_encryption_protectors.begin_revalidate",
            self.instance_id(region) + "/encryptionProtector/current",
            lambda: self.gateway.revalidate_protector(
                self.group(region), self.instance(region)
            ),
        )

    def add_deny_rule(
        self, ctx: RunContext, region: str, rule: str, address: str, priority: int
    ) -> None:
        properties = {
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
        self._call(
            ctx,
            "network.security_rules.begin_create_or_update",
            f"{self.nsg(region)}/securityRules/{rule}",
            lambda: self.gateway.create_security_rule(
                self.group(region), self.nsg(region), rule, properties
            ),
        )

    def delete_rule(self, ctx: RunContext, region: str, rule: str) -> None:
        self._call(
            ctx,
            "network.security_rules.begin_delete",
            f"{self.nsg(region)}/securityRules/{rule}",
            lambda: self.gateway.delete_security_rule(
                self.group(region), self.nsg(region), rule
            ),
        )

    def failover(self, ctx: RunContext, to_region: str) -> None:
        """A planned failover, asked of the instance that becomes primary."""
        self._call(
            ctx,
            "sql.instance_failover_groups.begin_failover",
            self.fog_id(to_region),
            lambda: self.gateway.failover(
                self.group(to_region), to_region, self.mesh.failover_group
            ),
        )

    # -- simulator-only ----------------------------------------------------

    def _admin_call(self, method: str, path: str, body: Any = None) -> Any:
        if self._admin is None or not self.simulator:
            raise RuntimeError("this exists only on the simulator")
        return self._admin(method, path, body)

    def vault_outage(self, ctx: RunContext, vault: str, on: bool) -> None:
        if on:
            self._call(
                ctx,
                "simulator.outages.post",
                vault,
                lambda: self._admin_call("POST", "outages", {"vault": vault}),
            )
        else:
            self._call(
                ctx,
                "simulator.outages.delete",
                vault,
                lambda: self._admin_call("DELETE", f"outages/{vault}"),
            )

    def outages(self, ctx: RunContext) -> list[str]:
        if not self.simulator:
            return []
        listed = self._call(
            ctx,
            "simulator.outages.get",
            "simulator",
            lambda: self._admin_call("GET", "outages"),
        )
        raw = listed.get("value", []) if isinstance(listed, Mapping) else []
        return [str(o.get("vault", "")) for o in raw]

    def azure_now(self, ctx: RunContext) -> datetime:
        """Azure's clock: the simulated one on the simulator (its HTTP Date
        headers carry the real time), this machine's UTC clock on Azure."""
        if not self.simulator:
            return datetime.now(UTC)
        clock = self._call(
            ctx,
            "simulator.clock.get",
            "simulator",
            lambda: self._admin_call("GET", "clock"),
        )
        return datetime.fromisoformat(str(clock["now"]))

    def pass_time(self, ctx: RunContext, seconds: float, why: str) -> None:
        """Let `seconds` of Azure time pass: the simulator's clock jumps; on
        Azure the run waits, saying what it waits for."""
        ctx.log(f"waiting {seconds:.0f}s: {why}")
        if self.simulator:
            self._call(
                ctx,
                "simulator.clock.advance",
                "simulator",
                lambda: self._admin_call("POST", "clock", {"advance_seconds": seconds}),
            )
        else:
            time.sleep(seconds)


def _hook_request_ids(gateway: Gateway, store: threading.local) -> None:
    """Note Azure's request id of each answer (in the calling thread), so
    the journal can name it for Azure support."""

    def listener(headers: Mapping[str, str]) -> None:
        found = headers.get("x-ms-request-id") or headers.get(
            "x-ms-correlation-request-id"
        )
        if found:
            store.last = str(found)

    gateway.add_response_listener(listener)


def _bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def thumbprint_of(public_key: rsa.RSAPublicKey) -> str:
    """SHA-1 over the DER SubjectPublicKeyInfo, as Azure SQL shows it."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha1(der).hexdigest().upper()
