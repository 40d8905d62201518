"""A deliberate "no" is a decline, not a failure: its own outcome in the
journal and the report, its own exit status; a mistyped name may be typed
again; the operator sees the arguments of the change asked about."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runbooks.confirm import ConfirmationRequest, TerminalConfirmer
from runbooks.engine import Engine
from runbooks.journal import read
from runbooks.model import Danger
from runbooks.paths import StateDirs
from runbooks.report import build
from tdemesh.cli_runbooks import EXIT_DECLINED, run
from tests.unit.runbooks.test_engine import Book, Estate, setter

CUT = ConfirmationRequest(
    "cut", "Cut the path", "the drill", Danger.IRREVERSIBLE, "rules.put",
    "nsg-sqlmi-eastus2/securityRules/drill", "nsg-sqlmi-eastus2",
    {"destination": "10.1.0.4/32"},
)  # fmt: skip


def terminal(answers: list[str], said: list[str]) -> TerminalConfirmer:
    replies = iter(answers)
    return TerminalConfirmer(lambda _: next(replies), said.append, "alice")


def test_a_mistyped_name_may_be_typed_again() -> None:
    said: list[str] = []
    answer = terminal(["nsg-sqlmi-eastus", "nsg-sqlmi-eastus2", "drill"], said)
    confirmation = answer.confirm(CUT)
    assert confirmation.accepted and confirmation.reason == "drill"
    assert any("is not 'nsg-sqlmi-eastus2'" in line for line in said)


def test_three_wrong_names_decline() -> None:
    confirmation = terminal(["a", "b", "c"], []).confirm(CUT)
    assert not confirmation.accepted and confirmation.typed == "c"


def test_the_prompt_shows_the_arguments_such_as_the_address_denied() -> None:
    said: list[str] = []
    terminal([""], said).confirm(CUT)
    assert "    destination = 10.1.0.4/32" in said


def test_a_declined_change_is_a_decline_in_the_result_journal_and_report(
    tmp_path: Path,
) -> None:
    dirs = StateDirs(tmp_path).ensure()
    said: list[str] = []
    engine = Engine(dirs, terminal(["n"], said), operator="alice")
    estate = Estate()

    result = engine.run(Book([setter("a")]), estate, "sim")

    assert result.outcome == "declined" and estate.actions == []
    assert "Not confirmed" not in result.message
    assert "    value = True" in said  # the arguments of the change asked about
    assert read(Path(result.journal))[-1]["outcome"] == "declined"
    assert build(dirs, result.run_id)["outcome"] == "declined"


def test_run_help_documents_the_exit_status_of_a_decline() -> None:
    out = CliRunner().invoke(run, ["--help"]).output
    assert f"{EXIT_DECLINED} declined" in out
