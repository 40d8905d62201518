"""probe(gateway, mesh) -> Snapshot: a read-only, concurrent look at a mesh.

The reads run on a thread pool in waves, because some reads need the
answers of others: first everything the config names (instances, their
protectors, keys and databases, the failover group, vaults, who may use
them, endpoints, NSGs, each vault's key list); then, as soon as an
instance's keys and protector are known, the versions of every key name it
mentions in both vaults and the versions it mentions; last, any other
version whose material is still unknown (none, in a tidy mesh). Wall time is
therefore two or three calls' latency, not the sum.

Every read goes through a memo, so no resource is read twice in one probe.
A read that fails becomes a `ReadError` in the part it belongs to: the probe
itself does not fail.

Azure's clock, not this machine's, is the time the assessment measures
deadlines against: the probe keeps the `Date` header of every answer its own
reads got and records their median as the Snapshot's `azure_time`. On the
simulator that is the simulated clock, advanced or scaled; the median stays
right when one front door's clock is off.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from mesh.config import Mesh, Region
from mesh.errors import GatewayError
from mesh.facts import (
    access_policies_from,
    database_from,
    endpoint_addresses,
    endpoint_connections_from,
    endpoint_target,
    identity_from,
    props,
    protector_from,
    registered_key_from,
    role_assignment_from,
    security_rule_from,
)
from mesh.gateway import Gateway, azure_date
from mesh.keyuri import KeyUriError, parse_key_uri
from mesh.snapshot import (
    Endpoint,
    FailoverGroup,
    Instance,
    KeyVersion,
    NetworkSecurityGroup,
    ReadError,
    Snapshot,
    Vault,
    VaultKey,
)

T = TypeVar("T")
WORKERS = 24


@dataclass(frozen=True)
class Read(Generic[T]):
    value: T | None
    error: ReadError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_found(self) -> bool:
        return self.error is not None and self.error.status == 404


class _Reader:
    """Runs reads on the pool, at most once per (operation, resource)."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._futures: dict[tuple[str, str], Future[Read[Any]]] = {}

    def submit(
        self, operation: str, resource: str, fn: Callable[[], T]
    ) -> Future[Read[T]]:
        key = (operation, resource.lower())
        with self._lock:
            if key not in self._futures:
                self._futures[key] = self._pool.submit(
                    _guarded, operation, resource, fn
                )
            return self._futures[key]


def _guarded(operation: str, resource: str, fn: Callable[[], T]) -> Read[T]:
    try:
        return Read(fn(), None)
    except GatewayError as error:
        return Read(
            None,
            ReadError(
                resource=resource,
                operation=operation,
                message=error.what,
                status=error.status,
                code=error.code,
                fix=error.fix,
            ),
        )
    except Exception as error:  # noqa: BLE001 - a failed part is a fact
        return Read(
            None,
            ReadError(resource, operation, f"{type(error).__name__}: {error}"),
        )


class _AzureClock:
    """The `Date` of every answer to this probe's reads, and their median.

    The gateway may be shared (a runbook and the console's refresh use one),
    so only answers heard on this probe's own pool threads count."""

    def __init__(self) -> None:
        self._mine = threading.local()
        self._lock = threading.Lock()
        self._dates: list[datetime] = []

    def join(self) -> None:
        """Run on each pool thread as it starts."""
        self._mine.probing = True

    def hear(self, headers: Mapping[str, str]) -> None:
        if not getattr(self._mine, "probing", False):
            return
        moment = azure_date(headers)
        if moment is not None:
            with self._lock:
                self._dates.append(moment)

    def reading(self) -> datetime | None:
        with self._lock:
            return statistics.median_low(self._dates) if self._dates else None


