"""Vault loss: cut a key path, watch the instance fall back and the
deadline run, then put everything back, always.

A path is cut the way it breaks in real life: a network security group rule
in the instance's subnet that denies outbound 443 to the vault endpoint's
address (one ARM call, the same on Azure and on the simulator), or, on the
simulator only, an outage of the vault. Cutting the second path of the same
instance makes its databases inaccessible and starts the auto-heal
deadline; the run restores before that deadline unless the operator extends
it. The restore steps run after success, failure and Ctrl-C, and a run
killed outright is restored on the next `tdemesh run`.

Parameters: instance = REGION (default the primary's), vault = REGION
(default the instance's own), method = nsg | outage, second = no | yes,
extend = no | yes, hold_seconds (how long to keep both paths cut once the
databases are inaccessible; capped before the auto-heal deadline unless
extend=yes), key_check_seconds (600), auto_heal_seconds (1800).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mesh.assessment import DeadlineKind
from runbooks.common import (
    describe,
    estate_of,
    learn_roles,
    primary,
    require_healthy,
    verify_healthy,
)
from runbooks.engine import RunContext
from runbooks.errors import Refused, StepFailed
from runbooks.estate import DRILL_RULE_PREFIX
from runbooks.model import Danger, Step

name = "vault-loss"
title = "Vault-loss drill: cut a key path, watch, restore"
scenario = "protected"
RULE_PRIORITY = 100  # ahead of the endpoint allow rules


def _yes(ctx: RunContext, key: str) -> bool:
    return ctx.parameters.get(key, "no").lower() in ("yes", "true", "on")


def _seconds(ctx: RunContext, key: str, default: float) -> float:
    try:
        return float(ctx.parameters.get(key, default))
    except ValueError as error:
        raise Refused("Not a number", f"{key}={ctx.parameters[key]!r}", "") from error


def _paths(ctx: RunContext) -> list[tuple[str, str]]:
    """(instance region, vault region) of the first and maybe second cut."""
    estate = estate_of(ctx)
    region = ctx.parameters.get("instance") or primary(ctx)
    vault = ctx.parameters.get("vault") or region
    for value in (region, vault):
        if value not in estate.regions:
            raise Refused(
                "Unknown region",
                f"{value!r} is not a region of mesh {estate.name}",
                f"Choose one of {', '.join(estate.regions)}.",
            )
    paths = [(region, vault)]
    if _yes(ctx, "second"):
        paths.append((region, estate.other(vault)))
    return paths


def _rule(ctx: RunContext, vault_region: str) -> str:
    return DRILL_RULE_PREFIX + estate_of(ctx).vault(vault_region)


def steps(ctx: RunContext) -> Sequence[Step]:
    learn_roles(ctx)
    paths = _paths(ctx)
    found = [_preflight(ctx, paths)]
    found += [_cut_step(ctx, paths[0]), _watch_fallback_step(ctx, paths[0])]
    if len(paths) > 1:
        found += [_cut_step(ctx, paths[1]), _watch_deadline_step(ctx, paths[0][0])]
    return found


def restore_steps(ctx: RunContext) -> Sequence[Step]:
    learn_roles(ctx)
    estate = estate_of(ctx)
    region = _paths(ctx)[0][0]
    found = [_uncut_step(ctx, region, v) for v in estate.regions]
    if estate.simulator:
        found += [_end_outage_step(ctx, v) for v in estate.regions]
    found += [
        _recover_step(ctx),
        Step(
            id="verify-recovered",
            title="Verify: the mesh is healthy again",
            why="a drill ends where it started",
            danger=Danger.READ,
            operation="mesh.probe + mesh.assess",
            target="the mesh",
            action=verify_healthy,
        ),
    ]
    return found


def describe_estate(ctx: RunContext) -> Mapping[str, Any]:
    return describe(ctx)


def _method(ctx: RunContext) -> str:
    method = ctx.parameters.get("method", "nsg")
    if method not in ("nsg", "outage"):
        raise Refused("Unknown method", f"method={method!r}", "Use nsg or outage.")
    return method


def _preflight(ctx: RunContext, paths: list[tuple[str, str]]) -> Step:
    estate = estate_of(ctx)

    def act(c: RunContext) -> None:
        if not estate.simulator and not estate.mesh.allow_fault_drills:
            raise Refused(
                "Fault drills are not allowed on this mesh",
                f"mesh {estate.name} is a real subscription and its config "
                "does not set allow_fault_drills",
                "Set allow_fault_drills = true for this mesh if a drill here "
                "is intended (it cuts a real key path).",
            )
        if _method(c) == "outage" and not estate.simulator:
            raise Refused(
                "No outage on Azure",
                "a vault outage can only be simulated",
                "Use method=nsg, which cuts the path with a real NSG rule.",
            )
        require_healthy(c, "a drill starts from a healthy mesh")
        snapshot, _ = estate.look(c)
        for region, vault_region in paths:
            vault = estate.vault(vault_region)
            endpoint = snapshot.endpoint(region, vault)
            if endpoint is None or not endpoint.ip_addresses:
                raise Refused(
                    "Endpoint address unknown",
                    f"no private endpoint address from {estate.instance(region)} "
                    f"to {vault} was found",
                    "Check private_endpoints in the config.",
                )
            c.remember(f"ip:{region}:{vault}", endpoint.ip_addresses[0])
        c.log(
            "the drill cuts "
            + " and then ".join(
                f"{estate.instance(r)} -> {estate.vault(v)}" for r, v in paths
            )
        )

    return Step(
        id="preflight",
        title="Preflight: drill allowed, mesh healthy, endpoint addresses",
        why="a drill must start from a healthy mesh and know what it cuts",
        danger=Danger.READ,
        operation="mesh.probe + mesh.assess",
        target=f"mesh {estate.name}",
        action=act,
    )


def _cut_step(ctx: RunContext, path: tuple[str, str]) -> Step:
    estate = estate_of(ctx)
    region, vault_region = path
    vault, instance = estate.vault(vault_region), estate.instance(region)
    outage = _method(ctx) == "outage"
    rule = _rule(ctx, vault_region)

    def done(c: RunContext) -> bool:
        if outage:
            return vault in estate.outages(c)
        return estate.security_rule(c, region, rule) is not None

    def act(c: RunContext) -> None:
        if outage:
            estate.vault_outage(c, vault, True)
        else:
            ip = str(c.values[f"ip:{region}:{vault}"])
            estate.add_deny_rule(c, region, rule, ip, RULE_PRIORITY)
        # Azure's clock at the cut: no auto-heal window can start before it.
        c.remember(f"cut_at:{vault}", estate.azure_now(c).isoformat())

    def check(c: RunContext) -> None:
        if not done(c):
            raise StepFailed("Path not cut", f"{instance} -> {vault} is open", "")

    if outage:
        operation, target, confirm = "simulator.outages.post", vault, vault
    else:
        operation = "network.security_rules.begin_create_or_update"
        target = f"{estate.nsg(region)}/securityRules/{rule}"
        confirm = estate.nsg(region)
    return Step(
        id=f"cut-{instance}-{vault}",
        title=f"Cut the path {instance} -> {vault}",
        why="this is the fault being drilled: the instance loses this vault",
        danger=Danger.IRREVERSIBLE,
        operation=operation,
        target=target,
        action=act,
        is_done=done,
        verify=check,
        arguments=lambda c: (
            {"vault": vault}
            if outage
            else {
                "direction": "Outbound",
                "access": "Deny",
                "priority": RULE_PRIORITY,
                "destination": _destination(c, region, vault),
                "port": 443,
            }
        ),
        confirm_name=confirm,
    )


def _destination(ctx: RunContext, region: str, vault: str) -> str:
    """The address the rule denies; the preflight reads it from the private
    endpoint, so a plan made before it names the endpoint instead."""
    ip = ctx.values.get(f"ip:{region}:{vault}")
    if ip:
        return f"{ip}/32"
    instance = estate_of(ctx).instance(region)
    return f"(the address of {instance}'s private endpoint to {vault}, read first)"


def _watch_fallback_step(ctx: RunContext, path: tuple[str, str]) -> Step:
    estate = estate_of(ctx)
    region, vault_region = path
    instance = estate.instance(region)
    wait = _seconds(ctx, "key_check_seconds", 600) + 60

    def act(c: RunContext) -> None:
        estate.pass_time(c, wait, f"{instance}'s next key check")
        snapshot, assessment = estate.look(c)
        cut = assessment.path(instance, estate.vault(vault_region))
        if cut is not None and cut.reachable is not False:
            c.log(f"the assessment does not yet see the cut path: {cut.reasons}")
        databases = estate.database_states(c, region)
        offline = sorted(d for d, s in databases.items() if s != "Online")
        if offline and len(_paths(c)) == 1:
            raise StepFailed(
                "The instance did not fall back",
                f"{instance} lost {estate.vault(vault_region)} and its databases "
                f"{', '.join(offline)} are not online; its fallback path to "
                f"{estate.vault(estate.other(vault_region))} does not work",
                "The drill will now restore the path. Check the fallback key's "
                "registration and thumbprint.",
            )
        other = assessment.path(instance, estate.vault(estate.other(vault_region)))
        c.remember("measured_fallback_wait_seconds", wait)
        c.remember("measured_cut_path_unreachable", cut is not None and not cut.usable)
        c.remember("measured_fallback_path_usable", other is not None and other.usable)
        c.remember("measured_databases_online", len(databases) - len(offline))
        c.log(f"{instance} kept its databases online on its fallback vault")

    return Step(
        id=f"watch-fallback-{instance}",
        title=f"Watch {instance} fall back to its other vault",
        why="the instance must keep its databases online on the other copy",
        danger=Danger.READ,
        operation="mesh.probe + sql.managed_databases.list_by_instance",
        target=estate.instance_id(region),
        action=act,
    )


def _watch_deadline_step(ctx: RunContext, region: str) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(region)
    check = _seconds(ctx, "key_check_seconds", 600)
    longest = 2 * check + 180  # the next key check, then the grace period
    margin = 300.0  # restore with this much of the auto-heal window left

    def act(c: RunContext) -> None:
        waited, down, left = 0.0, [], None
        while waited < longest:
            estate.pass_time(c, 120, f"{instance} finds no usable key")
            waited += 120
            snapshot, assessment = estate.look(c)
            states = estate.database_states(c, region)
            down = sorted(d for d, s in states.items() if s == "Inaccessible")
            heal = [
                d.remaining_seconds(snapshot.now)
                for d in assessment.deadlines
                if d.kind is DeadlineKind.AUTO_HEAL
            ]
            if down or heal:
                # The window may have started at the cut, before any probe saw it.
                heal.append(_since_last_cut(c, estate.azure_now(c)))
            left = min(heal) if heal else None
            if left is not None:
                c.log(f"auto-heal deadline on {instance} in {left:.0f}s")
            if down or (left is not None and left < margin and not _yes(c, "extend")):
                break
        c.log(f"inaccessible on {instance}: {', '.join(down) or 'none'}")
        hold = _seconds(c, "hold_seconds", 0)
        if hold > 0 and left is not None and hold > left - margin:
            if _yes(c, "extend"):
                c.log(
                    f"holding {hold:.0f}s, past the auto-heal deadline: the "
                    "instance will need a revalidation",
                    "warning",
                )
            else:
                hold = max(0.0, left - margin)
                c.log(
                    f"holding only {hold:.0f}s, to restore before the auto-heal "
                    "deadline (extend=yes to hold longer)",
                    "warning",
                )
        if hold > 0:
            estate.pass_time(c, hold, "the operator's hold")
            waited += hold
        c.remember("measured_seconds_until_inaccessible", waited)
        c.remember("measured_inaccessible_databases", len(down))
        if left is not None:
            c.remember("measured_auto_heal_seconds_left", round(left))

    return Step(
        id=f"watch-deadline-{instance}",
        title=f"Watch {instance} lose both paths and the deadline run",
        why="shows what an operator sees when both copies are out of reach; "
        "the drill restores before the auto-heal deadline",
        danger=Danger.READ,
        operation="mesh.probe + sql.managed_databases.list_by_instance",
        target=estate.instance_id(region),
        action=act,
    )


def _since_last_cut(ctx: RunContext, now: datetime) -> float:
    """Seconds left of the auto-heal window if it started at the last cut."""
    cuts = [
        datetime.fromisoformat(str(v))
        for k, v in ctx.values.items()
        if k.startswith("cut_at:")
    ]
    window = _seconds(ctx, "auto_heal_seconds", 1800)
    if not cuts:
        return window
    return window - (now - max(cuts)).total_seconds()


def _uncut_step(ctx: RunContext, region: str, vault_region: str) -> Step:
    estate = estate_of(ctx)
    rule = _rule(ctx, vault_region)
    return Step(
        id=f"uncut-{estate.instance(region)}-{estate.vault(vault_region)}",
        title=f"Remove the drill's rule {rule} from {estate.nsg(region)}",
        why="the drill undoes every change it made",
        danger=Danger.CHANGE,
        operation="network.security_rules.begin_delete",
        target=f"{estate.nsg(region)}/securityRules/{rule}",
        action=lambda c: _remove_rule(c, region, rule),
        is_done=lambda c: estate.security_rule(c, region, rule) is None,
        verify=lambda c: _gone(c, region, rule),
        done_detail="not present",
    )


def _remove_rule(ctx: RunContext, region: str, rule: str) -> None:
    estate_of(ctx).delete_rule(ctx, region, rule)
    ctx.remember("path_restored", True)


def _gone(ctx: RunContext, region: str, rule: str) -> None:
    if estate_of(ctx).security_rule(ctx, region, rule) is not None:
        raise StepFailed("Rule still there", f"{rule} was not removed", "")


def _end_outage_step(ctx: RunContext, vault_region: str) -> Step:
    estate = estate_of(ctx)
    vault = estate.vault(vault_region)
    return Step(
        id=f"end-outage-{vault}",
        title=f"End the simulated outage of {vault}",
        why="the drill undoes every change it made",
        danger=Danger.CHANGE,
        operation="simulator.outages.delete",
        target=vault,
        action=lambda c: _end_outage(c, vault),
        is_done=lambda c: vault not in estate.outages(c),
        done_detail="no outage in place",
    )


def _end_outage(ctx: RunContext, vault: str) -> None:
    estate_of(ctx).vault_outage(ctx, vault, False)
    ctx.remember("path_restored", True)


def _recover_step(ctx: RunContext) -> Step:
    """Wait for the key check; revalidate every instance that did not heal
    (its auto-heal window passed). An outage cuts a vault for both
    instances, so both are looked at."""
    estate = estate_of(ctx)
    wait = _seconds(ctx, "key_check_seconds", 600) + 60

    def not_online(c: RunContext) -> list[str]:
        return [
            region
            for region in estate.regions
            if any(s != "Online" for s in estate.database_states(c, region).values())
        ]

    def act(c: RunContext) -> None:
        estate.pass_time(c, wait, "the instances check their keys again")
        hurt = not_online(c)
        if not hurt:
            c.log("every instance healed by itself")
            return
        for region in hurt:
            c.log(
                f"{estate.instance(region)} did not heal by itself; "
                "revalidating its protector"
            )
            estate.revalidate(c, region)
        estate.pass_time(c, wait, "the instances re-read their keys")

    def check(c: RunContext) -> None:
        hurt = not_online(c)
        if hurt:
            raise StepFailed(
                "Databases still inaccessible",
                "inaccessible databases remain on "
                + ", ".join(estate.instance(r) for r in hurt)
                + " after the restore",
                "Check the key paths with `tdemesh check`; revalidate the "
                "protector once they work, then resume this run.",
            )

    return Step(
        id="recover",
        title="Recover: key check, revalidate where the window has passed",
        why="past the auto-heal window an instance needs a revalidation",
        danger=Danger.CHANGE,
        operation="sql.managed_instance_encryption_protectors.begin_revalidate",
        target="the instances' encryption protectors",
        action=act,
        is_done=_nothing_was_cut,
        verify=check,
        done_detail="no path was cut: nothing to wait for",
    )


def _nothing_was_cut(ctx: RunContext) -> bool:
    """No cut made by this run (no cut time kept) and no rule or outage
    removed by its restore (a run killed between its cut and the checkpoint
    leaves only the latter): then no instance lost a key, and the key-check
    wait (real time on Azure) would be for nothing."""
    cut = any(name.startswith("cut_at:") for name in ctx.values)
    return not cut and not ctx.values.get("path_restored")
