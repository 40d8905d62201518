"""The managed instances' TDE behaviour, played on the simulated clock.

`tick(world)` brings every instance up to `world.clock.now()`. Each instance
has a small timeline of due moments (the next key check, the grace period
before its databases go Inaccessible, the end of the auto-heal window, an
auto-rotation pickup, a failover role switch); tick processes them in time
order, so one large clock jump plays out the same as many small ones.

The rules, from the domain notes:
- every `key_check_interval` the instance tries its protector;
- if the protector's vault is unreachable (network, outage) it falls back to
  a registered key with the same thumbprint in another vault; a revoked
  permission, a disabled, expired or deleted key, or a missing identity is
  deliberate and gets no fallback;
- with no usable copy, the databases go Inaccessible `inaccessible_after`
  after the check that found the loss; access back within `auto_heal_window`
  heals at the next check, after that only revalidation does;
- a revoked permission keeps working for `permission_propagation`;
- with auto-rotation on, a newer enabled version of the protector key is
  adopted `auto_rotation_pickup` after a check first sees it;
- a failover lands (roles swap) `role_switch` after it was asked for; a new
  primary without the material of the old primary's protector (only a forced
  failover gets that far) cannot unwrap the databases' keys, and loses access
  from the switch on, until that material is registered on it.

A network/5xx-type loss keeps the databases online for `network_buffer`
(Azure documents 24 hours) instead of `inaccessible_after`, stays healable
while it lasts, and a failover inside it loses the encryption cache: the
databases of an instance in that buffer go Inaccessible at the role switch.

# TODO: `network_buffer` defaults to 0, not Azure's 24 hours, so that the
# default scenario keeps the timeline its drills, assessments and tests are
# built on (a cut of both paths makes databases Inaccessible in ten minutes).
# The cost: on the simulator an NSG or outage drill looks far more urgent than
# the same cut on Azure, and the admin API cannot set the timer yet, so only
# in-process tests play the buffer.

tick runs before every request, so the common path (nothing due) is a few
comparisons per instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from azuresim import lro
from azuresim.permissions import key_permissions
from azuresim.reachability import path_open
from azuresim.state import (
    FailoverGroup,
    InstanceKey,
    Key,
    KeyVersion,
    ManagedInstance,
    Vault,
    World,
)

REQUIRED_PERMISSIONS = frozenset({"get", "wrapKey", "unwrapKey"})
SUPPORTED_KEY_TYPES = frozenset({"RSA", "RSA-HSM"})
SUPPORTED_KEY_SIZES = frozenset({2048, 3072})
TDE_REASON = "TransparentDataEncryption"
_Action = Callable[[World, ManagedInstance, datetime], None]
# A clock jump of years must not turn one tick into millions of checks.
_MAX_STEPS = 2000


@dataclass(frozen=True)
class KeyUri:
    vault: Vault | None
    host: str
    key_name: str
    version: str


@dataclass(frozen=True)
class KeyProblem:
    """Why an instance cannot use a key right now, in Azure's words.

    `network` problems (unreachable vault) allow the fallback to a
    same-thumbprint copy; the others are deliberate and do not.
    """

    code: str
    message: str
    network: bool = False
    status: int = 400


def parse_key_uri(world: World, uri: str) -> KeyUri | None:
    """Split `https://<vault host>/keys/<name>/<version>`; None if malformed.

    The vault comes from the simulator's port mapping (127.0.0.1:port) or
    from an Azure-style `<vault>.vault.azure.net` host name.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    segments = [s for s in parts.path.split("/")]
    if len(segments) < 3 or segments[0] != "" or segments[1] != "keys":
        return None
    key_name = segments[2]
    version = segments[3] if len(segments) > 3 else ""
    if not key_name or len(segments) > 5 or (len(segments) == 5 and segments[4]):
        return None
    vault = None
    if port is not None:
        vault = world.vault_by_port(port)
    if vault is None:
        vault = world.vaults.get(parts.hostname.split(".")[0])
    host = parts.netloc
    return KeyUri(vault=vault, host=host, key_name=key_name, version=version)


