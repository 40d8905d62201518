"""Setup: from `greenfield` to the full architecture.

Preflight; the system-assigned identity where missing; soft delete and purge
protection on both vaults; get/wrapKey/unwrapKey for both instances on both
vaults (a role assignment or an access policy, as each vault is
configured); the key by one of three routes; both copies checked; both
copies registered on the secondary, then on the primary; the protector set
on the secondary, then on the primary, each from its own region's vault;
and a final assessment that must say healthy.

Parameters (`-p NAME=VALUE`): route = backup-restore | hsm | pem,
key_file = PATH (hsm, pem), key_name (default tde-protector),
key_size = 2048 | 3072 (backup-restore), auto_rotation = false | true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.common import (
    describe,
    estate_of,
    learn_roles,
    primary,
    secondary,
    verify_healthy,
)
from runbooks.engine import RunContext
from runbooks.errors import Refused, StepFailed
from runbooks.keys import ROUTES, SIZES, check_copy_route, file_thumbprint
from runbooks.model import Danger, Step
from runbooks.protector import (
    copy_step,
    create_step,
    import_step,
    protector_steps,
    register_steps,
    validate_step,
)

name = "setup"
title = "Set up customer-managed TDE on both instances"
scenario = "greenfield"
DEFAULT_KEY_NAME = "tde-protector"


def _route(ctx: RunContext) -> str:
    route = ctx.parameters.get("route", "backup-restore")
    if route not in ROUTES:
        raise Refused(
            "Unknown key route",
            f"route={route!r}",
            f"Choose one of {', '.join(ROUTES)}.",
        )
    return route


def _size(ctx: RunContext) -> int:
    size = ctx.parameters.get("key_size", "2048")
    if not size.isdigit() or int(size) not in SIZES:
        raise Refused("Key size not accepted", f"key_size={size}", "Use 2048 or 3072.")
    return int(size)


def _auto_rotation(ctx: RunContext) -> bool:
    return ctx.parameters.get("auto_rotation", "false").lower() in ("true", "yes", "on")


def steps(ctx: RunContext) -> Sequence[Step]:
    learn_roles(ctx)
    ctx.values.setdefault("key_name", ctx.parameters.get("key_name", DEFAULT_KEY_NAME))
    estate = estate_of(ctx)
    route = _route(ctx)
    found: list[Step] = [_preflight(ctx, route)]
    found += [_identity_step(ctx, r) for r in estate.regions]
    found += [_protect_step(ctx, r) for r in estate.regions]
    found += [
        _grant_step(ctx, vault_region, instance_region)
        for vault_region in estate.regions
        for instance_region in estate.regions
    ]
    if route == "backup-restore":
        found += [create_step(ctx, _size(ctx)), copy_step(ctx)]
    else:
        key_file = ctx.parameters.get("key_file", "")
        found += [
            import_step(ctx, r, route, key_file) for r in (primary(ctx), secondary(ctx))
        ]
    found.append(validate_step(ctx))
    found += register_steps(ctx)
    found += protector_steps(ctx, _auto_rotation(ctx))
    found.append(_verify_step())
    return found


def restore_steps(ctx: RunContext) -> Sequence[Step]:
    return ()


def describe_estate(ctx: RunContext) -> Mapping[str, Any]:
    return describe(ctx)


def _preflight(ctx: RunContext, route: str) -> Step:
    estate = estate_of(ctx)

    def act(c: RunContext) -> None:
        snapshot, _ = estate.look(c)
        for region in estate.regions:
            vault = snapshot.vault(estate.vault(region))
            if vault is None or not vault.readable:
                raise Refused(
                    "Vault not readable",
                    f"vault {estate.vault(region)} could not be read",
                    "Check the name in the config and your access to it.",
                )
            for other in estate.regions:
                endpoint = snapshot.endpoint(other, vault.name)
                status = endpoint.connection_status if endpoint else None
                if status is not None and status != "Approved":
                    raise Refused(
                        "Endpoint not approved",
                        f"the private endpoint from {estate.instance(other)} to "
                        f"{vault.name} is {status}",
                        f"Approve the endpoint connection on {vault.name}.",
                    )
        if route == "backup-restore":
            check_copy_route(estate, snapshot, primary(c))
        else:
            c.remember(
                "file_thumbprint",
                file_thumbprint(route, c.parameters.get("key_file", "")),
            )
        c.log(
            f"primary {estate.instance(primary(c))}, secondary "
            f"{estate.instance(secondary(c))}; key route {route}"
        )

    return Step(
        id="preflight",
        title="Preflight: failover group, vaults, endpoints, key route",
        why="nothing is changed unless the whole setup can finish",
        danger=Danger.READ,
        operation="mesh.probe",
        target=f"mesh {estate.name}",
        action=act,
        arguments=lambda c: {"route": route},
    )


def _identity_step(ctx: RunContext, region: str) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(region)

    def done(c: RunContext) -> bool:
        return estate.principal_id(c, region) is not None

    def check(c: RunContext) -> None:
        if not done(c):
            raise StepFailed(
                "No identity",
                f"{instance} still has no system-assigned identity",
                "Look at the instance's identity blade, then resume the run.",
            )

    return Step(
        id=f"identity-{instance}",
        title=f"Enable the system-assigned identity of {instance}",
        why="the instance reaches its vaults as this identity",
        danger=Danger.CHANGE,
        operation="sql.managed_instances.begin_update",
        target=estate.instance_id(region),
        action=lambda c: estate.enable_identity(c, region),
        is_done=done,
        verify=check,
        arguments=lambda c: {"identity": {"type": "SystemAssigned"}},
    )


def _protect_step(ctx: RunContext, region: str) -> Step:
    estate = estate_of(ctx)
    vault = estate.vault(region)

    def done(c: RunContext) -> bool:
        props = estate.vault_properties(c, region)
        return bool(props.get("enableSoftDelete", True)) and bool(
            props.get("enablePurgeProtection")
        )

    def check(c: RunContext) -> None:
        if not done(c):
            raise StepFailed(
                "Vault not protected",
                f"{vault} still lacks soft delete or purge protection",
                "Look at the vault's properties, then resume the run.",
            )

    return Step(
        id=f"protect-{vault}",
        title=f"Turn on soft delete and purge protection on {vault}",
        why="Managed Instance refuses a protector from a vault without them; "
        "purge protection can never be turned off again",
        danger=Danger.IRREVERSIBLE,
        operation="keyvault.vaults.update",
        target=estate.vault_id(region),
        action=lambda c: estate.protect_vault(c, region),
        is_done=done,
        verify=check,
        arguments=lambda c: {"enableSoftDelete": True, "enablePurgeProtection": True},
        confirm_name=vault,
    )


def _grant_step(ctx: RunContext, vault_region: str, instance_region: str) -> Step:
    estate = estate_of(ctx)
    vault, instance = estate.vault(vault_region), estate.instance(instance_region)

    def principal(c: RunContext) -> str:
        found = estate.principal_id(c, instance_region)
        if not found:
            raise StepFailed(
                "No identity",
                f"{instance} has no identity to grant access to",
                "Enable its system-assigned identity first.",
            )
        return str(found)

    def missing(c: RunContext) -> tuple[str, ...]:
        return estate.missing_permissions(c, vault_region, principal(c))

    def act(c: RunContext) -> None:
        rbac = estate.vault_properties(c, vault_region).get("enableRbacAuthorization")
        if rbac:
            estate.grant_role(c, vault_region, principal(c))
        else:
            estate.grant_policy(c, vault_region, principal(c))

    def check(c: RunContext) -> None:
        gaps = missing(c)
        if gaps:
            raise StepFailed(
                "Access not granted",
                f"{instance} still lacks {', '.join(gaps)} on {vault}",
                "Look at the vault's access, then resume the run.",
            )

    return Step(
        id=f"grant-{instance}-on-{vault}",
        title=f"Grant {instance} get, wrapKey, unwrapKey on {vault}",
        why="each instance must reach both copies: its own and its fallback",
        danger=Danger.CHANGE,
        operation=(
            "authorization.role_assignments.create | "
            "keyvault.vaults.update_access_policy"
        ),
        target=estate.vault_id(vault_region),
        action=act,
        is_done=lambda c: not missing(c),
        verify=check,
        arguments=lambda c: {
            "principal": principal(c),
            "role or permissions": "Key Vault Crypto Service Encryption User "
            "(RBAC) or get, wrapKey, unwrapKey (access policy)",
        },
    )


def _verify_step() -> Step:
    return Step(
        id="verify",
        title="Verify: the assessment says healthy",
        why="all four key paths usable, one thumbprint, protectors in place",
        danger=Danger.READ,
        operation="mesh.probe + mesh.assess",
        target="the mesh",
        action=verify_healthy,
    )
