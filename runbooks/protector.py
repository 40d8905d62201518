"""Steps shared by setup and rotation: put one key's material into both
vaults, check the two copies, register both copies on each instance
(secondary first), then make each instance's own-region copy its protector
(secondary first).

Values the steps pass on, remembered in the run (and so in the journal):
`key_name`, `uri:<vault>` for each vault's copy, `thumbprint`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from mesh.errors import AccessDenied
from mesh.keyuri import parse_key_uri, server_key_name
from mesh.snapshot import KeyVersion
from runbooks.common import estate_of, primary, secondary
from runbooks.engine import RunContext
from runbooks.errors import Refused, StepFailed
from runbooks.keys import SIZES, load_private_key
from runbooks.model import Danger, Step


def key_name(ctx: RunContext) -> str:
    return str(ctx.values.get("key_name") or ctx.parameters.get("key_name", ""))


def uri_of(ctx: RunContext, vault: str) -> str:
    return str(ctx.values[f"uri:{vault}"])


# -- getting the material into both vaults ---------------------------------


def create_step(ctx: RunContext, size: int) -> Step:
    estate = estate_of(ctx)
    vault = estate.vault(primary(ctx))
    name = key_name(ctx)

    def act(c: RunContext) -> None:
        estate.create_key(c, vault, name, size)

    def done(c: RunContext) -> bool:
        return estate.vault_key(c, vault, name) is not None

    return Step(
        id=f"create-{vault}-{name}",
        title=f"Create the key {name} in {vault}",
        why="the protector's material is made in the primary's vault and copied",
        danger=Danger.CHANGE,
        operation="keys.create_rsa_key",
        target=f"{vault}/keys/{name}",
        action=act,
        is_done=done,
        verify=lambda c: _must_exist(c, vault, name),
        arguments=lambda c: {"name": name, "kty": "RSA", "size": size},
    )


def copy_step(ctx: RunContext) -> Step:
    estate = estate_of(ctx)
    source, target = estate.vault(primary(ctx)), estate.vault(secondary(ctx))
    name = key_name(ctx)

    def act(c: RunContext) -> None:
        estate.copy_key(c, source, target, name)

    def done(c: RunContext) -> bool:
        copy = estate.vault_key(c, target, name)
        if copy is None:
            return False
        original = estate.vault_key(c, source, name)
        if original is None or copy.thumbprint != original.thumbprint:
            raise Refused(
                "A different key has this name",
                f"vault {target} already holds a key {name} with other material; "
                "a restore would fail and the copies would not match",
                "Choose another key name with -p key_name=NAME.",
            )
        return True

    return Step(
        id=f"copy-{name}-to-{target}",
        title=f"Copy {name} from {source} to {target} by backup and restore",
        why="the secondary's vault must hold the same material, all versions",
        danger=Danger.CHANGE,
        operation="keys.backup_key + keys.restore_key_backup",
        target=f"{target}/keys/{name}",
        action=act,
        is_done=done,
        verify=lambda c: _must_exist(c, target, name),
        arguments=lambda c: {"from": source, "name": name},
    )


def import_step(ctx: RunContext, region: str, route: str, key_file: str) -> Step:
    """Import the operator's material; a new version if the name exists."""
    estate = estate_of(ctx)
    vault = estate.vault(region)
    name = key_name(ctx)

    def act(c: RunContext) -> None:
        material = load_private_key(route, key_file)
        estate.import_key(c, vault, name, material, hsm=route == "hsm")

    def done(c: RunContext) -> bool:
        current = estate.vault_key(c, vault, name)
        wanted = str(c.values.get("file_thumbprint", ""))
        return current is not None and current.thumbprint == wanted

    return Step(
        id=f"import-{vault}-{name}",
        title=f"Import the key material into {vault} as {name}",
        why="both vaults must hold the same material (same thumbprint)",
        danger=Danger.CHANGE,
        operation="keys.import_key",
        target=f"{vault}/keys/{name}",
        action=act,
        is_done=done,
        verify=lambda c: _must_exist(c, vault, name),
        arguments=lambda c: {
            "name": name,
            "kty": "RSA-HSM" if route == "hsm" else "RSA",
            "from": key_file,
        },
    )