def probe(
    gateway: Gateway,
    mesh_name: str,
    mesh: Mesh,
    *,
    workers: int = WORKERS,
) -> Snapshot:
    taken_at = datetime.now(UTC)
    started = time.monotonic()
    calls_before = gateway.calls
    clock = _AzureClock()
    gateway.add_response_listener(clock.hear)
    try:
        with ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="probe", initializer=clock.join
        ) as pool:
            reader = _Reader(pool)
            first = _first_wave(gateway, reader, mesh)
            subnets = _SubnetReads(gateway, reader, first)
            keys = _key_waves(gateway, reader, mesh, first)
            snapshot = _assemble(mesh_name, mesh, first, keys, gateway)
            snapshot = _with_subnet_prefixes(snapshot, subnets.results())
    finally:
        gateway.remove_response_listener(clock.hear)
    return Snapshot(
        mesh=mesh_name,
        cloud=mesh.cloud,
        subscription_id=mesh.subscription_id,
        taken_at=taken_at,
        regions=tuple(mesh.regions),
        instances=snapshot.instances,
        vaults=snapshot.vaults,
        endpoints=snapshot.endpoints,
        network_security_groups=snapshot.network_security_groups,
        failover_group=snapshot.failover_group,
        azure_time=clock.reading(),
        duration_seconds=time.monotonic() - started,
        calls=gateway.calls - calls_before,
    )


# --------------------------------------------------------------------------
# Wave 1: everything the config names


@dataclass
class _RegionReads:
    instance: Future[Read[dict[str, Any]]]
    protector: Future[Read[dict[str, Any]]]
    keys: Future[Read[list[dict[str, Any]]]]
    databases: Future[Read[list[dict[str, Any]]]]
    nsg: Future[Read[dict[str, Any]]]
    endpoints: dict[str, Future[Read[dict[str, Any]]]]
    vault: Future[Read[dict[str, Any]]]
    role_assignments: Future[Read[list[dict[str, Any]]]]
    key_names: Future[Read[list[str]]]


@dataclass
class _FirstWave:
    regions: dict[str, _RegionReads]
    failover_group: Future[Read[dict[str, Any]]]


def vault_resource_id(subscription: str, rg: str, vault: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/"
        f"Microsoft.KeyVault/vaults/{vault}"
    )


def _first_wave(gateway: Gateway, reader: _Reader, mesh: Mesh) -> _FirstWave:
    # The reads others wait on go first: the key waves wait on each
    # instance's keys and protector, the subnet read on the instance.
    for region in mesh.regions.values():
        rg, mi = region.resource_group, region.instance
        reader.submit(
            "sql.managed_instances.get",
            f"{rg}/{mi}",
            _bind(gateway.get_instance, rg, mi),
        )
        reader.submit(
            "sql.instance_keys.list",
            f"{rg}/{mi}",
            _bind(gateway.list_instance_keys, rg, mi),
        )
        reader.submit(
            "sql.encryption_protectors.get",
            f"{rg}/{mi}",
            _bind(gateway.get_protector, rg, mi),
        )
    regions = {}
    for name, region in mesh.regions.items():
        regions[name] = _region_reads(gateway, reader, mesh, region)
    first_region, first = next(iter(mesh.regions.items()))
    group = reader.submit(
        "sql.failover_groups.get",
        f"{first.resource_group}/{first_region}/{mesh.failover_group}",
        lambda: gateway.get_failover_group(
            first.resource_group, first_region, mesh.failover_group
        ),
    )
    return _FirstWave(regions, group)


def _region_reads(
    gateway: Gateway, reader: _Reader, mesh: Mesh, region: Region
) -> _RegionReads:
    rg, mi = region.resource_group, region.instance
    scope = vault_resource_id(mesh.subscription_id, rg, region.vault)
    return _RegionReads(
        instance=reader.submit(
            "sql.managed_instances.get",
            f"{rg}/{mi}",
            lambda: gateway.get_instance(rg, mi),
        ),
        protector=reader.submit(
            "sql.encryption_protectors.get",
            f"{rg}/{mi}",
            lambda: gateway.get_protector(rg, mi),
        ),
        keys=reader.submit(
            "sql.instance_keys.list",
            f"{rg}/{mi}",
            lambda: gateway.list_instance_keys(rg, mi),
        ),
        databases=reader.submit(
            "sql.databases.list", f"{rg}/{mi}", lambda: gateway.list_databases(rg, mi)
        ),
        nsg=reader.submit(
            "network.security_groups.get",
            f"{rg}/{region.network_security_group}",
            lambda: gateway.get_network_security_group(
                rg, region.network_security_group
            ),
        ),
        endpoints={
            vault: reader.submit(
                "network.private_endpoints.get",
                f"{rg}/{endpoint}",
                _bind(gateway.get_private_endpoint, rg, endpoint),
            )
            for vault, endpoint in region.private_endpoints.items()
        },
        vault=reader.submit(
            "vaults.get",
            f"{rg}/{region.vault}",
            lambda: gateway.get_vault(rg, region.vault),
        ),
        role_assignments=reader.submit(
            "role_assignments.list", scope, lambda: gateway.list_role_assignments(scope)
        ),
        key_names=reader.submit(
            "keys.list", region.vault, lambda: gateway.list_key_names(region.vault)
        ),
    )


