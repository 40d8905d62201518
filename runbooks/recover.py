"""Recover: bring Inaccessible databases back once their key works again.

For the on-call engineer after the auto-heal window: an instance that lost
every copy of its protector for longer than the window does not heal by
itself when access returns; its protector must be revalidated. Revalidating
a key that is still broken fails (Azure answers
ManagedInstanceNoConditionToMakeDatabaseAccessible), so the preflight looks
at the mesh first and refuses, with the assessment's fixes, while an
instance with Inaccessible databases has no usable path to a copy of its
protector. Then, instance by instance, the protector is revalidated and the
databases are watched until they are Online; the run ends on a healthy
assessment. An instance with no Inaccessible database is left alone.

No parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mesh.assessment import Assessment, DeadlineKind, Severity
from mesh.snapshot import Snapshot
from runbooks.common import describe, estate_of, verify_healthy
from runbooks.engine import RunContext
from runbooks.errors import Refused, StepFailed
from runbooks.model import Danger, Step

name = "recover"
title = "Recover: revalidate protectors, bring Inaccessible databases back"
scenario = "protected"
POLL_SECONDS = 30.0  # between looks at the databases after a revalidation
POLLS = 20  # ten minutes of looks before the step gives up


def steps(ctx: RunContext) -> Sequence[Step]:
    estate = estate_of(ctx)
    found = [_preflight(ctx)]
    found += [_revalidate_step(ctx, region) for region in estate.regions]
    found.append(
        Step(
            id="verify-healthy",
            title="Verify: the mesh is healthy",
            why="recovery is finished when the assessment finds nothing wrong",
            danger=Danger.READ,
            operation="mesh.probe + mesh.assess",
            target=f"mesh {estate.name}",
            action=verify_healthy,
        )
    )
    return found


def restore_steps(ctx: RunContext) -> Sequence[Step]:
    return []  # a revalidation is what recovery is; there is nothing to undo


def describe_estate(ctx: RunContext) -> Mapping[str, Any]:
    return describe(ctx)


def _preflight(ctx: RunContext) -> Step:
    estate = estate_of(ctx)

    def act(c: RunContext) -> None:
        snapshot, assessment = estate.look(c)
        hurt = _inaccessible(snapshot)
        if not hurt:
            c.log("no instance has Inaccessible databases: nothing to recover")
            return
        stuck = [i for i in hurt if not _has_usable_path(assessment, i)]
        if stuck:
            raise Refused(
                "The cause is still there",
                f"{', '.join(stuck)} cannot reach a usable copy of its TDE "
                "protector, so a revalidation would fail; the assessment "
                "found: " + "; ".join(_problems(assessment)),
                "Fix these first (`tdemesh check` explains each), then run "
                "`tdemesh run recover` again.",
            )
        for instance, databases in hurt.items():
            c.log(
                f"{instance}: {', '.join(databases)} Inaccessible, and a copy of "
                "its protector is usable again"
            )
        _say_auto_heal(c, snapshot, assessment)

    return Step(
        id="preflight",
        title="Preflight: which instances are hurt, and can their key be reached",
        why="revalidating a key that is still out of reach fails",
        danger=Danger.READ,
        operation="mesh.probe + mesh.assess",
        target=f"mesh {estate.name}",
        action=act,
    )


def _inaccessible(snapshot: Snapshot) -> dict[str, list[str]]:
    """Instance name -> its Inaccessible databases, for instances with any."""
    found = {}
    for instance in snapshot.instances:
        dead = sorted(d.name for d in instance.databases or () if d.inaccessible)
        if dead:
            found[instance.name] = dead
    return found


def _has_usable_path(assessment: Assessment, instance: str) -> bool:
    return any(p.usable for p in assessment.paths if p.instance == instance)


def _problems(assessment: Assessment) -> list[str]:
    """The findings that explain the cut, each with its fix; the Inaccessible
    databases themselves are the symptom, not the cause."""
    found = [
        f"{f.what} (fix: {f.fix})"
        for f in assessment.findings
        if f.severity is not Severity.INFO and f.code != "DATABASE_INACCESSIBLE"
    ]
    return found or ["no finding names the cause; read `tdemesh check`"]


def _say_auto_heal(ctx: RunContext, snapshot: Snapshot, assessment: Assessment) -> None:
    for deadline in assessment.deadlines:
        left = deadline.remaining_seconds(snapshot.now)
        if deadline.kind is DeadlineKind.AUTO_HEAL and left > 0:
            ctx.log(
                f"{deadline.resource} is still inside its auto-heal window "
                f"({left:.0f}s left) and may heal at its next key check; "
                "revalidating now does no harm"
            )


def _revalidate_step(ctx: RunContext, region: str) -> Step:
    estate = estate_of(ctx)
    instance = estate.instance(region)

    def inaccessible(c: RunContext) -> list[str]:
        states = estate.database_states(c, region)
        return sorted(d for d, s in states.items() if s.lower() == "inaccessible")

    def act(c: RunContext) -> None:
        c.log(f"{instance}: revalidating for {', '.join(inaccessible(c))}")
        estate.revalidate(c, region)

    def check(c: RunContext) -> None:
        offline: list[str] = []
        for look in range(POLLS + 1):
            states = estate.database_states(c, region)
            offline = sorted(d for d, s in states.items() if s != "Online")
            if not offline:
                c.log(f"{instance}: every database is Online")
                return
            if look < POLLS:
                estate.pass_time(c, POLL_SECONDS, f"{instance}'s databases")
        raise StepFailed(
            "Databases not Online after the revalidation",
            f"on {instance}, {', '.join(offline)} are not Online "
            f"{POLLS * POLL_SECONDS:.0f}s after its protector was revalidated",
            "Read `tdemesh check` for the instance's key paths; once they work, "
            "resume this run.",
        )

    return Step(
        id=f"revalidate-{instance}",
        title=f"Revalidate {instance}'s protector; its databases come back Online",
        why="past the auto-heal window only a revalidation brings the databases back",
        danger=Danger.CHANGE,
        operation="sql.managed_instance_encryption_protectors.begin_revalidate",
        target=estate.instance_id(region) + "/encryptionProtector/current",
        action=act,
        is_done=lambda c: not inaccessible(c),
        verify=check,
        done_detail="no Inaccessible database on this instance",
    )
