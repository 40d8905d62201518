"""assess(snapshot) -> Assessment: every verdict rule of tdemesh, pure.

The rules come from the domain notes (shared/reference/domain.md). The one
that shapes the verdict most: an instance uses the key in its protector's
vault and falls back to the same-thumbprint key registered from the other
vault only when the first vault is *unreachable*. A revoked permission, a
disabled, expired or deleted key does not trigger the fallback, because that
may be deliberate. So a broken home path is "degraded" when only the network
broke and the other path works, and "critical" otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mesh.assessment import (
    Assessment,
    Deadline,
    DeadlineKind,
    Finding,
    KeyPath,
    Severity,
    Verdict,
)
from mesh.keyuri import (
    KeyUri,
    KeyUriError,
    managed_instance_problems,
    name_length_ok,
    parse_key_uri,
    same_vault_url,
)
from mesh.network import denies
from mesh.permissions import grant_fix, missing_tde_permissions
from mesh.snapshot import (
    Endpoint,
    Instance,
    KeyVersion,
    RegisteredKey,
    SecurityRule,
    Snapshot,
    Vault,
)

KEY_CHECK_INTERVAL = timedelta(minutes=10)
INACCESSIBLE_AFTER = timedelta(minutes=10)
AUTO_HEAL_WINDOW = timedelta(minutes=30)
EXPIRY_WARNING = timedelta(days=30)
SUPPORTED_KEY_TYPES = ("RSA", "RSA-HSM")
SUPPORTED_KEY_SIZES = (2048, 3072)
AKV = "azurekeyvault"


# --------------------------------------------------------------------------
# Entry point


def assess(snapshot: Snapshot) -> Assessment:
    details = [
        _key_path(snapshot, instance, vault)
        for instance in snapshot.instances
        for vault in snapshot.vaults
    ]
    findings = _Findings()
    findings.extend(_read_failures(snapshot))
    for instance in snapshot.instances:
        findings.extend(_instance_findings(snapshot, instance))
        findings.extend(_protector_findings(snapshot, instance))
    for vault in snapshot.vaults:
        findings.extend(_vault_findings(vault))
    findings.extend(_path_findings(snapshot, details))
    findings.extend(_instance_verdicts(snapshot, details))
    findings.extend(_failover_group_findings(snapshot))
    findings.extend(_old_version_findings(snapshot))
    findings.extend(_database_findings(snapshot, details))
    ordered = sorted(findings.items, key=lambda f: (-f.severity.rank, f.code))
    return Assessment(
        mesh=snapshot.mesh,
        taken_at=snapshot.taken_at,
        verdict=_verdict(ordered),
        paths=tuple(detail.path for detail in details),
        findings=tuple(ordered),
        deadlines=tuple(_deadlines(snapshot, details)),
        azure_time=snapshot.azure_time,
    )


def _verdict(findings: Iterable[Finding]) -> Verdict:
    worst = max((f.severity.rank for f in findings), default=0)
    return {0: Verdict.HEALTHY, 1: Verdict.DEGRADED, 2: Verdict.CRITICAL}[worst]


class _Findings:
    """Findings without duplicates (same code, same resource)."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self._seen: set[tuple[str, str]] = set()

    def extend(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            key = (finding.code, finding.resource)
            if key not in self._seen:
                self._seen.add(key)
                self.items.append(finding)


# --------------------------------------------------------------------------
# The protector and the keys that carry its material


@dataclass(frozen=True)
class _Protector:
    uri: KeyUri | None
    vault: Vault | None
    version: KeyVersion | None  # the protector's version in its vault
    thumbprint: str | None


def _protector(snapshot: Snapshot, instance: Instance) -> _Protector | None:
    """The instance's customer-managed protector, or None if it has none."""
    protector = instance.protector
    if protector is None or not protector.customer_managed:
        return None
    uri = _parse(protector.uri)
    if uri is None:
        registered = instance.registered(protector.server_key_name)
        uri = _parse(registered.uri if registered else None)
    vault = snapshot.vault_of_url(uri.vault_url) if uri else None
    version = _version_in(vault, uri)
    thumbprint = protector.thumbprint or (version.thumbprint if version else None)
    return _Protector(uri, vault, version, thumbprint.upper() if thumbprint else None)


def _parse(text: str | None) -> KeyUri | None:
    if not text:
        return None
    try:
        return parse_key_uri(text)
    except KeyUriError:
        return None


def _version_in(vault: Vault | None, uri: KeyUri | None) -> KeyVersion | None:
    if vault is None or uri is None:
        return None
    key = vault.key(uri.name)
    if key is None:
        return None
    if uri.version is None:
        return key.latest
    return key.version(uri.version)


def _registered_thumbprint(snapshot: Snapshot, key: RegisteredKey) -> str | None:
    if key.thumbprint:
        return key.thumbprint.upper()
    uri = _parse(key.uri)
    version = _version_in(snapshot.vault_of_url(uri.vault_url) if uri else None, uri)
    return version.thumbprint.upper() if version and version.thumbprint else None


def _vault_keys(instance: Instance, vault: Vault) -> list[RegisteredKey]:
    """Keys registered on the instance that live in this vault."""
    return [
        key
        for key in instance.keys or ()
        if key.server_key_type.lower() == AKV
        and key.uri
        and same_vault_url(vault.url, key.uri)
    ]


def _material_in(vault: Vault, thumbprint: str) -> KeyVersion | None:
    for key in vault.keys:
        for version in key.versions:
            if version.thumbprint and version.thumbprint.upper() == thumbprint:
                return version
    return None


# --------------------------------------------------------------------------
# Key paths


@dataclass
class _PathDetail:
    path: KeyPath
    instance: Instance
    vault: Vault
    endpoint: Endpoint | None = None
    cut_rule: SecurityRule | None = None
    connection_status: str | None = None
    missing_permissions: tuple[str, ...] = ()
    version: KeyVersion | None = None  # the copy of the protector it would use
    unusable_reasons: tuple[str, ...] = ()
    findings: list[Finding] = field(default_factory=list)

    @property
    def network_only(self) -> bool:
        """Broken by reachability alone: the case where MI falls back."""
        others = self.path.checks[1:]
        return self.path.reachable is False and all(c is not False for c in others)


def _key_path(snapshot: Snapshot, instance: Instance, vault: Vault) -> _PathDetail:
    detail = _PathDetail(
        path=KeyPath(
            instance.name,
            vault.name,
            instance.region,
            vault.region,
            None,
            None,
            None,
            None,
            None,
        ),
        instance=instance,
        vault=vault,
    )
    reasons: list[str] = []
    reachable = _reachable(snapshot, detail, reasons)
    registered, same, version = _registration(snapshot, detail, reasons)
    permission = _permission(detail, reasons)
    usable = _usability(snapshot, detail, version, reasons)
    detail.version = version
    detail.path = KeyPath(
        instance=instance.name,
        vault=vault.name,
        instance_region=instance.region,
        vault_region=vault.region,
        reachable=reachable,
        key_registered=registered,
        same_thumbprint=same,
        permission=permission,
        key_usable=usable,
        reasons=tuple(reasons),
    )
    return detail


def _reachable(
    snapshot: Snapshot, detail: _PathDetail, reasons: list[str]
) -> bool | None:
    instance, vault = detail.instance, detail.vault
    endpoint = snapshot.endpoint(instance.region, vault.name)
    detail.endpoint = endpoint
    if endpoint is None or endpoint.exists is False:
        reasons.append(
            f"no private endpoint from {instance.name}'s network to {vault.name}"
        )
        return False
    if endpoint.exists is None:
        reasons.append(f"endpoint {endpoint.name} could not be read")
        return None

    status = _connection_status(vault, endpoint)
    detail.connection_status = status
    verdict: bool | None = True
    if status is None:
        reasons.append(f"the state of endpoint {endpoint.name}'s connection is unknown")
        verdict = None
    elif status.lower() != "approved":
        reasons.append(
            f"endpoint {endpoint.name}'s connection is {status}, not Approved"
        )
        return False

    group = snapshot.network_security_group(instance.region)
    rules = group.outbound_rules if group else None
    if rules is None:
        reasons.append(
            f"the rules of {instance.name}'s network security group are unknown"
        )
        verdict = None
    elif not endpoint.ip_addresses:
        reasons.append(f"endpoint {endpoint.name} has no known address")
        verdict = None
    else:
        for address in endpoint.ip_addresses:
            rule = denies(rules, address, instance.subnet_prefix)
            if rule is not None:
                detail.cut_rule = rule
                reasons.append(
                    f"rule {rule.name} (priority {rule.priority}) of "
                    f"{group.name if group else '?'} denies outbound 443 to {address}"
                )
                return False

    error = vault.operator_error
    if error is not None and error.unreachable:
        reasons.append(f"vault {vault.name} is not answering ({error.message})")
        return False
    return verdict


def _connection_status(vault: Vault, endpoint: Endpoint) -> str | None:
    for connection in vault.endpoint_connections:
        if (
            connection.private_endpoint_id
            and connection.private_endpoint_id.lower() == endpoint.resource_id.lower()
        ):
            return connection.status
    return endpoint.connection_status


def _registration(
    snapshot: Snapshot, detail: _PathDetail, reasons: list[str]
) -> tuple[bool | None, bool | None, KeyVersion | None]:
    instance, vault = detail.instance, detail.vault
    protector = _protector(snapshot, instance)
    if instance.keys is None:
        reasons.append(f"the keys registered on {instance.name} could not be read")
        material = (
            _material_in(vault, protector.thumbprint)
            if protector and protector.thumbprint
            else None
        )
        return None, None, material

    keys = _vault_keys(instance, vault)
    if protector is None:
        return bool(keys), None, None
    if not keys:
        reasons.append(f"no key of {vault.name} is registered on {instance.name}")
    if protector.thumbprint is None:
        reasons.append(f"the thumbprint of {instance.name}'s protector is unknown")
        return bool(keys), None, protector.version if protector.vault is vault else None

    for key in keys:
        if _registered_thumbprint(snapshot, key) == protector.thumbprint:
            uri = _parse(key.uri)
            return True, True, _version_in(vault, uri)
    material = _material_in(vault, protector.thumbprint)
    if keys:
        reasons.append(
            f"no key of {vault.name} registered on {instance.name} has the "
            f"protector's thumbprint {protector.thumbprint}"
        )
        return True, False, material
    return False, False, material


def _permission(detail: _PathDetail, reasons: list[str]) -> bool | None:
    instance, vault = detail.instance, detail.vault
    identity = instance.identity
    if identity is None:
        if instance.state is None:
            return None
        reasons.append(f"{instance.name} has no managed identity")
        return False
    principal = identity.effective_principal_id
    if principal is None or identity.type.lower() == "none":
        reasons.append(f"{instance.name} has no managed identity")
        return False
    missing = missing_tde_permissions(vault, principal)
    if missing is None:
        reasons.append(f"who may use keys in {vault.name} could not be read")
        return None
    detail.missing_permissions = missing
    if missing:
        reasons.append(
            f"{instance.name}'s identity lacks {', '.join(missing)} on {vault.name}"
        )
        return False
    return True


def _usability(
    snapshot: Snapshot,
    detail: _PathDetail,
    version: KeyVersion | None,
    reasons: list[str],
) -> bool | None:
    protector = _protector(snapshot, detail.instance)
    if protector is None:
        return None
    vault = detail.vault
    if version is None:
        key = vault.key(protector.uri.name) if protector.uri else None
        if key is not None and key.exists is None:
            reasons.append(f"the keys in {vault.name} could not be read")
            return None
        if not vault.readable or vault.operator_reachable is False:
            reasons.append(f"the keys in {vault.name} could not be read")
            return None
        reasons.append(
            f"{vault.name} holds no copy of {detail.instance.name}'s protector"
        )
        return False
    problems = key_problems(version, snapshot.now)
    detail.unusable_reasons = problems
    if problems:
        reasons.extend(f"{version.kid}: {p}" for p in problems)
        return False
    return True


def key_problems(version: KeyVersion, now: datetime) -> tuple[str, ...]:
    """Why Managed Instance cannot use this key version (empty: it can)."""
    problems: list[str] = []
    if version.enabled is False:
        problems.append("the key version is disabled")
    if version.kty and version.kty.upper() not in SUPPORTED_KEY_TYPES:
        problems.append(f"the key type is {version.kty}, not RSA or RSA-HSM")
    if version.size and version.size not in SUPPORTED_KEY_SIZES:
        problems.append(f"the key is {version.size} bits, not 2048 or 3072")
    if version.not_before and version.not_before > now:
        problems.append(f"the key is not active until {_at(version.not_before)}")
    if version.expires and version.expires <= now:
        problems.append(f"the key expired at {_at(version.expires)}")
    if version.key_ops is not None:
        ops = {op.lower() for op in version.key_ops}
        lacking = [op for op in ("wrapKey", "unwrapKey") if op.lower() not in ops]
        if lacking:
            problems.append(f"the key does not permit {', '.join(lacking)}")
    return tuple(problems)


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


# --------------------------------------------------------------------------
# Findings


def _read_failures(snapshot: Snapshot) -> list[Finding]:
    findings = []
    for error in snapshot.all_errors():
        if error.operation.startswith("keys.") and (
            error.status in (403, 404) or error.unreachable
        ):
            continue  # judged where it matters (operator access, missing keys)
        findings.append(
            Finding(
                code="READ_FAILED",
                severity=Severity.WARNING,
                resource=error.resource,
                what=f"{error.operation} failed: {error.message}",
                why="what could not be read cannot be vouched for; the verdict "
                "may be better or worse than shown",
                fix=error.fix
                or "check the operator's read access (Reader on the resource "
                "groups, Key Vault Reader or Crypto User on the vaults) and "
                "run the check again",
            )
        )
    return findings


def _instance_findings(snapshot: Snapshot, instance: Instance) -> list[Finding]:
    findings = []
    if instance.state and instance.state.lower() != "ready":
        findings.append(
            Finding(
                "INSTANCE_NOT_READY",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name} is {instance.state}, not Ready",
                "an instance that is not Ready serves no databases",
                "wait for the operation under way to finish, or start the instance",
                instance.region,
            )
        )
    identity = instance.identity
    if instance.state is not None and (
        identity is None
        or identity.type.lower() == "none"
        or identity.effective_principal_id is None
    ):
        cmk = instance.protector is not None and instance.protector.customer_managed
        findings.append(
            Finding(
                "IDENTITY_MISSING",
                Severity.CRITICAL if cmk else Severity.WARNING,
                instance.resource_id,
                f"{instance.name} has no managed identity to reach its vaults",
                "without an identity the instance cannot unwrap its protector; "
                "databases become Inaccessible",
                f"assign a system-assigned identity (az sql mi update -g "
                f"{instance.resource_group} -n {instance.name} --assign-identity) "
                "and grant it get, wrapKey, unwrapKey on both vaults",
                instance.region,
            )
        )
    protector = instance.protector
    if protector is not None and not protector.customer_managed:
        findings.append(
            Finding(
                "PROTECTOR_SERVICE_MANAGED",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name}'s TDE protector is service-managed",
                "the mesh's keys protect nothing until the protector is "
                "customer-managed",
                "run the setup runbook: register the key on the secondary, then "
                "the primary, and set the protector, secondary first",
                instance.region,
            )
        )
    for key in instance.keys or ():
        findings.extend(_registered_uri_findings(instance, key))
    return findings


