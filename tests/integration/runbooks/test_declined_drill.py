"""Declining the vault-loss drill at the terminal: the operator sees the
address about to be denied, may mistype the name and try again, and a
decline is recorded as one."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from azuresim.process import SimProcess
from runbooks import vault_loss
from runbooks.confirm import TerminalConfirmer
from runbooks.engine import Engine
from runbooks.journal import read
from runbooks.paths import StateDirs
from tests.integration.runbooks.runbook_helpers import estate_of

NSG = "nsg-sqlmi-eastus2"


def test_the_cut_shows_the_address_denied_and_a_wrong_name_declines_after_3_tries(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    answers = iter(["nsg-sqlmi", "nsg-sqlmi-eastus", "nsg-sqlmi-centralus"])
    said: list[str] = []
    confirmer = TerminalConfirmer(lambda _: next(answers), said.append, "tester")
    estate = estate_of(simulator)
    engine = Engine(dirs, confirmer, operator="tester")

    plan = engine.plan(vault_loss, estate, estate.name).render()
    result = engine.run(vault_loss, estate, estate.name)

    assert "?/32" not in plan
    assert "private endpoint to kv-tde-eastus2" in plan
    assert any(re.fullmatch(r" +destination = \d+\.\d+\.\d+\.\d+/32", s) for s in said)
    assert sum("is not 'nsg-sqlmi-eastus2'" in s for s in said) == 2
    assert result.outcome == "declined", result.message
    assert result.message.startswith("Declined")


def test_a_declined_cut_waits_for_nothing_and_removes_nothing(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    confirmer = TerminalConfirmer(lambda _: "", lambda _: None, "tester")
    estate = estate_of(simulator)
    before = simulator.clock()

    result = Engine(dirs, confirmer, operator="tester").run(
        vault_loss, estate, estate.name
    )

    assert result.outcome == "declined", result.message
    skipped = {
        r["step"]: r.get("detail", "")
        for r in read(Path(result.journal))
        if r["type"] == "step_result" and r["state"] == "skipped"
    }
    assert skipped["recover"] == "no path was cut: nothing to wait for"
    removals = [d for s, d in skipped.items() if s.startswith("uncut-")]
    assert removals and set(removals) == {"not present"}
    waited = _seconds(simulator.clock()) - _seconds(before)
    assert waited < 300  # no 660 s key-check wait on the simulated clock


def _seconds(clock: dict[str, object]) -> float:
    return datetime.fromisoformat(str(clock["now"])).timestamp()


def test_tdemesh_run_exits_3_on_a_decline_and_says_so(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    from tests.integration.runbooks.test_cli_run import tdemesh

    code, out = tdemesh(
        "run", "vault-loss", "--yes",  # changes yes, but the cut is not named
        "--config", str(simulator.config_path), "--data-dir", str(dirs.root),
    )  # fmt: skip

    assert code == 3, out
    assert "Run declined" in out and "Declined: nothing more was changed" in out
    assert "Run failed" not in out and "Not confirmed" not in out
    assert "--confirm nsg-sqlmi-eastus2" in out