class _SubnetReads:
    """Each instance's subnet, read as soon as the instance is known (its
    address range decides which NSG rules apply to the instance)."""

    def __init__(self, gateway: Gateway, reader: _Reader, first: _FirstWave) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Read[dict[str, Any]]]] = {}
        self._submitted: list[Future[Any]] = []
        for region, reads in first.regions.items():
            done: Future[None] = Future()
            self._submitted.append(done)
            reads.instance.add_done_callback(
                functools.partial(self._read, gateway, reader, region, done=done)
            )

    def _read(
        self,
        gateway: Gateway,
        reader: _Reader,
        region: str,
        future: Future[Read[dict[str, Any]]],
        *,
        done: Future[None],
    ) -> None:
        subnet = props(future.result().value or {}).get("subnetId")
        if subnet and len(str(subnet).strip("/").split("/")) >= 10:
            read = reader.submit(
                "network.subnets.get", str(subnet), _bind(gateway.get_subnet, subnet)
            )
            with self._lock:
                self._futures[region] = read
        done.set_result(None)

    def results(self) -> dict[str, Read[dict[str, Any]]]:
        wait(self._submitted)
        with self._lock:
            futures = dict(self._futures)
        return {region: future.result() for region, future in futures.items()}


def _with_subnet_prefixes(
    snapshot: Snapshot, subnets: dict[str, Read[dict[str, Any]]]
) -> Snapshot:
    """The instances with their subnet's address range, where it was readable.

    TODO: a subnet that cannot be read (the simulator does not serve subnets)
    leaves the range unknown; NSG rules with a source range are then assumed
    to apply to the instance, which may report a cut that is not one.
    """
    instances = []
    for instance in snapshot.instances:
        read = subnets.get(instance.region)
        subnet = read.value if read is not None else None
        prefix = props(subnet or {}).get("addressPrefix")
        if prefix is None:
            prefixes = props(subnet or {}).get("addressPrefixes") or []
            prefix = prefixes[0] if prefixes else None
        instances.append(
            replace(instance, subnet_prefix=prefix) if prefix else instance
        )
    return replace(snapshot, instances=tuple(instances))