def _registered_uri_findings(instance: Instance, key: RegisteredKey) -> list[Finding]:
    if key.server_key_type.lower() != AKV or not key.uri:
        return []
    try:
        uri = parse_key_uri(key.uri)
    except KeyUriError as error:
        return [
            Finding(
                "KEY_URI_MALFORMED",
                Severity.WARNING,
                f"{instance.resource_id}/keys/{key.name}",
                f"the key registered as {key.name} has URI {key.uri!r}: "
                f"{error.problem}",
                "Managed Instance cannot use a key it cannot locate",
                "register the key again with its full versioned key identifier",
                instance.region,
            )
        ]
    problems = managed_instance_problems(uri)
    if not problems:
        return []
    return [
        Finding(
            "KEY_URI_VERSIONLESS",
            Severity.WARNING,
            f"{instance.resource_id}/keys/{key.name}",
            f"{uri.canonical}: {'; '.join(problems)}",
            "Managed Instance does not accept versionless key URIs",
            "register the key with the URI of a specific version "
            f"({uri.canonical}/<version>)",
            instance.region,
        )
    ]


def _protector_findings(snapshot: Snapshot, instance: Instance) -> list[Finding]:
    protector = _protector(snapshot, instance)
    if protector is None:
        return []
    findings = []
    if protector.uri is None:
        return [
            Finding(
                "PROTECTOR_URI_UNKNOWN",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name}'s protector names no readable key URI",
                "its key cannot be checked against the vaults",
                "set the protector again with a versioned key URI",
                instance.region,
            )
        ]
    if protector.uri.versionless:
        findings.append(
            Finding(
                "KEY_URI_VERSIONLESS",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name}'s protector URI {protector.uri.canonical} has "
                "no version",
                "Managed Instance expects a versioned key URI",
                "set the protector with the URI of the key's current version",
                instance.region,
            )
        )
    if protector.vault is not None and not name_length_ok(
        protector.vault.name, protector.uri.name
    ):
        findings.append(
            Finding(
                "KEY_NAME_TOO_LONG",
                Severity.WARNING,
                protector.uri.canonical,
                f"vault name {protector.vault.name} and key name "
                f"{protector.uri.name} together exceed 94 characters",
                "Managed Instance refuses keys whose vault+key name exceed 94",
                "create the key under a shorter name",
                instance.region,
            )
        )
    if protector.vault is None:
        findings.append(
            Finding(
                "PROTECTOR_VAULT_UNKNOWN",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name}'s protector lives in {protector.uri.vault_url}, "
                "which is not a vault of this mesh",
                "tdemesh cannot check a vault it does not know",
                "add the vault to the mesh's config or move the protector to a "
                "mesh vault",
                instance.region,
            )
        )
    else:
        key = protector.vault.key(protector.uri.name)
        readable = key is not None and key.exists is not None
        if protector.version is None and readable:
            findings.append(
                Finding(
                    "PROTECTOR_KEY_MISSING",
                    Severity.CRITICAL,
                    protector.uri.canonical,
                    f"{instance.name}'s protector {protector.uri.canonical} is not "
                    f"in vault {protector.vault.name}",
                    "a deleted protector makes the databases Inaccessible; the "
                    "instance does not fall back for a deleted key",
                    f"recover the key (az keyvault key recover --vault-name "
                    f"{protector.vault.name} -n {protector.uri.name}) or restore "
                    "it from a backup",
                    instance.region,
                )
            )
    for version in _material_versions(snapshot, instance, protector):
        findings.extend(_key_requirement_findings(snapshot, instance, version))
    findings.extend(_newer_version_findings(instance, protector))
    return findings


