"""Recover: after the auto-heal window, revalidate and bring databases back."""

from __future__ import annotations

from pathlib import Path

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from mesh.probe import probe
from runbooks import recover
from runbooks.estate import Estate
from runbooks.journal import read
from tests.integration.runbooks.runbook_helpers import Runner, assessment_of, estate_of

REGION, NSG = "eastus2", "nsg-sqlmi-eastus2"
INSTANCE = "sqlmi-tde-eastus2"
REVALIDATE = "sql.managed_instance_encryption_protectors.begin_revalidate"
RULES = ("cut-own-vault", "cut-other-vault")


def cut_both_paths(estate: Estate) -> None:
    """Deny the instance's outbound 443 to both of its vault endpoints, the
    way a bad NSG change does it."""
    snapshot = probe(estate.gateway, estate.name, estate.mesh)
    for priority, (rule, vault) in enumerate(
        zip(RULES, ("kv-tde-eastus2", "kv-tde-centralus"), strict=True), start=100
    ):
        endpoint = snapshot.endpoint(REGION, vault)
        assert endpoint is not None and endpoint.ip_addresses
        estate.gateway.create_security_rule(
            estate.group(REGION),
            NSG,
            rule,
            {
                "priority": priority,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "sourceAddressPrefix": "*",
                "sourcePortRange": "*",
                "destinationAddressPrefix": f"{endpoint.ip_addresses[0]}/32",
                "destinationPortRange": "443",
            },
        )


def remove_the_cut(estate: Estate) -> None:
    for rule in RULES:
        estate.gateway.delete_security_rule(estate.group(REGION), NSG, rule)


def database_states(estate: Estate) -> set[str]:
    databases = estate.gateway.list_databases(estate.group(REGION), INSTANCE)
    return {d["properties"]["status"] for d in databases}


def revalidations(journal: str) -> list[str]:
    return [
        r["resource"]
        for r in read(Path(journal))
        if r["type"] == "sdk_call" and r["operation"] == REVALIDATE
    ]


def test_recover_refuses_while_the_cut_is_there_then_brings_databases_back(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    cut_both_paths(estate)
    # The next key check, the grace period, then past the auto-heal window.
    simulator.set_clock(advance_seconds=600 + 600 + 1800 + 600)
    assert database_states(estate) == {"Inaccessible"}

    refused = runner(recover, estate)

    assert refused.outcome == "refused", refused.message
    assert INSTANCE in refused.message and "revalidation would fail" in refused.message
    assert "cut-own-vault" in refused.message and "fix:" in refused.message
    assert "tdemesh run recover" in refused.fix
    assert revalidations(refused.journal) == []

    remove_the_cut(estate)
    simulator.set_clock(advance_seconds=900)  # a key check: no heal, too late
    assert database_states(estate) == {"Inaccessible"}
    assessment = assessment_of(estate)
    (first, *_) = assessment.by_code("DATABASE_INACCESSIBLE")
    assert "tdemesh run recover" in first.fix

    result = runner(recover, estate)

    assert result.outcome == "succeeded", result.message
    protector = estate.instance_id(REGION) + "/encryptionProtector/current"
    assert revalidations(result.journal) == [protector]
    assert database_states(estate) == {"Online"}
    assert assessment_of(estate).verdict is Verdict.HEALTHY


def test_recover_on_a_healthy_mesh_changes_nothing(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)

    result = runner(recover, estate)

    assert result.outcome == "succeeded", result.message
    assert revalidations(result.journal) == []
    skipped = {
        r["step"]
        for r in read(Path(result.journal))
        if r["type"] == "step_result" and r["state"] == "skipped"
    }
    assert skipped == {"revalidate-sqlmi-tde-eastus2", "revalidate-sqlmi-tde-centralus"}
    assert result.plan is not None and all(
        a.done for a in result.plan.actions if a.mutates
    )
    assert assessment_of(estate).verdict is Verdict.HEALTHY