def _bind(fn: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: fn(*args)


# --------------------------------------------------------------------------
# Waves 2 and 3: the keys the instances registered, in both vaults


@dataclass
class _VaultKeyReads:
    versions: Read[list[KeyVersion]] | None  # None: not in the vault's key list
    fetched: dict[str, Read[KeyVersion]]


def _referenced_by(reads: _RegionReads) -> list[tuple[str, str | None]]:
    """(key name, version) of every key URI one instance mentions."""
    uris: list[str] = []
    for item in reads.keys.result().value or []:
        uri = props(item).get("uri")
        if uri:
            uris.append(str(uri))
    protector = reads.protector.result().value
    if protector and props(protector).get("uri"):
        uris.append(str(props(protector)["uri"]))
    found: list[tuple[str, str | None]] = []
    for uri in uris:
        try:
            parsed = parse_key_uri(uri)
        except KeyUriError:
            continue
        found.append((parsed.name.lower(), parsed.version))
    return found


def _key_waves(
    gateway: Gateway, reader: _Reader, mesh: Mesh, first: _FirstWave
) -> dict[str, dict[str, _VaultKeyReads]]:
    vaults = [region.vault for region in mesh.regions.values()]
    listed: dict[tuple[str, str], Future[Read[list[KeyVersion]]]] = {}
    fetching: dict[tuple[str, str], dict[str, Future[Read[KeyVersion]]]] = {}

    # Wave 2, per instance as soon as its keys and protector are known:
    # the versions of each key name it mentions, in both vaults, and the
    # versions it mentions.
    pending = {
        name: (reads.keys, reads.protector) for name, reads in first.regions.items()
    }
    while pending:
        # Only futures still running: a done one would end every wait at
        # once, and the loop would spin, holding the GIL the reads need.
        waiting: list[Future[Any]] = [
            f for pair in pending.values() for f in pair if not f.done()
        ]
        if waiting:
            wait(waiting, return_when=FIRST_COMPLETED)
        for region, pair in list(pending.items()):
            if not all(future.done() for future in pair):
                continue
            del pending[region]
            for name, version in _referenced_by(first.regions[region]):
                for vault in vaults:
                    key = (vault, name)
                    if key not in listed:
                        listed[key] = reader.submit(
                            "keys.list_versions",
                            f"{vault}/{name}",
                            _bind(gateway.list_key_versions, vault, name),
                        )
                        fetching[key] = {}
                    if version and version not in fetching[key]:
                        fetching[key][version] = _get_key(
                            gateway, reader, vault, name, version
                        )

    # Wave 3: the material of the versions nobody mentioned.
    versions: dict[tuple[str, str], Read[list[KeyVersion]]] = {}
    for key, future in listed.items():
        versions[key] = future.result()
        for listed_version in versions[key].value or []:
            if listed_version.version not in fetching[key]:
                fetching[key][listed_version.version] = _get_key(
                    gateway, reader, key[0], key[1], listed_version.version
                )

    result: dict[str, dict[str, _VaultKeyReads]] = {vault: {} for vault in vaults}
    for (vault, name), listing in versions.items():
        fetched = {v: f.result() for v, f in fetching[(vault, name)].items()}
        result[vault][name] = _VaultKeyReads(listing, fetched)
    return result


def _get_key(
    gateway: Gateway, reader: _Reader, vault: str, name: str, version: str
) -> Future[Read[KeyVersion]]:
    return reader.submit(
        "keys.get",
        f"{vault}/{name}/{version}",
        _bind(gateway.get_key, vault, name, version),
    )


# --------------------------------------------------------------------------
# Assembly


def _assemble(
    mesh_name: str,
    mesh: Mesh,
    first: _FirstWave,
    keys: dict[str, dict[str, _VaultKeyReads]],
    gateway: Gateway,
) -> Snapshot:
    instances = tuple(
        _instance(mesh, name, region, first.regions[name])
        for name, region in mesh.regions.items()
    )
    vaults = tuple(
        _vault(mesh, name, region, first.regions[name], keys.get(region.vault), gateway)
        for name, region in mesh.regions.items()
    )
    endpoints = tuple(
        _endpoint(name, region, vault, future.result())
        for name, region in mesh.regions.items()
        for vault, future in first.regions[name].endpoints.items()
    )
    groups = tuple(
        _nsg(name, region, first.regions[name].nsg.result())
        for name, region in mesh.regions.items()
    )
    return Snapshot(
        mesh=mesh_name,
        cloud=mesh.cloud,
        subscription_id=mesh.subscription_id,
        taken_at=datetime.now(UTC),
        regions=tuple(mesh.regions),
        instances=instances,
        vaults=vaults,
        endpoints=endpoints,
        network_security_groups=groups,
        failover_group=_failover_group(mesh, first.failover_group.result()),
    )


def _instance(mesh: Mesh, name: str, region: Region, reads: _RegionReads) -> Instance:
    got = reads.instance.result()
    protector = reads.protector.result()
    keys = reads.keys.result()
    databases = reads.databases.result()
    errors = tuple(
        r.error for r in (got, protector, keys, databases) if r.error is not None
    )
    resource = got.value or {}
    p = props(resource)
    return Instance(
        region=name,
        name=region.instance,
        resource_group=region.resource_group,
        resource_id=str(
            resource.get("id")
            or (
                f"/subscriptions/{mesh.subscription_id}/resourceGroups/"
                f"{region.resource_group}/providers/Microsoft.Sql/managedInstances/"
                f"{region.instance}"
            )
        ),
        location=resource.get("location"),
        state=p.get("state") if got.ok else None,
        provisioning_state=p.get("provisioningState"),
        subnet_id=p.get("subnetId"),
        identity=identity_from(resource) if got.ok else None,
        key_id=p.get("keyId"),
        protector=protector_from(protector.value) if protector.value else None,
        keys=tuple(registered_key_from(k) for k in keys.value)
        if keys.ok and keys.value is not None
        else None,
        databases=tuple(database_from(d) for d in databases.value)
        if databases.ok and databases.value is not None
        else None,
        errors=errors,
    )


def _vault(
    mesh: Mesh,
    name: str,
    region: Region,
    reads: _RegionReads,
    keys: dict[str, _VaultKeyReads] | None,
    gateway: Gateway,
) -> Vault:
    got = reads.vault.result()
    assignments = reads.role_assignments.result()
    listing = reads.key_names.result()
    p = props(got.value or {})
    acls = p.get("networkAcls") or {}
    resource_id = str(
        (got.value or {}).get("id")
        or vault_resource_id(mesh.subscription_id, region.resource_group, region.vault)
    )
    errors = tuple(r.error for r in (got, assignments) if r.error is not None)
    try:
        url = gateway.endpoints.vault_url(region.vault)
    except Exception:  # noqa: BLE001 - an unknown simulator vault
        url = str(p.get("vaultUri") or "").rstrip("/")
    return Vault(
        region=name,
        name=region.vault,
        resource_group=region.resource_group,
        resource_id=resource_id,
        url=url,
        location=(got.value or {}).get("location"),
        tenant_id=p.get("tenantId"),
        soft_delete=_flag(p, "enableSoftDelete", default=True) if got.ok else None,
        purge_protection=_flag(p, "enablePurgeProtection", default=False)
        if got.ok
        else None,
        retention_days=p.get("softDeleteRetentionInDays"),
        rbac_authorization=_flag(p, "enableRbacAuthorization", default=False)
        if got.ok
        else None,
        access_policies=access_policies_from(got.value or {}),
        role_assignments=tuple(role_assignment_from(a) for a in assignments.value or [])
        if assignments.ok
        else None,
        public_network_access=p.get("publicNetworkAccess"),
        network_default_action=acls.get("defaultAction"),
        network_bypass=acls.get("bypass"),
        endpoint_connections=endpoint_connections_from(got.value or {}),
        keys=_vault_keys(region.vault, keys, listing),
        operator_reachable=listing.ok,
        operator_error=listing.error,
        readable=got.ok,
        errors=errors,
    )


def _flag(p: dict[str, Any], name: str, *, default: bool) -> bool:
    value = p.get(name)
    return default if value is None else bool(value)


def _vault_keys(
    vault: str,
    keys: dict[str, _VaultKeyReads] | None,
    listing: Read[list[str]],
) -> tuple[VaultKey, ...]:
    if keys is None:
        return ()
    found = []
    for name, reads in keys.items():
        if reads.versions is None:
            found.append(VaultKey(vault, name, exists=False))
            continue
        versions = reads.versions
        if versions.not_found:
            found.append(VaultKey(vault, name, exists=False))
            continue
        if not versions.ok:
            errors = (versions.error,) if versions.error else ()
            found.append(VaultKey(vault, name, exists=None, errors=errors))
            continue
        merged: list[KeyVersion] = []
        errors_list: list[ReadError] = []
        listed = {v.version: v for v in versions.value or []}
        for version, fetched in reads.fetched.items():
            if fetched.ok and fetched.value is not None:
                merged.append(fetched.value)
            elif version in listed:
                merged.append(listed[version])
                if fetched.error and not fetched.not_found:
                    errors_list.append(fetched.error)
        for version, listed_version in listed.items():
            if version not in reads.fetched:
                merged.append(listed_version)
        merged.sort(key=lambda v: v.created or datetime.min.replace(tzinfo=UTC))
        found.append(
            VaultKey(
                vault,
                name,
                exists=bool(merged),
                versions=tuple(merged),
                errors=tuple(errors_list),
            )
        )
    return tuple(found)


def _endpoint(
    region_name: str, region: Region, vault: str, read: Read[dict[str, Any]]
) -> Endpoint:
    name = region.private_endpoints[vault]
    resource = read.value or {}
    _, status = endpoint_target(resource)
    return Endpoint(
        region=region_name,
        name=name,
        vault=vault,
        resource_id=str(resource.get("id") or f"{region.resource_group}/{name}"),
        ip_addresses=endpoint_addresses(resource),
        subnet_id=(props(resource).get("subnet") or {}).get("id"),
        connection_status=status,
        provisioning_state=props(resource).get("provisioningState"),
        exists=True if read.ok else (False if read.not_found else None),
        errors=() if read.ok or read.not_found else (read.error,),  # type: ignore[arg-type]
    )


def _nsg(
    region_name: str, region: Region, read: Read[dict[str, Any]]
) -> NetworkSecurityGroup:
    resource = read.value or {}
    p = props(resource)
    rules = None
    if read.ok:
        custom = [security_rule_from(r) for r in p.get("securityRules") or []]
        defaults = [
            security_rule_from(r, default=True)
            for r in p.get("defaultSecurityRules") or []
        ]
        rules = tuple(r for r in custom + defaults if r.direction.lower() == "outbound")
    return NetworkSecurityGroup(
        region=region_name,
        name=region.network_security_group,
        resource_id=str(resource.get("id") or region.network_security_group),
        outbound_rules=rules,
        errors=(read.error,) if read.error else (),
    )


def _failover_group(mesh: Mesh, read: Read[dict[str, Any]]) -> FailoverGroup | None:
    first_region, first = next(iter(mesh.regions.items()))
    if not read.ok:
        if read.not_found:
            return None
        return FailoverGroup(
            name=mesh.failover_group,
            resource_group=first.resource_group,
            location=first_region,
            primary_instance=None,
            secondary_instance=None,
            errors=(read.error,) if read.error else (),
        )
    resource = read.value or {}
    p = props(resource)
    role = str(p.get("replicationRole") or "")
    other_region, other = [
        (n, r) for n, r in mesh.regions.items() if n != first_region
    ][0]
    pairs = p.get("managedInstancePairs") or []
    if role.lower() == "primary":
        primary, secondary = first.instance, other.instance
        locations = (first_region, other_region)
    elif role.lower() == "secondary":
        primary, secondary = other.instance, first.instance
        locations = (other_region, first_region)
    elif pairs:
        primary = str(pairs[0].get("primaryManagedInstanceId", "")).rsplit("/", 1)[-1]
        secondary = str(pairs[0].get("partnerManagedInstanceId", "")).rsplit("/", 1)[-1]
        locations = (None, None)  # type: ignore[assignment]
    else:
        primary = secondary = None  # type: ignore[assignment]
        locations = (None, None)  # type: ignore[assignment]
    if pairs:
        # The pairs name the actual instances; trust them over the config.
        primary_id = str(pairs[0].get("primaryManagedInstanceId", ""))
        partner_id = str(pairs[0].get("partnerManagedInstanceId", ""))
        named = {primary_id.rsplit("/", 1)[-1], partner_id.rsplit("/", 1)[-1]}
        if {primary, secondary} != named and named != {""}:
            primary = primary_id.rsplit("/", 1)[-1]
            secondary = partner_id.rsplit("/", 1)[-1]
    read_write = p.get("readWriteEndpoint") or {}
    return FailoverGroup(
        name=str(resource.get("name") or mesh.failover_group),
        resource_group=first.resource_group,
        location=first_region,
        primary_instance=primary,
        secondary_instance=secondary,
        replication_state=p.get("replicationState"),
        failover_policy=read_write.get("failoverPolicy"),
        grace_period_minutes=read_write.get("failoverWithDataLossGracePeriodMinutes"),
        primary_location=locations[0],
        secondary_location=locations[1],
    )