def _newer_version_findings(instance: Instance, protector: _Protector) -> list[Finding]:
    """A newer enabled version the protector does not use: a rotation that
    was started and not finished (Managed Instance also refuses to set an
    older version as protector: OldGenerationOfAKVKeyBeingUsedError)."""
    if protector.vault is None or protector.uri is None or protector.version is None:
        return []
    key = protector.vault.key(protector.uri.name)
    latest = key.latest if key is not None else None
    if latest is None or latest.version == protector.version.version:
        return []
    if latest.enabled is False or instance.protector is None:
        return []
    automatic = instance.protector.auto_rotation_enabled
    return [
        Finding(
            "PROTECTOR_NOT_LATEST_VERSION",
            Severity.INFO,
            instance.resource_id,
            f"{instance.name}'s protector uses {protector.version.kid}; the vault "
            f"has a newer version {latest.kid}",
            "auto-rotation will switch to it (within 24 hours)"
            if automatic
            else "a rotation was started and not finished; the new version "
            "protects nothing yet",
            "nothing, if auto-rotation is meant to pick it up; copy it to the "
            "other vault so the fallback stays in step"
            if automatic
            else "finish the rotation: the same material in both vaults, "
            "registered on both instances, protector set on the secondary first",
            instance.region,
        )
    ]