def key_problem(
    world: World, instance: ManagedInstance, uri: str, at: datetime | None = None
) -> KeyProblem | None:
    """What stops `instance` from wrapping and unwrapping with the key at
    `uri` now (or at `at`), or None when it can."""
    moment = at or world.clock.now()
    parsed = parse_key_uri(world, uri)
    if parsed is None or not parsed.version:
        return KeyProblem(
            "AzureKeyVaultMalformedVaultUri",
            f"The provided Key Vault uri '{uri}' is not valid; a managed instance "
            "needs a versioned key identifier https://<vault>/keys/<name>/<version>.",
        )
    vault = parsed.vault
    if vault is None:
        return KeyProblem(
            "AkvHostNotResolvingFromNode",
            f"The Azure Key Vault host '{parsed.host}' cannot be resolved from the "
            f"managed instance {instance.name}.",
        )
    if instance.identity_type == "None" or not instance.principal_id:
        return KeyProblem(
            "AzureKeyVaultNoServerIdentity",
            f"The managed instance {instance.name} has no managed identity; "
            "enable its system-assigned identity and grant it access to "
            f"{vault.name}.",
            status=401,
        )

    reachable, why = path_open(world, instance, vault)
    if not reachable:
        outage = vault.name in world.outages
        return KeyProblem(
            "AzureKeyVaultConnectionFailed"
            if outage
            else "AkvEndpointNotReachableFromNode",
            f"The managed instance {instance.name} cannot reach Azure Key Vault "
            f"{vault.name}: {why}.",
            network=True,
            status=503 if outage else 400,
        )

    missing = REQUIRED_PERMISSIONS - key_permissions(
        world, vault, instance.principal_id
    )
    if missing and not _revocation_lingers(world, instance, vault, moment):
        return KeyProblem(
            "AzureKeyVaultMissingPermissions",
            f"The managed instance {instance.name} (identity {instance.principal_id}) "
            f"lacks the key permissions {', '.join(sorted(missing))} on "
            f"{vault.name}; grant Key Vault Crypto Service Encryption User or an "
            "access policy with get, wrapKey, unwrapKey.",
            status=401,
        )

    if not missing:
        instance.key_access.permission_lost_since.pop(vault.name, None)
    return _version_problem(vault, parsed, moment)


def _revocation_lingers(
    world: World, instance: ManagedInstance, vault: Vault, moment: datetime
) -> bool:
    """A revoked permission keeps working for `permission_propagation`
    seconds after the instance first meets the revocation."""
    delay = world.timers.permission_propagation
    if delay <= 0:
        return False
    since = instance.key_access.permission_lost_since.setdefault(vault.name, moment)
    return (moment - since).total_seconds() < delay


def _version_problem(
    vault: Vault, parsed: KeyUri, moment: datetime
) -> KeyProblem | None:
    key: Key | None = vault.keys.get(parsed.key_name)
    version: KeyVersion | None = key.version(parsed.version) if key else None
    if key is None or version is None:
        deleted = parsed.key_name in vault.deleted_keys
        what = "was deleted" if deleted else "was not found"
        return KeyProblem(
            "AzureKeyVaultKeyNameNotFound",
            f"The key '{parsed.key_name}' version '{parsed.version}' {what} in "
            f"Azure Key Vault {vault.name}.",
            status=409,
        )
    if version.kty not in SUPPORTED_KEY_TYPES or version.key_size not in (
        SUPPORTED_KEY_SIZES
    ):
        return KeyProblem(
            "AzureKeyVaultRsaKeyNotSupported",
            f"The key '{parsed.key_name}' in {vault.name} is {version.kty} "
            f"{version.key_size}; a TDE protector must be RSA or RSA-HSM, "
            "2048 or 3072 bits.",
        )
    if not version.enabled:
        return KeyProblem(
            "AzureKeyVaultKeyDisabled",
            f"The key '{parsed.key_name}' version '{parsed.version}' in "
            f"{vault.name} is disabled.",
        )
    if version.not_before is not None and version.not_before > moment:
        return KeyProblem(
            "AzureKeyVaultKeyDisabled",
            f"The key '{parsed.key_name}' in {vault.name} is not active until "
            f"{version.not_before.isoformat()}.",
        )
    if version.expires is not None and version.expires <= moment:
        return KeyProblem(
            "AzureKeyVaultInvalidExpirationDate",
            f"The key '{parsed.key_name}' in {vault.name} expired on "
            f"{version.expires.isoformat()}.",
        )
    if not {"wrapKey", "unwrapKey"} <= set(version.key_ops):
        return KeyProblem(
            "AkvKeyOperationNotAllowed",
            f"The key '{parsed.key_name}' in {vault.name} does not permit "
            "wrapKey and unwrapKey.",
        )
    return None


# --------------------------------------------------------------------------
# The instance's view of its protector


