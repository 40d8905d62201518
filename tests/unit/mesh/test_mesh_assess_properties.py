"""Invariants of assess(), over random combinations of breakages.

The safety rule is computed here from the breakages themselves, not from
assess(): an instance is safe when its protector's vault path works, or is
cut by the network only while the path to the other vault works (the only
case in which Managed Instance falls back).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from mesh_estate import (
    REGIONS,
    V0,
    V1,
    cut,
    healthy,
    revoke,
    vault_name,
    with_connection_status,
    with_vault,
    with_version,
)

from mesh.assess import assess
from mesh.assessment import Verdict
from mesh.snapshot import ReadError, Snapshot

Breakage = tuple[str, str, str]  # (kind, instance region, vault region)

NETWORK = ("cut", "pending")
ACCESS = ("revoke", "disable")
HARMLESS = ("disable_old", "soft_delete_off", "operator_forbidden")

breakages = st.tuples(
    st.sampled_from(NETWORK + ACCESS + HARMLESS),
    st.sampled_from(REGIONS),
    st.sampled_from(REGIONS),
)


def apply(snapshot: Snapshot, breakage: Breakage) -> Snapshot:
    kind, region, vault_region = breakage
    actions: dict[str, Callable[[], Snapshot]] = {
        "cut": lambda: cut(snapshot, region, vault_region),
        "pending": lambda: with_connection_status(
            snapshot, region, vault_region, "Rejected"
        ),
        "revoke": lambda: revoke(snapshot, region, vault_region),
        "disable": lambda: with_version(snapshot, vault_region, V1, enabled=False),
        "disable_old": lambda: with_version(snapshot, vault_region, V0, enabled=False),
        "soft_delete_off": lambda: with_vault(
            snapshot, vault_region, purge_protection=False
        ),
        "operator_forbidden": lambda: with_vault(
            snapshot,
            vault_region,
            operator_reachable=False,
            operator_error=ReadError(
                vault_name(vault_region), "keys.list", "Forbidden", 403
            ),
        ),
    }
    return actions[kind]()


def build(chosen: list[Breakage]) -> Snapshot:
    snapshot = healthy()
    for breakage in chosen:
        snapshot = apply(snapshot, breakage)
    return snapshot


def path_broken(chosen: list[Breakage], region: str, vault_region: str) -> set[str]:
    """Which kinds of failure hit the path region -> vault_region."""
    kinds = set()
    for kind, r, v in chosen:
        if kind in NETWORK + ("revoke",) and (r, v) == (region, vault_region):
            kinds.add("network" if kind in NETWORK else "access")
        if kind == "disable" and v == vault_region:
            kinds.add("access")
    return kinds


def safe(chosen: list[Breakage]) -> bool:
    for region in REGIONS:
        other = next(r for r in REGIONS if r != region)
        home = path_broken(chosen, region, region)
        fallback = path_broken(chosen, region, other)
        if "access" in home:
            return False
        if home and fallback:
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(st.lists(breakages, max_size=6))
def test_critical_exactly_when_an_instance_has_no_copy_it_will_use(
    chosen: list[Breakage],
) -> None:
    verdict = assess(build(chosen)).verdict
    assert (verdict is Verdict.CRITICAL) == (not safe(chosen))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(breakages, max_size=5), st.sampled_from(REGIONS), st.sampled_from(REGIONS)
)
def test_adding_a_cut_never_improves_the_verdict(
    chosen: list[Breakage], region: str, vault_region: str
) -> None:
    before = assess(build(chosen)).verdict
    after = assess(cut(build(chosen), region, vault_region)).verdict
    assert after.rank >= before.rank


@settings(max_examples=100, deadline=None)
@given(st.lists(breakages, max_size=6))
def test_every_finding_names_a_resource_and_a_fix(chosen: list[Breakage]) -> None:
    for finding in assess(build(chosen)).findings:
        assert finding.resource.strip()
        assert finding.fix.strip()
        assert finding.what.strip() and finding.why.strip()


@settings(max_examples=100, deadline=None)
@given(st.lists(breakages, max_size=6))
def test_the_verdict_is_the_worst_finding_and_any_breakage_shows(
    chosen: list[Breakage],
) -> None:
    assessment = assess(build(chosen))
    worst = max((f.severity.rank for f in assessment.findings), default=0)
    assert assessment.verdict.rank == worst
    if chosen:
        assert assessment.verdict is not Verdict.HEALTHY
    for path in assessment.paths:
        assert path.usable == all(check is True for check in path.checks)
        if not path.usable:
            assert path.reasons