def _material_versions(
    snapshot: Snapshot, instance: Instance, protector: _Protector
) -> list[KeyVersion]:
    """The protector's version and every registered copy of its material."""
    versions = [protector.version] if protector.version else []
    for key in instance.keys or ():
        if protector.thumbprint and _registered_thumbprint(snapshot, key) == (
            protector.thumbprint
        ):
            uri = _parse(key.uri)
            version = _version_in(
                snapshot.vault_of_url(uri.vault_url) if uri else None, uri
            )
            if version is not None and version not in versions:
                versions.append(version)
    return versions


def _key_requirement_findings(
    snapshot: Snapshot, instance: Instance, version: KeyVersion
) -> list[Finding]:
    now = snapshot.now
    vault = version.vault
    findings = []

    def add(code: str, severity: Severity, what: str, why: str, fix: str) -> None:
        findings.append(
            Finding(code, severity, version.kid, what, why, fix, instance.region)
        )

    if version.enabled is False:
        add(
            "KEY_DISABLED",
            Severity.WARNING,
            f"{version.kid} (a copy of {instance.name}'s protector) is disabled",
            "a disabled key cannot unwrap; the instance does not fall back to the "
            "other vault for a disabled key",
            f"enable it: az keyvault key set-attributes --vault-name {vault} "
            f"-n {version.name} --version {version.version} --enabled true",
        )
    if version.kty and version.kty.upper() not in SUPPORTED_KEY_TYPES:
        add(
            "KEY_TYPE_UNSUPPORTED",
            Severity.WARNING,
            f"{version.kid} is a {version.kty} key",
            "Managed Instance accepts only RSA or RSA-HSM keys",
            "create an RSA key of 2048 or 3072 bits and rotate to it",
        )
    if version.size and version.size not in SUPPORTED_KEY_SIZES:
        add(
            "KEY_SIZE_UNSUPPORTED",
            Severity.WARNING,
            f"{version.kid} is {version.size} bits",
            "Managed Instance accepts RSA keys of 2048 or 3072 bits only",
            "create a 2048- or 3072-bit RSA key and rotate to it",
        )
    if version.not_before and version.not_before > now:
        add(
            "KEY_NOT_YET_ACTIVE",
            Severity.WARNING,
            f"{version.kid} is not active until {_at(version.not_before)}",
            "a key before its activation date cannot be used",
            "clear or move its activation date (az keyvault key set-attributes "
            "--not-before)",
        )
    if version.expires and version.expires <= now:
        add(
            "KEY_EXPIRED",
            Severity.WARNING,
            f"{version.kid} expired at {_at(version.expires)}",
            "an expired key cannot be used as a protector",
            f"extend or clear its expiry: az keyvault key set-attributes "
            f"--vault-name {vault} -n {version.name} --version {version.version} "
            "--expires <later date>",
        )
    elif version.expires and version.expires - now < EXPIRY_WARNING:
        add(
            "KEY_EXPIRES_SOON",
            Severity.WARNING,
            f"{version.kid} expires at {_at(version.expires)}",
            "when it expires the instance loses its protector",
            "extend the expiry, or rotate to a new key before then",
        )
    elif version.expires:
        add(
            "KEY_HAS_EXPIRY",
            Severity.INFO,
            f"{version.kid} expires at {_at(version.expires)}",
            "an expiry on a TDE protector is allowed but becomes an outage if "
            "forgotten",
            "clear the expiry, or plan the rotation before that date",
        )
    if version.key_ops is not None:
        ops = {op.lower() for op in version.key_ops}
        lacking = [op for op in ("wrapKey", "unwrapKey") if op.lower() not in ops]
        if lacking:
            add(
                "KEY_OPERATIONS_MISSING",
                Severity.WARNING,
                f"{version.kid} does not permit {', '.join(lacking)}",
                "Managed Instance needs get, wrapKey and unwrapKey on its key",
                "update the key's permitted operations (az keyvault key "
                "set-attributes --ops wrapKey unwrapKey ...)",
            )
    return findings


