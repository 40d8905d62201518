"""Failover drill: prove the secondary can take over with its keys, and
measure how long it takes.

Readiness gates first (both copies registered on both instances, one
thumbprint, endpoints approved, replication healthy, no deadline running);
then a planned failover (no data loss), the role switch observed, the
databases online on the new primary, the time measured; then the fail back
the same way. The measured times go into the run's report.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
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
from runbooks.model import Danger, Step

name = "failover-drill"
title = "Failover drill: planned failover, measured, and fail back"
scenario = "protected"
POLL_SECONDS = 30.0
MAX_POLLS = 20


def steps(ctx: RunContext) -> Sequence[Step]:
    learn_roles(ctx)
    first, second = primary(ctx), secondary(ctx)
    return [
        _gates(ctx),
        _failover_step(ctx, second, "failover"),
        _observe_step(ctx, second, "failover"),
        _failover_step(ctx, first, "failback"),
        _observe_step(ctx, first, "failback"),
        Step(
            id="verify",
            title="Verify: healthy, roles as before the drill",
            why="a drill ends where it started",
            danger=Danger.READ,
            operation="mesh.probe + mesh.assess",
            target="the mesh",
            action=verify_healthy,
        ),
    ]


def restore_steps(ctx: RunContext) -> Sequence[Step]:
    return ()


def describe_estate(ctx: RunContext) -> Mapping[str, Any]:
    return describe(ctx)


def _gates(ctx: RunContext) -> Step:
    estate = estate_of(ctx)

    def act(c: RunContext) -> None:
        if c.values.get("failover_done"):
            return  # resumed mid-drill: the roles are switched on purpose
        snapshot, assessment = estate.look(c)
        problems = []
        for path in assessment.paths:
            if not path.usable:
                why = "; ".join(path.reasons) or "not usable"
                problems.append(f"key path {path.instance} -> {path.vault}: {why}")
        for deadline in assessment.deadlines:
            if deadline.remaining_seconds(snapshot.now) > 0:
                problems.append(
                    f"a {deadline.kind.value} deadline runs on {deadline.resource}"
                )
        prints = {
            k.thumbprint
            for i in snapshot.instances
            if i.protector is not None
            for k in [i.protector]
        }
        if len(prints) != 1:
            problems.append(f"the protectors differ in thumbprint ({prints})")
        group = snapshot.failover_group
        if group is None or group.secondary_instance is None:
            problems.append("the failover group or its secondary is missing")
        problems += [
            f"{f.code} on {f.resource}: {f.what}"
            for f in assessment.findings
            if f.severity.value == "critical"
        ]
        if problems:
            raise Refused(
                "Not ready for a failover",
                "; ".join(sorted(set(problems))),
                "Fix these first (a failover now could leave the new primary "
                "without its key); `tdemesh check` explains each.",
            )
        c.log("all four key paths usable, one thumbprint, no deadline running")

    return Step(
        id="gates",
        title="Readiness gates: keys on both, one thumbprint, paths, replication",
        why="a new primary that cannot read its key cannot serve its databases",
        danger=Danger.READ,
        operation="mesh.probe + mesh.assess",
        target=f"mesh {estate.name}",
        action=act,
    )


def _failover_step(ctx: RunContext, to_region: str, label: str) -> Step:
    estate = estate_of(ctx)
    group = estate.mesh.failover_group
    instance = estate.instance(to_region)
    flag = f"{label}_done"

    def done(c: RunContext) -> bool:
        if label == "failback" and not c.values.get("failover_done"):
            return False
        in_place = estate.primary_region(c) == to_region
        if in_place and label == "failover":
            # The roles were learnt at the run's start, so the new primary
            # got its role in this run: in an attempt stopped after the
            # call and before its checkpoint, which lost this flag.
            c.remember(flag, True)
        return in_place

    def act(c: RunContext) -> None:
        c.remember(f"{label}_started", time.time())
        c.remember(f"{label}_started_azure", estate.azure_now(c).isoformat())
        estate.failover(c, to_region)
        c.remember(flag, True)

    return Step(
        id=label,
        title=f"Planned failover of {group}: {instance} becomes primary",
        why="the drill itself"
        if label == "failover"
        else "fail back, so the drill ends where it started",
        danger=Danger.IRREVERSIBLE,
        operation="sql.instance_failover_groups.begin_failover",
        target=estate.fog_id(to_region),
        action=act,
        is_done=done,
        arguments=lambda c: {"location": to_region, "kind": "planned (no data loss)"},
        confirm_name=group,
    )


def _observe_step(ctx: RunContext, to_region: str, label: str) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(to_region)

    def act(c: RunContext) -> None:
        if _moved_on(c, to_region, label):
            c.log(
                f"{instance} is no longer primary: the failback already took "
                "place on Azure (the run was resumed after it); going on from there"
            )
            return
        for _ in range(MAX_POLLS):
            if estate.primary_region(c) == to_region and _online(c, to_region):
                break
            estate.pass_time(c, POLL_SECONDS, f"{instance} to take the primary role")
        else:
            raise StepFailed(
                "The roles did not switch",
                f"{instance} is not primary with its databases online after "
                f"{MAX_POLLS * POLL_SECONDS:.0f}s",
                "Check the failover group's replication and the network "
                "between the instances (5022, 11000-11999), then resume.",
            )
        if f"{label}_started" not in c.values:
            c.log(
                f"{instance} is primary with its databases online; the {label} "
                "finished while the run was interrupted, so its time was not measured"
            )
            return
        started = float(c.values[f"{label}_started"])
        wall = round(time.time() - started, 3)
        began = c.values.get(f"{label}_started_azure")
        azure = (
            round(
                (
                    estate.azure_now(c) - datetime.fromisoformat(str(began))
                ).total_seconds()
            )
            if began
            else wall
        )
        c.remember(f"measured_{label}_seconds", azure)
        c.remember(f"measured_{label}_wall_seconds", wall)
        c.log(
            f"{instance} is primary with its databases online after {azure}s "
            f"of Azure time ({wall}s here)"
        )

    return Step(
        id=f"observe-{label}",
        title=f"Observe {instance} take the primary role, databases online",
        why="the failover counts only when the new primary serves its databases",
        danger=Danger.READ,
        operation="sql.instance_failover_groups.get + managed_databases.list",
        target=estate.instance_id(to_region),
        action=act,
    )


def _moved_on(ctx: RunContext, to_region: str, label: str) -> bool:
    """Whether Azure's roles are already past this observation: the failover
    was done (its call returns once the roles have switched) and the
    primary is back where the drill started, so the failback happened too,
    in an attempt that stopped before it could record it."""
    if label != "failover" or not ctx.values.get("failover_done"):
        return False
    return estate_of(ctx).primary_region(ctx) != to_region


def _online(ctx: RunContext, region: str) -> bool:
    states = estate_of(ctx).database_states(ctx, region)
    return bool(states) and all(s == "Online" for s in states.values())