@dataclass(frozen=True)
class Verdict:
    """The outcome of one key check."""

    key_name: str | None  # the key it can use (protector or fallback)
    using_fallback: bool
    problem: KeyProblem | None  # why the protector itself failed
    protector_uri: str | None


def evaluate(world: World, instance: ManagedInstance, at: datetime) -> Verdict:
    protector = instance.keys.get(instance.protector.server_key_name)
    if protector is None:
        missing = KeyProblem(
            "ServerKeyNotFound",
            f"The protector key {instance.protector.server_key_name} is not "
            f"registered on {instance.name}.",
        )
        return Verdict(None, False, missing, None)

    problem = key_problem(world, instance, protector.uri, at)
    if problem is None:
        return _unwrapping(
            world, instance, at, Verdict(protector.name, False, None, protector.uri)
        )
    if problem.network:
        for candidate in same_material(instance, protector):
            if key_problem(world, instance, candidate.uri, at) is None:
                verdict = Verdict(candidate.name, True, problem, protector.uri)
                return _unwrapping(world, instance, at, verdict)
    return Verdict(None, False, problem, protector.uri)


def _unwrapping(
    world: World, instance: ManagedInstance, at: datetime, verdict: Verdict
) -> Verdict:
    """`verdict`, unless the databases are still wrapped by a protector
    whose material the instance has no usable registered copy of."""
    access = instance.key_access
    thumbprint = access.wrapped_by_thumbprint
    if thumbprint is None or any(
        k.thumbprint == thumbprint and key_problem(world, instance, k.uri, at) is None
        for k in instance.keys.values()
    ):
        return verdict
    # TODO: the code is the REST catalogue's for a partner without the key
    # material; Azure's exact inaccessibility reason after such a failover is
    # not documented, so this one is descriptive, not recorded.
    missing = KeyProblem(
        "KeyMaterialNotFoundOnRemoteServer",
        f"The managed instance {instance.name} cannot unwrap its databases' "
        f"encryption keys: they are protected by {access.wrapped_by_uri} "
        f"(thumbprint {thumbprint}), whose material is not registered on it. "
        "Register a key with that material and revalidate.",
    )
    return Verdict(None, False, missing, access.wrapped_by_uri)


def has_material(instance: ManagedInstance, thumbprint: str) -> bool:
    """Whether a key with that material is registered on the instance."""
    return any(k.thumbprint == thumbprint for k in instance.keys.values())


def same_material(instance: ManagedInstance, key: InstanceKey) -> list[InstanceKey]:
    return [
        other
        for other in instance.keys.values()
        if other.name != key.name and other.thumbprint == key.thumbprint
    ]


def check_now(world: World, instance: ManagedInstance) -> None:
    """A key check outside the schedule (after a protector change, a
    revalidation); the schedule continues from here."""
    now = world.clock.now()
    _check(world, instance, now)
    instance.key_access.next_check = now + _seconds(world.timers.key_check_interval)


def revalidate(world: World, instance: ManagedInstance) -> bool:
    """Retry the protector now; heal Inaccessible databases if a usable copy
    is reachable. False when there is none (nothing healed)."""
    now = world.clock.now()
    verdict = evaluate(world, instance, now)
    if verdict.key_name is None:
        return False
    _record_usable(world, instance, verdict, now)
    _heal(world, instance, now, how="revalidation")
    return True


# --------------------------------------------------------------------------
# The clock


def tick(world: World) -> None:
    """Bring every instance, failover group and operation up to now."""
    lro.settle(world)
    now = world.clock.now()
    for group in world.failover_groups.values():
        if group.pending_switch is not None and group.pending_switch[1] <= now:
            switch_roles(world, group)
    for instance in world.instances.values():
        _advance(world, instance, now)


def switch_roles(world: World, group: FailoverGroup) -> None:
    """Land a pending failover: the named instance becomes primary."""
    if group.pending_switch is None:
        return
    new_primary, at = group.pending_switch
    group.pending_switch = None
    if group.primary_instance != new_primary:
        group.secondary_instance = group.primary_instance
        group.primary_instance = new_primary
    _event(
        world,
        at,
        "role-switch",
        failover_group=group.name,
        primary=group.primary_instance,
        secondary=group.secondary_instance,
    )
    old = world.instances.get(group.secondary_instance)
    new = world.instances.get(group.primary_instance)
    for instance in (old, new):
        if instance is not None and _buffered(world, instance):
            _lose_cache(world, instance, at)
    if old is not None and new is not None:
        _take_over_wrapping(world, new, old, at)


