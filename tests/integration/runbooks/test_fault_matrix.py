"""Every mutating step of every runbook meets a 429, a 503, a dropped
connection and a kill, and each run still ends where an uninterrupted run
ends, with nothing done twice and a journal that verifies.

Cheap by design: one run per (runbook, fault kind) in which every mutating
SDK call meets the fault once, and one run per runbook that is killed at
every mutating step in turn and resumed each time. Which calls are mutating
comes from the run's own plan (an action names its SDK operations), so a
new step is covered without touching this file. The reference (an
uninterrupted run) is taken once per runbook and compared by shape: key
versions differ from run to run, the estate's structure must not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from runbooks import events, failover_drill, rotation, setup, vault_loss
from runbooks.engine import RunResult, unfinished_restores
from runbooks.estate import DRILL_RULE_PREFIX
from runbooks.journal import read, verify
from runbooks.model import Action, Plan
from runbooks.paths import StateDirs
from runbooks.registry import RESTORING
from tests.conftest import SIM_TIME_SCALE
from tests.integration.runbooks.runbook_helpers import (
    Runner,
    assessment_of,
    estate_of,
    make_runner,
)


@dataclass(frozen=True)
class Case:
    module: ModuleType
    params: dict[str, str]
    names: tuple[str, ...]  # what an operator types for irreversible steps
    key_name: str  # the protector key the run ends on


CASES = {
    "setup": Case(setup, {}, (), "tde-protector"),
    "rotation": Case(rotation, {"key_name": "next"}, (), "next"),
    "vault-loss": Case(vault_loss, {}, ("nsg-sqlmi-eastus2",), "tde-protector"),
    "failover-drill": Case(failover_drill, {}, ("fog-tde",), "tde-protector"),
}
FAULTS: dict[str, dict[str, Any]] = {
    "429": {"kind": "throttle", "retry_after": 1},
    # Retry-After: 0, so the test waits only the policy's own short backoff.
    "503": {
        "kind": "error",
        "status": 503,
        "code": "ServiceUnavailable",
        "retry_after": 0,
    },
    "dropped connection": {"kind": "drop"},
}
MAX_ATTEMPTS = 40  # a runbook has far fewer mutating steps than this


# -- what a plan says is mutating ------------------------------------------


def operations(action: Action) -> set[str]:
    """The SDK operations an action names ("a + b", "a | b")."""
    return {
        name.strip()
        for alternative in action.operation.split("|")
        for name in alternative.split("+")
    }


def last_operations(action: Action) -> set[str]:
    """The call that completes the action, for each alternative."""
    return {alt.split("+")[-1].strip() for alt in action.operation.split("|")}


def faultable(operation: str) -> bool:
    """The simulator's admin API (outages, clock) is never faulted."""
    return not operation.startswith("simulator.")


class PlanWatch:
    """Keeps the latest plan's actions by step id (restore steps included)."""

    def __init__(self) -> None:
        self.actions: dict[str, Action] = {}

    def see(self, event: object) -> None:
        if isinstance(event, events.PlanReady):
            plan: Plan = event.plan
            self.actions.update({a.step_id: a for a in plan.actions})

    def mutating_call(self, step_id: str, operation: str, last: bool = False) -> bool:
        action = self.actions.get(step_id)
        if action is None or not action.mutates or not faultable(operation):
            return False
        return operation in (last_operations(action) if last else operations(action))


def mutating_calls(journal: str, watch: PlanWatch) -> list[dict[str, Any]]:
    return [
        r
        for r in read(Path(journal))
        if r["type"] == "sdk_call" and watch.mutating_call(r["step"], r["operation"])
    ]


# -- the estate, by shape ---------------------------------------------------