def _vault_findings(vault: Vault) -> list[Finding]:
    findings = []

    def add(code: str, severity: Severity, what: str, why: str, fix: str) -> None:
        findings.append(
            Finding(code, severity, vault.resource_id, what, why, fix, vault.region)
        )

    if vault.soft_delete is False:
        add(
            "VAULT_SOFT_DELETE_OFF",
            Severity.WARNING,
            f"vault {vault.name} has soft delete off",
            "a deleted key could not be recovered; Managed Instance refuses such "
            "a vault as protector source",
            f"az keyvault update -n {vault.name} --enable-soft-delete true",
        )
    if vault.purge_protection is False:
        add(
            "VAULT_PURGE_PROTECTION_OFF",
            Severity.WARNING,
            f"vault {vault.name} has purge protection off",
            "a purged key is gone for good, and with it every database it "
            "protects; setting the protector fails without it",
            f"az keyvault update -n {vault.name} --enable-purge-protection true",
        )
    if vault.retention_days is not None and not 7 <= vault.retention_days <= 90:
        add(
            "VAULT_RETENTION_ODD",
            Severity.INFO,
            f"vault {vault.name} keeps deleted keys {vault.retention_days} days",
            "Key Vault's retention is 7 to 90 days",
            "check the vault's soft-delete retention",
        )
    if (vault.public_network_access or "").lower() == "enabled" and (
        vault.network_default_action or ""
    ).lower() == "allow":
        add(
            "VAULT_OPEN_TO_ALL_NETWORKS",
            Severity.INFO,
            f"vault {vault.name} accepts connections from any network",
            "the instances reach it over private endpoints; the public "
            "endpoint only widens who can try",
            f"az keyvault update -n {vault.name} --public-network-access Disabled "
            "(keep a path for the operator: run tdemesh inside the network)",
        )
    error = vault.operator_error
    if vault.operator_reachable is False and not (error and error.unreachable):
        add(
            "VAULT_UNREACHABLE_FOR_OPERATOR",
            Severity.WARNING,
            f"the operator cannot reach vault {vault.name}'s data plane"
            + (f" ({error.message})" if error else ""),
            "keys cannot be checked, copied or rotated from here; the verdict "
            "on its key paths is unconfirmed",
            "run tdemesh from a network that reaches the vault's private "
            "endpoint, or grant the operator Key Vault Crypto Officer",
        )
    return findings


def _path_findings(snapshot: Snapshot, details: list[_PathDetail]) -> list[Finding]:
    findings: list[Finding] = []
    for detail in details:
        findings.extend(_reachability_findings(snapshot, detail))
        findings.extend(_key_path_key_findings(snapshot, detail))
    return findings


def _reachability_findings(snapshot: Snapshot, detail: _PathDetail) -> list[Finding]:
    instance, vault, endpoint = detail.instance, detail.vault, detail.endpoint
    path = f"{instance.name} -> {vault.name}"
    why = (
        f"this key path is cut: {instance.name} cannot reach {vault.name}; "
        "with the other path also gone its databases become Inaccessible"
    )
    if endpoint is None or endpoint.exists is False:
        name = endpoint.name if endpoint else f"(none from {instance.region})"
        return [
            Finding(
                "ENDPOINT_MISSING",
                Severity.WARNING,
                endpoint.resource_id if endpoint else instance.resource_id,
                f"{path}: no private endpoint {name}",
                why,
                f"create a private endpoint to {vault.name} in {instance.name}'s "
                "virtual network and approve its connection on the vault",
                instance.region,
            )
        ]
    status = detail.connection_status
    if status is not None and status.lower() != "approved":
        return [
            Finding(
                "ENDPOINT_NOT_APPROVED",
                Severity.WARNING,
                endpoint.resource_id,
                f"{path}: endpoint {endpoint.name}'s connection is {status}",
                why,
                f"approve the connection on vault {vault.name} "
                f"(az keyvault private-endpoint-connection approve --vault-name "
                f"{vault.name} -n <connection>); a Rejected or Disconnected "
                "endpoint must be recreated",
                instance.region,
            )
        ]
    rule = detail.cut_rule
    if rule is not None:
        group = snapshot.network_security_group(instance.region)
        group_name = group.name if group else "the subnet's NSG"
        rg = _group_of(group.resource_id if group else "") or instance.resource_group
        address = ", ".join(endpoint.ip_addresses)
        return [
            Finding(
                "NSG_RULE_CUTS_PATH",
                Severity.WARNING,
                f"{group.resource_id if group else group_name}/securityRules/"
                f"{rule.name}",
                f"{path}: rule {rule.name} (priority {rule.priority}) on "
                f"{group_name} denies outbound 443 to endpoint {endpoint.name} "
                f"({address})",
                why,
                f"delete the rule (az network nsg rule delete -g {rg} --nsg-name "
                f"{group_name} -n {rule.name}) or add an outbound Allow for TCP "
                f"443 to {address} with a priority below {rule.priority}",
                instance.region,
            )
        ]
    error = vault.operator_error
    if detail.path.reachable is False and error is not None and error.unreachable:
        return [
            Finding(
                "VAULT_NOT_ANSWERING",
                Severity.WARNING,
                vault.resource_id,
                f"{path}: vault {vault.name} is not answering ({error.message})",
                why,
                _not_answering_fix(vault, error.message),
                vault.region,
            )
        ]
    return []


def _not_answering_fix(vault: Vault, message: str) -> str:
    """What to check when a vault answers neither the instance nor this tool:
    whether it is down for everyone, or unreachable only from these networks."""
    outage = (
        f"first see whether {vault.name} is down for everyone: Azure status "
        f"(status.azure.com) for Key Vault in {vault.region}, and the vault's "
        "Resource Health in the portal; if Azure reports an incident, nothing "
        "is wrong on your side: keep the other vault's path healthy and watch "
        "the deadlines"
    )
    checks = (
        "check that its name resolves to the private endpoint's address (the "
        "privatelink.vaultcore.azure.net zone linked to the virtual network), "
        "the NSG rules on outbound 443, and the vault's firewall"
    )
    if "name not resolved" in message:
        return f"the vault's name did not resolve: {checks}"
    return (
        f"{outage}; if Azure shows the vault healthy, it is unreachable only "
        f"from your networks: {checks}"
    )