def _buffered(world: World, instance: ManagedInstance) -> bool:
    """Whether the instance is inside a network/5xx-type loss's buffer."""
    access = instance.key_access
    return (
        access.lost_at is not None
        and access.lost_to_network
        and world.timers.network_buffer > 0
    )


def _lose_cache(world: World, instance: ManagedInstance, at: datetime) -> None:
    """A failover inside the buffer drops the cached keys the databases were
    running on; with no reachable copy they go Inaccessible at once."""
    if _inaccessible(instance):
        return
    _event(world, at, "encryption-cache-lost", instance=instance.name)
    _go_inaccessible(world, instance, at)


def _take_over_wrapping(
    world: World, new: ManagedInstance, old: ManagedInstance, at: datetime
) -> None:
    """The new primary serves databases whose keys the old primary's
    protector wraps; without that material it loses access at once."""
    if old.protector.server_key_type != "AzureKeyVault":
        return
    wrapping = old.keys.get(old.protector.server_key_name)
    if wrapping is None or has_material(new, wrapping.thumbprint):
        return
    new.key_access.wrapped_by_thumbprint = wrapping.thumbprint
    new.key_access.wrapped_by_uri = wrapping.uri
    if new.protector.server_key_type == "AzureKeyVault":
        _check(world, new, at)


def _advance(world: World, instance: ManagedInstance, now: datetime) -> None:
    access = instance.key_access
    if instance.protector.server_key_type != "AzureKeyVault":
        return
    if access.next_check is None:
        access.next_check = now
    for _ in range(_MAX_STEPS):
        moment, action = _next_due(world, instance)
        if moment is None or moment > now:
            return
        action(world, instance, moment)
    # Far behind: resume the schedule from now instead of replaying it all.
    access.next_check = now


def _next_due(
    world: World, instance: ManagedInstance
) -> tuple[datetime | None, _Action]:
    access = instance.key_access
    timers = world.timers
    due: list[tuple[datetime, int, _Action]] = []
    if access.next_check is not None:
        due.append((access.next_check, 0, _scheduled_check))
    if access.lost_at is not None:
        grace, window = timers.inaccessible_after, timers.auto_heal_window
        if _buffered(world, instance):
            grace, window = timers.network_buffer, max(timers.network_buffer, window)
        if not _inaccessible(instance):
            due.append((access.lost_at + _seconds(grace), 1, _go_inaccessible))
        if access.healable:
            due.append((access.lost_at + _seconds(window), 2, _close_heal_window))
    if access.rotation_seen_at is not None and access.lost_at is None:
        due.append(
            (
                access.rotation_seen_at + _seconds(timers.auto_rotation_pickup),
                3,
                _pick_up_rotation,
            )
        )
    if not due:
        return None, _scheduled_check
    moment, _, action = min(due, key=lambda item: (item[0], item[1]))
    return moment, action


def _scheduled_check(world: World, instance: ManagedInstance, at: datetime) -> None:
    _check(world, instance, at)
    instance.key_access.next_check = at + _seconds(world.timers.key_check_interval)


def _check(world: World, instance: ManagedInstance, at: datetime) -> None:
    access = instance.key_access
    access.last_check = at
    verdict = evaluate(world, instance, at)
    if verdict.key_name is not None:
        _record_usable(world, instance, verdict, at)
        if access.lost_at is not None and access.healable:
            _heal(world, instance, at, how="auto-heal")
        _watch_rotation(world, instance, at)
        return

    problem = verdict.problem
    assert problem is not None
    access.lost_reason_code = problem.code
    access.lost_reason = problem.message
    access.lost_to_network = problem.network
    access.active_key_name = None
    access.using_fallback = False
    if access.lost_at is None:
        access.lost_at = at
        access.healable = True
        _event(
            world,
            at,
            "key-lost",
            instance=instance.name,
            code=problem.code,
            reason=problem.message,
        )


def _record_usable(
    world: World, instance: ManagedInstance, verdict: Verdict, at: datetime
) -> None:
    access = instance.key_access
    if verdict.using_fallback and not access.using_fallback:
        problem = verdict.problem
        _event(
            world,
            at,
            "fallback",
            instance=instance.name,
            key=verdict.key_name,
            reason=problem.message if problem else "",
        )
    elif not verdict.using_fallback and access.using_fallback:
        _event(
            world, at, "fallback-ended", instance=instance.name, key=verdict.key_name
        )
    access.active_key_name = verdict.key_name
    access.using_fallback = verdict.using_fallback
    if access.lost_at is None:
        access.lost_reason_code = None
        access.lost_reason = None


