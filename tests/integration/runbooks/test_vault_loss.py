"""The vault-loss drill: cut, watch the fallback and the deadline, restore."""

from __future__ import annotations

import json
from pathlib import Path

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from runbooks import vault_loss
from runbooks.journal import read, verify
from tests.integration.runbooks.runbook_helpers import Runner, assessment_of, estate_of

NSG = "nsg-sqlmi-eastus2"


def drill_rules(sim: SimProcess, nsg: str = NSG) -> list[str]:
    estate = estate_of(sim)
    region = "eastus2" if nsg.endswith("eastus2") else "centralus"
    group = estate.gateway.get_network_security_group(estate.group(region), nsg)
    return [
        r["name"]
        for r in group["properties"].get("securityRules", [])
        if r["name"].startswith("tdemesh-drill")
    ]


def test_cutting_one_path_falls_back_and_the_drill_restores_a_healthy_mesh(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    seen: list[object] = []

    result = runner(vault_loss, estate, names=[NSG], observers=[seen.append])

    assert result.outcome == "succeeded", result.message
    assert drill_rules(simulator) == []
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    records = read(Path(result.journal))
    operations = [r["operation"] for r in records if r["type"] == "sdk_call"]
    assert "network.security_rules.begin_create_or_update" in operations
    assert "network.security_rules.begin_delete" in operations
    measured = json.loads(Path(result.reports[1]).read_text())["measurements"]
    assert measured["cut_path_unreachable"] is True
    assert measured["fallback_path_usable"] is True
    assert measured["databases_online"] == 4
    assert verify(Path(result.journal)).ok


def test_cutting_both_paths_runs_the_deadline_and_still_recovers(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(
        vault_loss,
        estate,
        {"second": "yes", "method": "outage"},
        names=["kv-tde-eastus2", "kv-tde-centralus"],
    )

    assert result.outcome == "succeeded", result.message
    assert simulator.admin("GET", "outages")["value"] == []
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    report = json.loads(Path(result.reports[1]).read_text())
    assert report["measurements"]["inaccessible_databases"] == 4


def test_an_unconfirmed_cut_changes_nothing(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(vault_loss, estate)  # --yes, but no --confirm NSG

    assert result.outcome == "declined"
    assert f"--confirm {NSG}" in result.fix
    assert drill_rules(simulator) == []
    assert assessment_of(estate).verdict is Verdict.HEALTHY


def test_a_drill_interrupted_after_the_cut_restores_at_once(
    simulator: SimProcess, runner: Runner
) -> None:
    from runbooks import events

    def interrupt(event: object) -> None:
        if (
            isinstance(event, events.StepChanged)
            and event.step_id.startswith("watch-fallback")
            and event.state.value == "running"
        ):
            raise KeyboardInterrupt

    estate = estate_of(simulator)
    result = runner(vault_loss, estate, names=[NSG], observers=[interrupt])

    assert result.outcome == "interrupted"
    assert drill_rules(simulator) == []
    assert verify(Path(result.journal)).ok


def test_past_the_auto_heal_window_the_drill_revalidates_and_recovers(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(
        vault_loss,
        estate,
        {"second": "yes", "method": "outage", "extend": "yes", "hold_seconds": "2400"},
        names=["kv-tde-eastus2", "kv-tde-centralus"],
    )

    assert result.outcome == "succeeded", result.message
    operations = [
        r["operation"] for r in read(Path(result.journal)) if r["type"] == "sdk_call"
    ]
    assert "sql.managed_instance_encryption_protectors.begin_revalidate" in operations
    assert assessment_of(estate).verdict is Verdict.HEALTHY


def test_without_extend_the_hold_ends_before_the_auto_heal_deadline(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(
        vault_loss,
        estate,
        {"second": "yes", "method": "outage", "hold_seconds": "2400"},
        names=["kv-tde-eastus2", "kv-tde-centralus"],
    )

    assert result.outcome == "succeeded", result.message
    operations = [
        r["operation"] for r in read(Path(result.journal)) if r["type"] == "sdk_call"
    ]
    assert (
        "sql.managed_instance_encryption_protectors.begin_revalidate" not in operations
    )
    warnings = [r["text"] for r in read(Path(result.journal)) if r["type"] == "log"]
    assert any("before the auto-heal deadline" in w for w in warnings)