def _group_of(resource_id: str) -> str | None:
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == "resourcegroups":
            return parts[index + 1]
    return None


def _key_path_key_findings(snapshot: Snapshot, detail: _PathDetail) -> list[Finding]:
    instance, vault, path = detail.instance, detail.vault, detail.path
    protector = _protector(snapshot, instance)
    findings: list[Finding] = []
    if path.permission is False and instance.identity is not None:
        principal = instance.identity.effective_principal_id
        if principal is not None:
            findings.append(
                Finding(
                    "PERMISSION_MISSING",
                    Severity.WARNING,
                    vault.resource_id,
                    f"{instance.name}'s identity ({principal}) lacks "
                    f"{', '.join(detail.missing_permissions)} on vault {vault.name}",
                    "the instance cannot unwrap with a key it may not use, and "
                    "does not fall back for a revoked permission",
                    grant_fix(vault, principal),
                    instance.region,
                )
            )
    if protector is None or protector.thumbprint is None:
        return findings
    material = _material_in(vault, protector.thumbprint)
    if path.key_registered is False and material is not None:
        findings.append(
            Finding(
                "KEY_NOT_REGISTERED",
                Severity.WARNING,
                instance.resource_id,
                f"{vault.name}'s copy of the protector ({material.kid}) is not "
                f"registered on {instance.name}",
                "an instance can only fall back to a key registered on it",
                f"az sql mi key create -g {instance.resource_group} --mi "
                f"{instance.name} --kid {material.kid} (on the secondary first)",
                instance.region,
            )
        )
    elif path.same_thumbprint is False and material is not None:
        findings.append(
            Finding(
                "THUMBPRINT_MISMATCH",
                Severity.WARNING,
                instance.resource_id,
                f"the keys of {vault.name} registered on {instance.name} differ "
                f"from its protector (thumbprint {protector.thumbprint}); the "
                f"matching copy {material.kid} is not registered",
                "fallback matches by thumbprint; a different key is no fallback",
                f"az sql mi key create -g {instance.resource_group} --mi "
                f"{instance.name} --kid {material.kid}",
                instance.region,
            )
        )
    elif (
        material is None
        and vault.operator_reachable is not False
        and all(k.exists is not None for k in vault.keys)
    ):
        findings.append(
            Finding(
                "KEY_MATERIAL_MISSING",
                Severity.WARNING,
                vault.resource_id,
                f"vault {vault.name} holds no key with {instance.name}'s protector "
                f"thumbprint {protector.thumbprint}",
                "without the same material in both vaults there is no second key path",
                "copy the key: backup from the protector's vault and restore "
                f"into {vault.name} (same subscription and geography), or import "
                "the same material",
                vault.region,
            )
        )
    return findings


def _instance_verdicts(snapshot: Snapshot, details: list[_PathDetail]) -> list[Finding]:
    findings = []
    for instance in snapshot.instances:
        protector = _protector(snapshot, instance)
        if protector is None:
            continue
        mine = [d for d in details if d.instance is instance]
        finding = _instance_verdict(instance, protector, mine)
        if finding is not None:
            findings.append(finding)
    return findings


def _instance_verdict(
    instance: Instance, protector: _Protector, mine: list[_PathDetail]
) -> Finding | None:
    usable = [d for d in mine if d.path.usable]
    primary = next((d for d in mine if d.vault is protector.vault), None)
    others = [d for d in mine if d is not primary]
    if primary is not None and primary.path.usable:
        if len(usable) == len(mine):
            return None
        broken = [d for d in mine if not d.path.usable]
        if all(all(c is not False for c in d.path.checks) for d in broken):
            return Finding(
                "KEY_PATH_UNCONFIRMED",
                Severity.WARNING,
                instance.resource_id,
                f"{instance.name}: the path to "
                f"{', '.join(d.vault.name for d in broken)} could not be confirmed",
                "an unconfirmed path may not carry the fallback when needed",
                "see the read failures listed, fix access, and check again",
                instance.region,
            )
        return Finding(
            "SINGLE_KEY_PATH",
            Severity.WARNING,
            instance.resource_id,
            f"{instance.name} has {len(usable)} working key path of {len(mine)}: "
            + "; ".join(_reasons(d) for d in broken),
            "one more failure makes its databases Inaccessible",
            "fix the broken path (see the findings for it)",
            instance.region,
        )
    fallback = [d for d in others if d.path.usable]
    if primary is not None and primary.network_only and fallback:
        return Finding(
            "RUNNING_ON_FALLBACK",
            Severity.WARNING,
            instance.resource_id,
            f"{instance.name} cannot reach {primary.vault.name} and falls back to "
            f"{fallback[0].vault.name}: {_reasons(primary)}",
            "the fallback is its last working path",
            "restore the path to the protector's vault (see its findings)",
            instance.region,
        )
    if primary is not None and all(c is not False for c in primary.path.checks):
        return Finding(
            "KEY_PATH_UNCONFIRMED",
            Severity.WARNING,
            instance.resource_id,
            f"{instance.name}: the path to its protector's vault "
            f"{primary.vault.name} could not be confirmed: {_reasons(primary)}",
            "an unconfirmed protector path may already be failing",
            "see the read failures listed, fix access, and check again",
            instance.region,
        )
    return Finding(
        "PROTECTOR_UNAVAILABLE",
        Severity.CRITICAL,
        instance.resource_id,
        f"{instance.name} cannot use its protector: "
        + root_cause(instance, mine, protector),
        "its databases refuse connections within about 10 minutes of the "
        "cause; after 30 minutes they no longer heal by themselves and need "
        "revalidation",
        _first_fix(primary, fallback),
        instance.region,
    )


def _reasons(detail: _PathDetail) -> str:
    return f"{detail.vault.name}: " + (", ".join(detail.path.reasons) or "unknown")


