"""A failover drill resumed after Ctrl-C goes on from the roles Azure
reports now, not from where its first attempt stopped."""

from __future__ import annotations

from pathlib import Path

from azuresim.process import SimProcess
from runbooks import events, failover_drill
from runbooks.journal import read
from tests.integration.runbooks.runbook_helpers import Runner, estate_of
from tests.integration.runbooks.test_failover_drill import primary_of


def ctrl_c_once_the_failback_returned(event: object) -> None:
    """The failback finished on Azure; the operator pressed Ctrl-C before
    the run could checkpoint it."""
    if (
        isinstance(event, events.CallFinished)
        and event.step_id == "failback"
        and event.outcome == "ok"
        and event.operation == "sql.instance_failover_groups.begin_failover"
    ):
        raise KeyboardInterrupt


def test_a_drill_interrupted_after_its_failback_resumes_from_the_real_roles(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    first = runner(
        failover_drill,
        estate,
        names=["fog-tde"],
        observers=[ctrl_c_once_the_failback_returned],
    )
    assert first.outcome == "interrupted", first.message
    assert primary_of(simulator) == "eastus2"  # the failback happened

    again = runner(failover_drill, estate, names=["fog-tde"], resume=first.run_id)

    assert again.outcome == "succeeded", again.message
    assert primary_of(simulator) == "eastus2"
    records = read(Path(again.journal))
    resumed = records[[r["type"] for r in records].index("run_resumed") :]
    failovers = [
        r for r in resumed
        if r["type"] == "sdk_call"
        and r["operation"] == "sql.instance_failover_groups.begin_failover"
    ]  # fmt: skip
    assert failovers == []  # nothing was failed over again
    results = {r["step"]: r for r in resumed if r["type"] == "step_result"}
    assert results["failback"]["state"] == "skipped"
    assert results["observe-failover"]["state"] == "done"
