"""The failover drill: gates, planned failover, roles observed, fail back."""

from __future__ import annotations

import json
from pathlib import Path

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from mesh.probe import probe
from runbooks import failover_drill
from runbooks.journal import read
from tests.integration.runbooks.runbook_helpers import (
    Runner,
    assessment_of,
    estate_of,
)


def primary_of(sim: SimProcess) -> str:
    estate = estate_of(sim)
    group = estate.gateway.get_failover_group(
        "rg-tde-eastus2", "eastus2", estate.mesh.failover_group
    )
    role = group["properties"]["replicationRole"]
    return "eastus2" if role == "Primary" else "centralus"


def test_the_drill_fails_over_and_back_and_measures_the_times(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(failover_drill, estate, names=["fog-tde"])

    assert result.outcome == "succeeded", result.message
    assert primary_of(simulator) == "eastus2"
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    failovers = [
        r["resource"]
        for r in read(Path(result.journal))
        if r["type"] == "sdk_call"
        and r["operation"] == "sql.instance_failover_groups.begin_failover"
    ]
    assert ["/locations/centralus/" in f for f in failovers] == [True, False]
    report = json.loads(Path(result.reports[1]).read_text())
    assert report["measurements"]["failover_seconds"] > 0
    assert report["measurements"]["failback_seconds"] > 0


def test_the_drill_is_refused_while_a_key_path_is_cut(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    snapshot = probe(estate.gateway, estate.name, estate.mesh)
    endpoint = snapshot.endpoint("centralus", "kv-tde-centralus")
    assert endpoint is not None
    estate.gateway.create_security_rule(
        "rg-tde-centralus",
        "nsg-sqlmi-centralus",
        "deny-kv",
        {
            "priority": 100,
            "direction": "Outbound",
            "access": "Deny",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "sourcePortRange": "*",
            "destinationAddressPrefix": f"{endpoint.ip_addresses[0]}/32",
            "destinationPortRange": "443",
        },
    )

    result = runner(failover_drill, estate, names=["fog-tde"])

    assert result.outcome == "refused"
    assert "sqlmi-tde-centralus -> kv-tde-centralus" in result.message
    assert primary_of(simulator) == "eastus2"
    calls = [r.get("operation") for r in read(Path(result.journal))]
    assert "sql.instance_failover_groups.begin_failover" not in calls
