"""`tdemesh sim status|clock|outage|reset` steer a running simulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from azuresim.process import SimProcess
from tdemesh.cli_sim import sim as sim_command

VAULT = "kv-tde-eastus2"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(sim_command, list(args))
    return result.exit_code, result.output


def test_status_clock_outage_and_reset(simulator: SimProcess) -> None:
    where = ["--state-dir", str(simulator.state_dir)]

    code, output = run("status", *where)
    assert code == 0, output
    assert "scenario  protected" in output and VAULT in output

    before = datetime.fromisoformat(simulator.clock()["now"])
    code, output = run("clock", "--advance", "600", *where)
    assert code == 0, output
    after = datetime.fromisoformat(simulator.clock()["now"])
    assert after - before >= timedelta(seconds=600)

    code, output = run("outage", VAULT, "--minutes", "5", *where)
    assert code == 0 and f"{VAULT} is unreachable for 5 min" in output
    assert [o["vault"] for o in simulator.admin("GET", "outages")["value"]] == [VAULT]
    assert "(outage)" in run("status", *where)[1]
    code, output = run("outage", VAULT, "--end", *where)
    assert code == 0 and simulator.admin("GET", "outages")["value"] == []

    code, output = run("reset", "--scenario", "greenfield", *where)
    assert code == 0 and simulator.state()["scenario"] == "greenfield"


def test_commands_say_when_no_simulator_runs(tmp_path: Path) -> None:
    code, output = run("status", "--state-dir", str(tmp_path))
    assert code == 1
    assert "no simulator is serving" in output and "tdemesh sim serve" in output


def test_an_unknown_vault_outage_is_refused_clearly(simulator: SimProcess) -> None:
    code, output = run("outage", "kv-nowhere", "--state-dir", str(simulator.state_dir))
    assert code == 1 and "kv-nowhere" in output
