"""Faults and interruptions during mutating steps: each ends in a safe
state, the run resumes, nothing is done twice, and the journal verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from runbooks import events, protector, rotation
from runbooks.engine import RunContext
from runbooks.estate import DRILL_RULE_PREFIX, Estate
from runbooks.journal import read, verify
from runbooks.model import Step
from runbooks.paths import StateDirs
from tests.integration.runbooks.runbook_helpers import (
    Runner,
    assessment_of,
    estate_of,
)

PROTECTOR_PUT = "PUT encryptionProtector"
FAULTS = {
    "429": {"kind": "throttle"},
    "503": {"kind": "error", "status": 503, "code": "ServiceUnavailable"},
    "dropped connection": {"kind": "drop"},
}
# How each fault reads in a retry event.
REASONS = {
    "429": "HTTP 429",
    "503": "HTTP 503",
    "dropped connection": "closed without an answer",
}


def calls(journal: str, operation: str) -> list[dict[str, Any]]:
    return [
        r
        for r in read(Path(journal))
        if r["type"] == "sdk_call" and r["operation"] == operation
    ]


def protectors(sim: SimProcess) -> dict[str, str]:
    estate = estate_of(sim)
    return {
        r: estate.gateway.get_protector(estate.group(r), estate.instance(r))[
            "properties"
        ]["serverKeyName"]
        for r in estate.regions
    }


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_transient_fault_on_a_change_is_retried_visibly(
    simulator: SimProcess, runner: Runner, fault: str
) -> None:
    simulator.add_fault(
        listener="arm", operation=PROTECTOR_PUT, remaining=1, **FAULTS[fault]
    )
    seen: list[object] = []

    result = runner(
        rotation, estate_of(simulator), {"key_name": "next"}, observers=[seen.append]
    )

    assert result.outcome == "succeeded", result.message
    retries = [
        e
        for e in seen
        if isinstance(e, events.CallRetried)
        and e.step_id == "protector-sqlmi-tde-centralus"
    ]
    assert retries and REASONS[fault] in retries[0].reason
    switched = calls(
        result.journal,
        "sql.managed_instance_encryption_protectors.begin_create_or_update",
    )
    assert switched[0]["attempts"] >= 2  # the secondary's switch, retried


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_lasting_fault_stops_safely_and_the_run_resumes(
    simulator: SimProcess, runner: Runner, fault: str
) -> None:
    before = protectors(simulator)
    simulator.add_fault(listener="arm", operation=PROTECTOR_PUT, **FAULTS[fault])
    estate = estate_of(simulator)

    failed = runner(rotation, estate, {"key_name": "next"})

    assert failed.outcome == "failed"
    assert "What to do" in failed.message and "Traceback" not in failed.message
    # Safe: the secondary's switch failed, so the primary was not touched.
    assert protectors(simulator) == before
    assert assessment_of(estate).verdict is Verdict.HEALTHY

    simulator.clear_faults()
    resumed = runner(rotation, estate, resume=failed.run_id)

    assert resumed.outcome == "succeeded", resumed.message
    assert len(calls(resumed.journal, "keys.create_rsa_key")) == 1
    assert len(calls(resumed.journal, "keys.restore_key_backup")) == 1
    assert all(p.split("_")[1] == "next" for p in protectors(simulator).values())
    assert verify(Path(resumed.journal)).ok


def test_a_run_killed_between_a_call_and_its_checkpoint_does_not_repeat_it(
    simulator: SimProcess, runner: Runner
) -> None:
    def kill_after_the_copy(event: object) -> None:
        if (
            isinstance(event, events.CallFinished)
            and event.operation == "keys.restore_key_backup"
        ):
            raise KeyboardInterrupt

    estate = estate_of(simulator)
    first = runner(
        rotation, estate, {"key_name": "next"}, observers=[kill_after_the_copy]
    )
    assert first.outcome == "interrupted"

    second = runner(rotation, estate, resume=first.run_id)

    assert second.outcome == "succeeded", second.message
    assert len(calls(second.journal, "keys.create_rsa_key")) == 1
    assert len(calls(second.journal, "keys.restore_key_backup")) == 1
    for region in estate.regions:
        versions = estate.gateway.list_key_versions(estate.vault(region), "next")
        assert len(versions) == 1
    assert verify(Path(second.journal)).ok


def test_the_primary_protector_is_refused_before_the_secondary_holds_the_key(
    simulator: SimProcess, runner: Runner
) -> None:
    """The primary's switch checks the secondary itself, whatever the order
    a runbook (or a resumed run) reaches it in."""
    estate = estate_of(simulator)
    kv_east = estate.gateway.create_key("kv-tde-eastus2", "lonely", size=2048)
    kv_central = estate.gateway.restore_key(
        "kv-tde-centralus", estate.gateway.backup_key("kv-tde-eastus2", "lonely")
    )
    for kid in (kv_east.kid, kv_central.kid):  # registered on the primary only
        estate.gateway.register_instance_key("rg-tde-eastus2", "sqlmi-tde-eastus2", kid)

    class PrimaryOnly:
        name = "primary-only"
        title = "Switch the primary's protector"

        def steps(self, ctx: RunContext) -> list[Step]:
            ctx.values.update(
                {
                    "primary_region": "eastus2",
                    "secondary_region": "centralus",
                    "key_name": "lonely",
                    "uri:kv-tde-eastus2": kv_east.kid,
                    "uri:kv-tde-centralus": kv_central.kid,
                }
            )
            return [protector.protector_step(ctx, "eastus2", False)]

        def restore_steps(self, ctx: RunContext) -> list[Step]:
            return []

        def describe_estate(self, ctx: RunContext) -> dict[str, str]:
            return {}

    before = protectors(simulator)
    result = runner(PrimaryOnly(), estate)

    assert result.outcome == "refused"
    assert "secondary does not hold the key" in result.message
    assert protectors(simulator) == before


def test_a_killed_drill_process_is_restored_on_the_next_start(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    argv = [
        sys.executable, "-m", "tdemesh", "run", "vault-loss", "--yes",
        "--confirm", "nsg-sqlmi-eastus2", "--config", str(simulator.config_path),
        "--data-dir", str(dirs.root),
    ]  # fmt: skip
    # Slow time down while the drill runs, so that its restore (an ARM
    # long-running delete) cannot finish before the kill lands.
    simulator.set_clock(scale=5.0)
    child = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        run_id = _wait_for_checkpoint(dirs, "cut-", child)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    simulator.set_clock(scale=60.0)
    estate = estate_of(simulator)
    rule = f"{DRILL_RULE_PREFIX}kv-tde-eastus2"
    killed = read(dirs.journal_file(run_id))
    # Killed after the cut and before its restore finished (the restore
    # alone waits a simulated key check, so the kill always lands first).
    assert not any(r["type"] == "restore_finished" for r in killed)

    nxt = subprocess.run(
        [*argv[:4], "failover-drill", "--plan", *argv[8:]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert nxt.returncode == 0, nxt.stderr
    # A plan changes nothing, not even a restore.
    assert read(dirs.journal_file(run_id)) == killed
    again = subprocess.run(
        [*argv[:4], "failover-drill", "--yes", "--confirm", "fog-tde", *argv[8:]],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert f"Run {run_id} changed the estate" in again.stdout
    assert again.returncode == 0, again.stdout + again.stderr
    assert rule not in rules_of(estate)
    restored = read(dirs.journal_file(run_id))
    assert any(r["type"] == "restore_finished" for r in restored)
    assert verify(dirs.journal_file(run_id)).ok


def rules_of(estate: Estate) -> set[str]:
    nsg = estate.gateway.get_network_security_group(
        "rg-tde-eastus2", "nsg-sqlmi-eastus2"
    )
    return {r["name"] for r in nsg["properties"].get("securityRules", [])}


def _wait_for_checkpoint(
    dirs: StateDirs, prefix: str, child: subprocess.Popen[bytes]
) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert child.poll() is None, "the drill ended before it was killed"
        for path in dirs.journal.glob("*.jsonl"):
            try:
                records = read(path)
            except Exception:  # a line half written
                continue
            if any(
                r["type"] == "checkpoint" and r["step"].startswith(prefix)
                for r in records
            ):
                return path.stem
        time.sleep(0.1)
    raise AssertionError("the drill never reached its cut")