def _heal(world: World, instance: ManagedInstance, at: datetime, *, how: str) -> None:
    access = instance.key_access
    was_inaccessible = _inaccessible(instance)
    for database in instance.databases.values():
        if database.status == "Inaccessible":
            database.status = "Online"
        database.inaccessibility_reason_kind = None
        database.inaccessibility_error_code = None
        database.inaccessibility_description = None
        database.inaccessibility_key_uri = None
    lost = access.lost_at is not None
    # Accessible again: the databases' keys are re-wrapped by its own
    # protector [inference].
    access.wrapped_by_thumbprint = None
    access.wrapped_by_uri = None
    access.lost_at = None
    access.lost_reason_code = None
    access.lost_reason = None
    access.lost_to_network = False
    access.healable = True
    if lost or was_inaccessible:
        _event(world, at, "healed", instance=instance.name, how=how)


def _go_inaccessible(world: World, instance: ManagedInstance, at: datetime) -> None:
    access = instance.key_access
    protector = instance.keys.get(instance.protector.server_key_name)
    key_uri = access.wrapped_by_uri or (protector.uri if protector else None)
    for database in instance.databases.values():
        database.status = "Inaccessible"
        database.inaccessibility_reason_kind = TDE_REASON
        database.inaccessibility_error_code = access.lost_reason_code
        database.inaccessibility_description = access.lost_reason
        database.inaccessibility_key_uri = key_uri
    _event(
        world,
        at,
        "databases-inaccessible",
        instance=instance.name,
        code=access.lost_reason_code,
        reason=access.lost_reason,
    )


def _close_heal_window(world: World, instance: ManagedInstance, at: datetime) -> None:
    instance.key_access.healable = False
    _event(world, at, "auto-heal-window-passed", instance=instance.name)


def _inaccessible(instance: ManagedInstance) -> bool:
    return any(d.status == "Inaccessible" for d in instance.databases.values())


# --------------------------------------------------------------------------
# Auto-rotation


def _watch_rotation(world: World, instance: ManagedInstance, at: datetime) -> None:
    """Note a newer version of the protector key; adopt it after the pickup
    delay (the vault's latest enabled version)."""
    access = instance.key_access
    newer = _newer_version(world, instance)
    if not instance.protector.auto_rotation_enabled or newer is None:
        access.rotation_candidate = None
        access.rotation_seen_at = None
        return
    if access.rotation_candidate != newer:
        access.rotation_candidate = newer
        access.rotation_seen_at = at


def _newer_version(world: World, instance: ManagedInstance) -> str | None:
    protector = instance.keys.get(instance.protector.server_key_name)
    parsed = parse_key_uri(world, protector.uri) if protector else None
    if parsed is None or parsed.vault is None:
        return None
    key = parsed.vault.keys.get(parsed.key_name)
    if key is None:
        return None
    enabled = [v for v in key.versions if v.enabled]
    if not enabled or enabled[-1].version == parsed.version:
        return None
    return enabled[-1].version


def _pick_up_rotation(world: World, instance: ManagedInstance, at: datetime) -> None:
    access = instance.key_access
    candidate = access.rotation_candidate
    access.rotation_candidate = None
    access.rotation_seen_at = None
    protector = instance.keys.get(instance.protector.server_key_name)
    parsed = parse_key_uri(world, protector.uri) if protector else None
    if candidate is None or parsed is None or parsed.vault is None:
        return
    vault = parsed.vault
    key = vault.keys.get(parsed.key_name)
    version = key.version(candidate) if key else None
    if version is None or _newer_version(world, instance) != candidate:
        return
    name = f"{vault.name}_{parsed.key_name}_{candidate}"
    uri = f"{vault.url}/keys/{parsed.key_name}/{candidate}"
    if key_problem(world, instance, uri, at) is not None:
        return
    instance.keys.setdefault(
        name, InstanceKey(name=name, uri=uri, thumbprint=version.thumbprint, created=at)
    )
    instance.protector.server_key_name = name
    access.active_key_name = name
    _event(world, at, "auto-rotation", instance=instance.name, key=name)


# --------------------------------------------------------------------------


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _event(world: World, at: datetime, kind: str, **details: object) -> None:
    world.events.append({"at": at.isoformat(), "kind": kind, **details})