def _must_exist(ctx: RunContext, vault: str, name: str) -> None:
    if estate_of(ctx).vault_key(ctx, vault, name) is None:
        raise StepFailed(
            "Key missing",
            f"vault {vault} has no key {name} after the step",
            "Check the vault's keys, then resume the run.",
        )


# -- checking the copies ---------------------------------------------------


def validate_step(ctx: RunContext) -> Step:
    estate = estate_of(ctx)
    name = key_name(ctx)
    vaults = [estate.vault(primary(ctx)), estate.vault(secondary(ctx))]

    def act(c: RunContext) -> None:
        prints = {}
        for vault in vaults:
            key = estate.vault_key(c, vault, name)
            if key is None:
                raise StepFailed("Key missing", f"{vault} has no key {name}", "")
            _check_key(vault, name, key)
            _unwraps(c, vault, key.kid)
            prints[vault] = key.thumbprint
            c.remember(f"uri:{vault}", key.kid)
        if len(set(prints.values())) != 1:
            raise StepFailed(
                "The copies differ",
                f"key {name} has thumbprint {prints[vaults[0]]} in {vaults[0]} "
                f"and {prints[vaults[1]]} in {vaults[1]}; an instance falls back "
                "only to the same material",
                "Put the same material into both vaults (one route), then "
                "resume the run.",
            )
        c.remember("thumbprint", prints[vaults[0]])
        c.log(f"both copies of {name} carry thumbprint {prints[vaults[0]]}")

    return Step(
        id=f"validate-{name}",
        title=f"Check both copies of {name}",
        why="RSA 2048/3072, enabled, not expired, recoverable, unwraps, and "
        "the same thumbprint in both vaults",
        danger=Danger.READ,
        operation="keys.get_key",
        target=" and ".join(f"{v}/keys/{name}" for v in vaults),
        action=act,
    )


def _unwraps(ctx: RunContext, vault: str, kid: str) -> None:
    """Prove the copy unwraps, when the operator may use it to; the
    instances' own access is what the assessment checks."""
    try:
        estate_of(ctx).unwrap_check(ctx, vault, kid)
    except AccessDenied:
        ctx.log(
            f"could not prove {vault}'s copy unwraps: the operator lacks "
            "wrapKey/unwrapKey there (the instances' access is checked apart)",
            "warning",
        )


def _check_key(vault: str, name: str, key: KeyVersion) -> None:
    problems = []
    if key.kty not in ("RSA", "RSA-HSM"):
        problems.append(f"type {key.kty} (RSA or RSA-HSM needed)")
    if key.size not in SIZES:
        problems.append(f"size {key.size} bits (2048 or 3072 needed)")
    if key.enabled is False:
        problems.append("it is disabled")
    if key.expires is not None and key.expires <= datetime.now(UTC):
        problems.append(f"it expired at {key.expires:%Y-%m-%d %H:%M}")
    level = key.recovery_level or ""
    if level and "Purgeable" in level:
        problems.append(
            f"recovery level {level} (soft delete and purge protection needed)"
        )
    if problems:
        raise StepFailed(
            "The key cannot be a TDE protector",
            f"{vault}/keys/{name}: " + "; ".join(problems),
            "Fix the key (or the vault's protections), then resume the run.",
        )


# -- registering and switching ---------------------------------------------


def expected_key_name(ctx: RunContext, vault: str) -> str:
    uri = parse_key_uri(uri_of(ctx, vault))
    return server_key_name(vault, uri.name, uri.version or "")


def register_steps(ctx: RunContext) -> list[Step]:
    """Both copies on the secondary, then both on the primary."""
    estate = estate_of(ctx)
    steps = []
    for region in (secondary(ctx), primary(ctx)):
        for vault_region in (region, estate.other(region)):
            steps.append(_register_step(ctx, region, estate.vault(vault_region)))
    return steps