def shape(sim: SimProcess, key_name: str) -> dict[str, Any]:
    """What an uninterrupted run leaves, without the run's key versions."""
    estate = estate_of(sim)
    gateway = estate.gateway
    protectors, versions, registered, keys, grants, rules = {}, set(), {}, {}, {}, {}
    for region in estate.regions:
        group, instance = estate.group(region), estate.instance(region)
        name = gateway.get_protector(group, instance)["properties"]["serverKeyName"]
        base, _, version = name.rpartition("_")
        protectors[region] = base or name
        versions.add(version)
        registered[region] = sorted(
            k["name"].rpartition("_")[0] or k["name"]
            for k in gateway.list_instance_keys(group, instance)
        )
        vault = estate.vault(region)
        keys[vault] = len(gateway.list_key_versions(vault, key_name))
        grants[vault] = len(gateway.list_role_assignments(estate.vault_id(region)))
        nsg = gateway.get_network_security_group(
            group, estate.mesh.regions[region].network_security_group
        )
        rules[region] = sorted(
            r["name"]
            for r in nsg["properties"].get("securityRules", [])
            if r["name"].startswith(DRILL_RULE_PREFIX)
        )
    fog = gateway.get_failover_group(
        estate.group(estate.regions[0]), estate.regions[0], estate.mesh.failover_group
    )
    return {
        "verdict": assessment_of(estate).verdict,
        "protectors": protectors,
        "one protector version": len(versions) == 1,
        "registered keys": registered,
        "key versions": keys,
        "role assignments": grants,
        "drill rules": rules,
        "first region's role": fog["properties"]["replicationRole"],
        "outages": sim.admin("GET", "outages")["value"],
    }


@dataclass(frozen=True)
class Reference:
    shape: dict[str, Any]
    calls: Counter[tuple[str, str]]  # (step, operation) -> mutating calls made


REFERENCES: dict[str, Reference] = {}


def fresh(sim: SimProcess, case: Case) -> None:
    sim.clear_faults()
    sim.end_outages()
    sim.reset(case.module.scenario)
    sim.set_clock(scale=SIM_TIME_SCALE)


def reference(sim: SimProcess, name: str, dirs: StateDirs) -> Reference:
    """An uninterrupted run of the runbook, once per session; leaves the
    simulator fresh for the test."""
    case = CASES[name]
    if name not in REFERENCES:
        fresh(sim, case)
        watch = PlanWatch()
        result = run(make_runner(dirs), sim, case, [watch.see])
        assert result.outcome == "succeeded", result.message
        made = Counter(
            (r["step"], r["operation"]) for r in mutating_calls(result.journal, watch)
        )
        assert made, f"{name}: the uninterrupted run made no mutating call"
        REFERENCES[name] = Reference(shape(sim, case.key_name), made)
    fresh(sim, case)
    return REFERENCES[name]


def run(
    runner: Runner,
    sim: SimProcess,
    case: Case,
    observers: list[Any],
    resume: str | None = None,
) -> RunResult:
    return runner(
        case.module,
        estate_of(sim),
        case.params,
        names=case.names,
        observers=observers,
        resume=resume,
    )


@pytest.fixture
def clean(sim: SimProcess) -> Iterator[SimProcess]:
    yield sim
    sim.clear_faults()
    sim.end_outages()


# -- transient faults ---------------------------------------------------------


class FaultEveryMutatingCall:
    """Adds a one-shot fault on the listener of each mutating SDK call as the
    call starts; its first request (the PUT, POST or DELETE) meets it."""

    def __init__(self, sim: SimProcess, fault: dict[str, Any]) -> None:
        self.sim = sim
        self.fault = fault
        self.watch = PlanWatch()
        self.pending: str | None = None
        self.faulted: list[tuple[str, str]] = []
        self.unfired: list[tuple[str, str]] = []

    def __call__(self, event: object) -> None:
        self.watch.see(event)
        if isinstance(event, events.CallStarted) and self.watch.mutating_call(
            event.step_id, event.operation
        ):
            on_vault = event.operation.startswith(("keys.", "crypto."))
            listener = event.resource.split("/")[0] if on_vault else "arm"
            rule = self.sim.add_fault(
                listener=listener, operation="*", remaining=1, **self.fault
            )
            self.pending = rule["id"]
            self.faulted.append((event.step_id, event.operation))
        elif isinstance(event, events.CallFinished) and self.pending:
            left = [f["id"] for f in self.sim.admin("GET", "faults")["value"]]
            if self.pending in left:
                self.sim.admin("DELETE", f"faults/{self.pending}")
                self.unfired.append((event.step_id, event.operation))
            self.pending = None


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("name", list(CASES))
def test_every_mutating_call_meets_a_transient_fault_and_is_retried(
    clean: SimProcess, dirs: StateDirs, runner: Runner, name: str, fault: str
) -> None:
    case = CASES[name]
    expected = reference(clean, name, dirs)
    faults = FaultEveryMutatingCall(clean, FAULTS[fault])

    result = run(runner, clean, case, [faults])

    assert result.outcome == "succeeded", result.message
    assert not faults.unfired, f"a fault never fired: {faults.unfired}"
    made = mutating_calls(result.journal, faults.watch)
    # Every mutating call the uninterrupted run makes was made, and retried.
    assert Counter((r["step"], r["operation"]) for r in made) == expected.calls
    not_retried = [(r["step"], r["operation"]) for r in made if r["attempts"] < 2]
    assert not not_retried, f"{fault} not retried in {not_retried}"
    assert verify(Path(result.journal)).ok
    assert shape(clean, case.key_name) == expected.shape