def root_cause(
    instance: Instance, mine: list[_PathDetail], protector: _Protector | None
) -> str:
    """Why the instance has no usable copy of its protector, in words."""
    primary = next(
        (d for d in mine if protector is not None and d.vault is protector.vault),
        None,
    )
    parts: list[str] = []
    if primary is None:
        return "its protector's vault is not part of this mesh; " + "; ".join(
            _reasons(d) for d in mine
        )
    parts.append(_reasons(primary))
    others = [d for d in mine if d is not primary]
    if not primary.network_only and primary.path.reachable is not False:
        parts.append(
            "no fallback: Azure falls back to the other vault only when the "
            "first is unreachable, not when access is revoked or the key is "
            "disabled, expired or deleted"
        )
    for other in others:
        if not other.path.usable:
            parts.append(_reasons(other))
    return "; ".join(parts)


def _first_fix(primary: _PathDetail | None, fallback: list[_PathDetail]) -> str:
    if primary is None:
        return "register and set a protector from one of the mesh's vaults"
    path = primary.path
    if path.permission is False:
        return (
            f"grant the instance identity get, wrapKey, unwrapKey on "
            f"{primary.vault.name}, then revalidate the protector"
        )
    if path.key_usable is False:
        return (
            f"make the key in {primary.vault.name} usable again (enable it, "
            "recover it, or fix its dates), then revalidate the protector"
        )
    if path.reachable is False:
        return (
            f"restore the network path to {primary.vault.name} (endpoint approved, "
            "no NSG deny on outbound 443), or to the other vault's copy"
        )
    if path.key_registered is False or path.same_thumbprint is False:
        return "register the protector's key on the instance, then revalidate"
    return "fix the findings for this instance's key paths, then revalidate"


# --------------------------------------------------------------------------
# Failover group


def _failover_group_findings(snapshot: Snapshot) -> list[Finding]:
    group = snapshot.failover_group
    if group is None:
        return (
            []
            if snapshot.all_errors()
            else [
                Finding(
                    "FAILOVER_GROUP_MISSING",
                    Severity.WARNING,
                    snapshot.mesh,
                    "the mesh's failover group was not found",
                    "without it the instances do not replicate; the mesh's "
                    "geo rules cannot be checked",
                    "create the instance failover group, or correct failover_group "
                    "in the config",
                )
            ]
        )
    primary = snapshot.instance(group.primary_instance or "")
    secondary = snapshot.instance(group.secondary_instance or "")
    if primary is None or secondary is None:
        if group.errors:
            return []
        return [
            Finding(
                "FAILOVER_GROUP_MISMATCH",
                Severity.WARNING,
                group.name,
                f"failover group {group.name} pairs {group.primary_instance} and "
                f"{group.secondary_instance}, not the mesh's instances",
                "the mesh checks instances that are not in this failover group",
                "correct the instances or failover_group in the config "
                "(tdemesh discover rebuilds it)",
            )
        ]
    findings: list[Finding] = []
    p = _protector(snapshot, primary)
    s = _protector(snapshot, secondary)
    if (p is None) != (s is None):
        cmk, other = (primary, secondary) if p else (secondary, primary)
        findings.append(
            Finding(
                "PROTECTOR_MIXED",
                Severity.WARNING,
                other.resource_id,
                f"{cmk.name} uses a customer-managed protector, {other.name} a "
                "service-managed one",
                "both instances of a failover group should use the same key material",
                f"set {other.name}'s protector to the mesh's key (secondary first)",
                other.region,
            )
        )
    findings.extend(_material_rule(snapshot, primary, p, secondary, "secondary"))
    findings.extend(_material_rule(snapshot, secondary, s, primary, "primary"))
    if p is not None and s is not None:
        findings.extend(_auto_rotation_rules(primary, p, secondary))
    findings.extend(_order_rule(snapshot, primary, p, secondary))
    return findings


def _holds_material(snapshot: Snapshot, instance: Instance, thumbprint: str) -> bool:
    return any(
        _registered_thumbprint(snapshot, key) == thumbprint
        for key in instance.keys or ()
    )


def _material_rule(
    snapshot: Snapshot,
    owner: Instance,
    protector: _Protector | None,
    partner: Instance,
    partner_role: str,
) -> list[Finding]:
    if protector is None or protector.thumbprint is None or partner.keys is None:
        return []
    if _holds_material(snapshot, partner, protector.thumbprint):
        return []
    kid = protector.uri.canonical if protector.uri else "the protector's key"
    return [
        Finding(
            "PARTNER_LACKS_KEY",
            Severity.WARNING,
            partner.resource_id,
            f"the {partner_role} {partner.name} has no registered key with "
            f"{owner.name}'s protector thumbprint {protector.thumbprint}",
            "after a failover it could not open the replicated databases "
            "(Azure: KeyMaterialNotFoundOnRemoteServer)",
            f"az sql mi key create -g {partner.resource_group} --mi {partner.name} "
            f"--kid {kid}",
            partner.region,
        )
    ]


def _auto_rotation_rules(
    primary: Instance, p: _Protector, secondary: Instance
) -> list[Finding]:
    assert primary.protector is not None and secondary.protector is not None
    on_primary = primary.protector.auto_rotation_enabled
    on_secondary = secondary.protector.auto_rotation_enabled
    if on_primary != on_secondary:
        on, off = (primary, secondary) if on_primary else (secondary, primary)
        return [
            Finding(
                "AUTO_ROTATION_ONE_SIDED",
                Severity.WARNING,
                off.resource_id,
                f"auto-rotation is on for {on.name} but off for {off.name}",
                "with auto-rotation on one side only the rotation workflow can "
                "enter an error state that also blocks manual rotation",
                "turn auto-rotation on for both instances, or off for both "
                "(az sql mi tde-key set ... --auto-rotation-enabled)",
                off.region,
            )
        ]
    if not on_primary or p.uri is None:
        return []
    for key in secondary.keys or ():
        uri = _parse(key.uri)
        if uri is not None and uri.same_key(p.uri):
            return []
    return [
        Finding(
            "AUTO_ROTATION_KEY_URI_DIFFERS",
            Severity.WARNING,
            secondary.resource_id,
            f"auto-rotation is on, but {secondary.name} has no key registered "
            f"from {p.uri.vault_url}/keys/{p.uri.name}, the primary's protector key",
            "with auto-rotation the secondary must hold the same key URI "
            "(Azure: SameKeyUriNotFoundOnRemoteServer)",
            f"register {p.uri.canonical} on {secondary.name}",
            secondary.region,
        )
    ]


