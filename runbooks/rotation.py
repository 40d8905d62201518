"""Rotation: new key material in both vaults, one thumbprint, then the
registrations and the protector switch, secondary first.

Two routes work while purge protection is on (it always is for TDE):
`new-name` creates a new key in the primary's vault under a new name and
copies it by backup and restore (a restore cannot add a version to an
existing name); `import` imports new material from the operator's file as
a new version of the same name in both vaults. Old versions are never
disabled or deleted: backups and log files still need them. Auto-rotation
ends on both instances or on neither.

Parameters: route = new-name | import, key_name (new-name: the new name,
default `<current>-<UTC date and time>`), key_file and key_format = pem |
hsm (import), key_size, auto_rotation = keep | true | false,
retire_old = none (anything else is refused).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mesh.keyuri import parse_server_key_name
from runbooks.common import (
    describe,
    estate_of,
    learn_roles,
    primary,
    require_healthy,
    secondary,
    verify_healthy,
)
from runbooks.engine import RunContext
from runbooks.errors import Refused
from runbooks.keys import SIZES, check_copy_route, file_thumbprint
from runbooks.model import Danger, Step
from runbooks.protector import (
    copy_step,
    create_step,
    import_step,
    protector_steps,
    register_steps,
    validate_step,
)

name = "rotation"
title = "Rotate the TDE protector in both vaults"
scenario = "protected"
ROUTES = ("new-name", "import")


def steps(ctx: RunContext) -> Sequence[Step]:
    _refuse_retiring(ctx)
    learn_roles(ctx)
    route = ctx.parameters.get("route", "new-name")
    if route not in ROUTES:
        raise Refused(
            "Unknown rotation route",
            f"route={route!r}",
            f"Choose {' or '.join(ROUTES)}; both work under purge protection.",
        )
    _learn_current(ctx, route)
    found = [_preflight(ctx, route)]
    if route == "new-name":
        found += [create_step(ctx, _size(ctx)), copy_step(ctx)]
    else:
        key_format = ctx.parameters.get("key_format", "pem")
        key_file = ctx.parameters.get("key_file", "")
        found += [
            import_step(ctx, r, key_format, key_file)
            for r in (primary(ctx), secondary(ctx))
        ]
    found.append(validate_step(ctx))
    found += register_steps(ctx)
    found += protector_steps(ctx, bool(ctx.values["auto_rotation"]))
    found.append(
        Step(
            id="verify",
            title="Verify: healthy, both instances on the new key",
            why="the old versions stay enabled and registered",
            danger=Danger.READ,
            operation="mesh.probe + mesh.assess",
            target="the mesh",
            action=verify_healthy,
        )
    )
    return found


def restore_steps(ctx: RunContext) -> Sequence[Step]:
    return ()


def describe_estate(ctx: RunContext) -> Mapping[str, Any]:
    return describe(ctx)


def _refuse_retiring(ctx: RunContext) -> None:
    retire = ctx.parameters.get("retire_old", "none").lower()
    if retire not in ("none", "no", "false", "keep"):
        raise Refused(
            "Old versions are never disabled or deleted",
            f"retire_old={retire!r} asks to {retire} the previous protector; "
            "backups, log files and the geo-secondary still need it to read "
            "what it protected, and disabling it has made databases "
            "unavailable in real support cases",
            "Leave old versions enabled (retire_old=none). Remove one only "
            "when no backup, log or replica needs its thumbprint.",
        )


def _size(ctx: RunContext) -> int:
    size = ctx.parameters.get("key_size", "2048")
    if not size.isdigit() or int(size) not in SIZES:
        raise Refused("Key size not accepted", f"key_size={size}", "Use 2048 or 3072.")
    return int(size)


def _learn_current(ctx: RunContext, route: str) -> None:
    """The current protector's key name and auto-rotation, read once."""
    if "current_key" in ctx.values:
        return
    estate = estate_of(ctx)
    protectors = {r: estate.protector(ctx, r) for r in estate.regions}
    mine = protectors[primary(ctx)]
    parsed = parse_server_key_name(str(mine.get("serverKeyName", "")))
    if parsed is None or mine.get("serverKeyType") != "AzureKeyVault":
        raise Refused(
            "Nothing to rotate",
            f"{estate.instance(primary(ctx))} has no customer-managed protector",
            "Run the setup runbook first.",
        )
    current = parsed[1]
    flags = {bool(p.get("autoRotationEnabled")) for p in protectors.values()}
    wanted = ctx.parameters.get("auto_rotation", "keep").lower()
    if wanted == "keep":
        if len(flags) != 1:
            raise Refused(
                "Auto-rotation differs between the instances",
                "it is on for one instance and off for the other; the rotation "
                "workflow can then fail and block manual rotation",
                "Choose with -p auto_rotation=true or -p auto_rotation=false; "
                "this rotation will set it on both.",
            )
        auto = flags.pop()
    else:
        auto = wanted in ("true", "yes", "on")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
    new_name = ctx.parameters.get("key_name") or (
        f"{current.split('--')[0]}--{stamp}" if route == "new-name" else current
    )
    ctx.remember("current_key", current)
    ctx.remember("key_name", new_name)
    ctx.remember("auto_rotation", auto)


def _preflight(ctx: RunContext, route: str) -> Step:
    estate = estate_of(ctx)

    def act(c: RunContext) -> None:
        require_healthy(c, "a rotation starts from a healthy mesh")
        if route == "new-name":
            if c.values["key_name"] == c.values["current_key"]:
                raise Refused(
                    "The new key needs a new name",
                    "backup and restore cannot add a version to a key the "
                    "other vault already holds",
                    "Give a new name with -p key_name=NAME, or use route=import.",
                )
            snapshot, _ = estate.look(c)
            check_copy_route(estate, snapshot, primary(c))
        else:
            c.remember(
                "file_thumbprint",
                file_thumbprint(
                    c.parameters.get("key_format", "pem"),
                    c.parameters.get("key_file", ""),
                ),
            )
        if c.values["auto_rotation"]:
            c.log(
                "auto-rotation follows new versions within one vault only: keep "
                "the other vault's copy in step by rotating with this runbook",
                "warning",
            )
        c.log(
            f"rotating {c.values['current_key']} to {c.values['key_name']} "
            f"(route {route}); auto-rotation "
            f"{'on' if c.values['auto_rotation'] else 'off'} on both instances"
        )

    return Step(
        id="preflight",
        title="Preflight: healthy mesh, current protector, route",
        why="a rotation must not start on a mesh that is already hurt",
        danger=Danger.READ,
        operation="mesh.probe + mesh.assess",
        target=f"mesh {estate.name}",
        action=act,
        arguments=lambda c: {
            "route": route,
            "from": c.values.get("current_key"),
            "to": c.values.get("key_name"),
        },
    )
