"""What the runbooks share: the estate from a context, roles, checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mesh.assessment import Assessment, Severity, Verdict
from runbooks.engine import RunContext
from runbooks.errors import Refused, StepFailed
from runbooks.estate import Estate


def estate_of(ctx: RunContext) -> Estate:
    estate = ctx.estate
    if not isinstance(estate, Estate):  # pragma: no cover - a wiring mistake
        raise TypeError("the run's estate is not a runbooks.estate.Estate")
    return estate


def primary(ctx: RunContext) -> str:
    """The primary region, as the preflight saw it."""
    return str(ctx.values["primary_region"])


def secondary(ctx: RunContext) -> str:
    return str(ctx.values["secondary_region"])


def learn_roles(ctx: RunContext) -> tuple[str, str]:
    """Read the failover group's roles and remember them for the run (a
    resumed run keeps the roles it started with)."""
    if "primary_region" in ctx.values:
        return primary(ctx), secondary(ctx)
    estate = estate_of(ctx)
    try:
        first = estate.primary_region(ctx)
    except LookupError as error:
        raise Refused(
            "No failover group",
            f"failover group {estate.mesh.failover_group} was not found on "
            f"either instance of mesh {estate.name}",
            "Create the instance failover group first, or correct "
            "`failover_group` in the config.",
        ) from error
    ctx.remember("primary_region", first)
    ctx.remember("secondary_region", estate.other(first))
    return first, estate.other(first)


def blocking_findings(assessment: Assessment, ignore: Iterable[str] = ()) -> list[str]:
    skip = set(ignore)
    return [
        f"{f.code} on {f.resource}: {f.what} (fix: {f.fix})"
        for f in assessment.findings
        if f.severity is Severity.CRITICAL and f.code not in skip
    ]


def require_healthy(ctx: RunContext, why: str, ignore: Iterable[str] = ()) -> None:
    """Refuse unless the mesh is healthy (critical findings in `ignore` aside)."""
    _, assessment = estate_of(ctx).look(ctx)
    problems = blocking_findings(assessment, ignore)
    if problems:
        raise Refused(
            "The mesh is not healthy",
            f"{why}; the assessment found: " + "; ".join(problems),
            "Fix these first (`tdemesh check` explains each), then run again.",
        )


def verify_healthy(ctx: RunContext) -> None:
    """After a runbook: the assessment must say healthy."""
    _, assessment = estate_of(ctx).look(ctx)
    if assessment.verdict is not Verdict.HEALTHY:
        found = [
            f"{f.code} on {f.resource}: {f.what}"
            for f in assessment.findings
            if f.severity is not Severity.INFO
        ]
        raise StepFailed(
            "The mesh is not healthy afterwards",
            f"verdict {assessment.verdict.value}: " + "; ".join(found),
            "Read `tdemesh check`; resume this run once the cause is fixed.",
        )
    ctx.log("the assessment says healthy")


def describe(ctx: RunContext) -> Mapping[str, Any]:
    """The state before and after a run, for its report: per instance the
    protector, registered keys, databases; the failover group roles."""
    estate = estate_of(ctx)
    snapshot, assessment = estate.look(ctx)
    instances = {}
    for instance in snapshot.instances:
        protector = instance.protector
        instances[instance.name] = {
            "protector": protector.server_key_name if protector else None,
            "auto_rotation": protector.auto_rotation_enabled if protector else None,
            "keys": sorted(k.name for k in instance.keys or ()),
            "databases": {d.name: d.status for d in instance.databases or ()},
        }
    group = snapshot.failover_group
    return {
        "verdict": assessment.verdict.value,
        "findings": sorted(f.code for f in assessment.findings),
        "primary": group.primary_instance if group else None,
        "instances": instances,
        "usable_paths": sorted(
            f"{p.instance}->{p.vault}" for p in assessment.paths if p.usable
        ),
    }