def _order_rule(
    snapshot: Snapshot, primary: Instance, p: _Protector | None, secondary: Instance
) -> list[Finding]:
    """Secondary before primary: the registration times Azure reports."""
    if p is None or p.thumbprint is None:
        return []
    on_primary = [
        k
        for k in primary.keys or ()
        if _registered_thumbprint(snapshot, k) == p.thumbprint
    ]
    on_secondary = [
        k
        for k in secondary.keys or ()
        if _registered_thumbprint(snapshot, k) == p.thumbprint
    ]
    first_p = min((k.created for k in on_primary if k.created), default=None)
    first_s = min((k.created for k in on_secondary if k.created), default=None)
    if first_p is None or first_s is None or first_s <= first_p:
        return []
    return [
        Finding(
            "REGISTERED_PRIMARY_FIRST",
            Severity.INFO,
            secondary.resource_id,
            f"the protector's key was registered on the primary {primary.name} "
            f"({_at(first_p)}) before the secondary {secondary.name} ({_at(first_s)})",
            "Azure's order is secondary first; doing the primary first risks a "
            "window in which the secondary cannot open replicated databases",
            "next rotation: register and set the protector on the secondary "
            "first (the rotation runbook does)",
            secondary.region,
        )
    ]


# --------------------------------------------------------------------------
# Old versions and databases


def _old_version_findings(snapshot: Snapshot) -> list[Finding]:
    current = {
        protector.version.kid
        for instance in snapshot.instances
        if (protector := _protector(snapshot, instance)) and protector.version
    }
    findings = []
    for vault in snapshot.vaults:
        for key in vault.keys:
            for version in key.versions:
                if version.enabled is not False or version.kid in current:
                    continue
                findings.append(
                    Finding(
                        "OLD_VERSION_DISABLED",
                        Severity.WARNING,
                        version.kid,
                        f"{version.kid}, an earlier version of a TDE key, is disabled",
                        "backups and log files keep the protector they were "
                        "written with; a restore needing this version fails",
                        f"enable it again (az keyvault key set-attributes "
                        f"--vault-name {vault.name} -n {key.name} --version "
                        f"{version.version} --enabled true) and keep old versions "
                        "enabled while backups may need them",
                        vault.region,
                    )
                )
    return findings


def _database_findings(snapshot: Snapshot, details: list[_PathDetail]) -> list[Finding]:
    findings = []
    for instance in snapshot.instances:
        dead = [db for db in instance.databases or () if db.inaccessible]
        if not dead:
            continue
        protector = _protector(snapshot, instance)
        mine = [d for d in details if d.instance is instance]
        cause = root_cause(instance, mine, protector)
        for db in dead:
            azure = ", ".join(
                part
                for part in (
                    db.inaccessibility_reason_kind,
                    db.inaccessibility_error_code,
                    db.inaccessibility_description,
                )
                if part
            )
            findings.append(
                Finding(
                    "DATABASE_INACCESSIBLE",
                    Severity.CRITICAL,
                    f"{instance.resource_id}/databases/{db.name}",
                    f"database {db.name} on {instance.name} is Inaccessible"
                    + (f" (Azure: {azure})" if azure else "")
                    + f". Root cause: {cause}",
                    "it refuses every connection; after the auto-heal window it "
                    "needs revalidation, and in a failover group its geo link "
                    "is broken",
                    "fix the root cause, then revalidate the protector: "
                    "`tdemesh run recover` (it refuses while the cause is still "
                    "there), or in PowerShell "
                    f"Invoke-AzSqlInstanceTransparentDataEncryptionProtector"
                    f"Revalidation -ResourceGroupName {instance.resource_group} "
                    f"-InstanceName {instance.name}"
                    + (
                        "; a geo-secondary's database cannot be recovered once "
                        "the link is broken: drop it and re-seed it from the "
                        "primary"
                        if snapshot.role_of(instance.name) == "Secondary"
                        else ""
                    ),
                    instance.region,
                )
            )
    return findings


# --------------------------------------------------------------------------
# Deadlines


def _deadlines(snapshot: Snapshot, details: list[_PathDetail]) -> list[Deadline]:
    deadlines = []
    for instance in snapshot.instances:
        protector = _protector(snapshot, instance)
        if protector is None:
            continue
        mine = [d for d in details if d.instance is instance]
        primary = next((d for d in mine if d.vault is protector.vault), None)
        if primary is None or primary.path.usable:
            continue
        fallback = any(d.path.usable for d in mine if d is not primary)
        if primary.network_only and fallback:
            continue
        if all(c is not False for c in primary.path.checks):
            continue
        since, basis = _cause_time(snapshot, primary)
        inaccessible = any(db.inaccessible for db in instance.databases or ())
        if not inaccessible:
            deadlines.append(
                Deadline(
                    DeadlineKind.KEY_CHECK,
                    instance.name,
                    since + KEY_CHECK_INTERVAL,
                    f"at the latest 10 min after {basis}",
                )
            )
            deadlines.append(
                Deadline(
                    DeadlineKind.INACCESSIBLE,
                    instance.name,
                    since + INACCESSIBLE_AFTER,
                    f"at the earliest 10 min after {basis}; at the latest 10 min "
                    "after the key check",
                )
            )
        deadlines.append(
            Deadline(
                DeadlineKind.AUTO_HEAL,
                instance.name,
                since + AUTO_HEAL_WINDOW,
                f"at the earliest 30 min after {basis}",
            )
        )
    return deadlines


def _cause_time(snapshot: Snapshot, detail: _PathDetail) -> tuple[datetime, str]:
    """When the cause began, from a timestamp Azure gives where there is one."""
    version = detail.version
    if version is not None:
        if version.enabled is False and version.updated is not None:
            return version.updated, (
                f"the key was disabled ({_at(version.updated)}, Key Vault's "
                "'updated' time)"
            )
        if version.expires is not None and version.expires <= snapshot.now:
            return version.expires, f"the key expired ({_at(version.expires)})"
    return snapshot.now, (
        f"this probe ({_at(snapshot.now)}; Azure gives no earlier time for this "
        "cause, so the deadline may be sooner)"
    )