# -- killed at every step -----------------------------------------------------


class KillAfterEachMutatingCall:
    """Ctrl-C right after a mutating step's completing call returns (before
    its checkpoint), once per step and once per attempt."""

    def __init__(self) -> None:
        self.watch = PlanWatch()
        self.killed: list[str] = []
        self.fired = False

    def __call__(self, event: object) -> None:
        self.watch.see(event)
        if (
            not self.fired
            and isinstance(event, events.CallFinished)
            and event.outcome == "ok"
            and event.step_id not in self.killed
            and self.watch.mutating_call(event.step_id, event.operation, last=True)
        ):
            self.fired = True
            self.killed.append(event.step_id)
            raise KeyboardInterrupt


def assert_safe(sim: SimProcess, dirs: StateDirs, name: str, run_id: str) -> None:
    """After a kill: a drill is put back (or the next start will), and a
    healthy mesh is still healthy."""
    estate = estate_of(sim)
    if name in RESTORING:
        restored = not any(shape(sim, CASES[name].key_name)["drill rules"].values())
        assert restored or run_id in unfinished_restores(dirs, set(RESTORING))
        return
    if CASES[name].module.scenario == "protected":
        assert assessment_of(estate).verdict is Verdict.HEALTHY


@pytest.mark.parametrize("name", list(CASES))
def test_a_run_killed_at_every_mutating_step_resumes_to_the_same_estate(
    clean: SimProcess, dirs: StateDirs, runner: Runner, name: str
) -> None:
    case = CASES[name]
    expected = reference(clean, name, dirs)
    kill = KillAfterEachMutatingCall()
    run_id: str | None = None
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        kill.fired = False
        result = run(runner, clean, case, [kill], resume=run_id)
        outcomes.append(result.outcome)
        run_id = result.run_id
        if result.outcome != "interrupted":
            break
        assert_safe(clean, dirs, name, run_id)

    assert result.outcome == "succeeded", (outcomes, result.message)
    mutating_steps = {step for step, _ in expected.calls}
    assert set(kill.killed) == mutating_steps, "not killed at every mutating step"
    # No attempt repeats a mutating call the uninterrupted run makes once.
    for attempt in attempts(result.journal):
        made = Counter(
            (r["step"], r["operation"])
            for r in attempt
            if r["type"] == "sdk_call"
            and kill.watch.mutating_call(r["step"], r["operation"])
        )
        assert made <= expected.calls, f"done twice in one attempt: {made}"
    total = Counter(
        (r["step"], r["operation"]) for r in mutating_calls(result.journal, kill.watch)
    )
    if name in RESTORING:
        # A Ctrl-C puts a drill back at once, so the resumed run cuts again:
        # every cut is undone exactly once, and the drill ends as it began.
        cuts = sum(n for (step, _), n in total.items() if step.startswith("cut-"))
        uncuts = sum(n for (step, _), n in total.items() if step.startswith("uncut-"))
        assert cuts == uncuts and set(total) == set(expected.calls)
    else:
        assert total == expected.calls
    assert verify(Path(result.journal)).ok
    assert shape(clean, case.key_name) == expected.shape


def attempts(journal: str) -> list[list[dict[str, Any]]]:
    """The journal's records, split where the run started or resumed."""
    found: list[list[dict[str, Any]]] = []
    for record in read(Path(journal)):
        if record["type"] in ("run_started", "run_resumed") or not found:
            found.append([])
        found[-1].append(record)
    return found