def _register_step(ctx: RunContext, region: str, vault: str) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(region)
    own = vault == estate.vault(region)

    def registered(c: RunContext) -> bool:
        wanted = parse_key_uri(uri_of(c, vault))
        return any(
            parse_key_uri(k.uri).same_version(wanted)
            for k in estate.registered_keys(c, region)
        )

    def check(c: RunContext) -> None:
        if not registered(c):
            raise StepFailed(
                "Key not registered",
                f"{instance} does not list {uri_of(c, vault)} after registering it",
                "Look at the instance's keys, then resume the run.",
            )

    return Step(
        id=f"register-{vault}-on-{instance}",
        title=f"Register {vault}'s copy on {instance}",
        why=(
            "its own region's copy becomes its protector"
            if own
            else "the other region's copy is its fallback when its vault is lost"
        ),
        danger=Danger.CHANGE,
        operation="sql.managed_instance_keys.begin_create_or_update",
        target=f"{instance}/keys/{vault}_{key_name(ctx)}_<version>",
        action=lambda c: estate.register_key(c, region, uri_of(c, vault)),
        is_done=registered,
        verify=check,
        arguments=lambda c: {"serverKeyType": "AzureKeyVault", "uri": uri_of(c, vault)},
    )


def protector_steps(ctx: RunContext, auto_rotation: bool) -> list[Step]:
    """The secondary first, then the primary: each from its own vault."""
    return [
        protector_step(ctx, secondary(ctx), auto_rotation),
        protector_step(ctx, primary(ctx), auto_rotation),
    ]


def protector_step(ctx: RunContext, region: str, auto_rotation: bool) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(region)
    vault = estate.vault(region)
    is_primary = region == primary(ctx)

    def current(c: RunContext) -> Mapping[str, object]:
        return estate.protector(c, region)

    def done(c: RunContext) -> bool:
        now = current(c)
        return (
            str(now.get("serverKeyName", "")).lower()
            == expected_key_name(c, vault).lower()
            and bool(now.get("autoRotationEnabled")) == auto_rotation
        )

    def act(c: RunContext) -> None:
        if is_primary:
            _secondary_holds_the_key(c)
        estate.set_protector(c, region, expected_key_name(c, vault), auto_rotation)

    def check(c: RunContext) -> None:
        if not done(c):
            raise StepFailed(
                "Protector not switched",
                f"{instance}'s protector is {current(c).get('serverKeyName')}",
                "Look at the instance's TDE settings, then resume the run.",
            )

    return Step(
        id=f"protector-{instance}",
        title=f"Make {vault}'s copy the protector of {instance}",
        why=(
            "the primary switches last, once the secondary can read its key"
            if is_primary
            else "the secondary switches first, so it never lacks the primary's key"
        ),
        danger=Danger.CHANGE,
        operation="sql.managed_instance_encryption_protectors.begin_create_or_update",
        target=f"{instance}/encryptionProtector/current",
        action=act,
        is_done=done,
        verify=check,
        arguments=lambda c: {
            "serverKeyType": "AzureKeyVault",
            "serverKeyName": expected_key_name(c, vault),
            "autoRotationEnabled": auto_rotation,
        },
    )


def _secondary_holds_the_key(ctx: RunContext) -> None:
    """Refuse to switch the primary before the secondary holds the key."""
    estate = estate_of(ctx)
    region = secondary(ctx)
    held = {k.uri.lower() for k in estate.registered_keys(ctx, region)}
    missing = [
        estate.vault(r)
        for r in estate.regions
        if parse_key_uri(uri_of(ctx, estate.vault(r))).canonical.lower()
        not in {parse_key_uri(u).canonical.lower() for u in held}
    ]
    if missing:
        raise Refused(
            "The secondary does not hold the key yet",
            f"{estate.instance(region)} (secondary) has no registered copy from "
            f"{', '.join(missing)}; switching the primary's protector now would "
            "leave the geo-secondary unable to read the replicated databases",
            "Register both copies on the secondary first (this runbook does so "
            "before the primary); then resume.",
        )
