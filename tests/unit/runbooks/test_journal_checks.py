"""What `journal verify` and the report say about a journal: a deleted
record is one missing record, a file that is no journal says so, and a
resumed run's steps are in plan order."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runbooks.journal import verify
from runbooks.paths import StateDirs
from runbooks.report import build
from tdemesh.cli import _register, cli
from tests.unit.runbooks.test_engine import (
    Book,
    Estate,
    engine,
    interrupt_after,
    setter,
)


def a_run(dirs: StateDirs) -> Path:
    book = Book([setter(name) for name in "abcdefgh"])
    return Path(engine(dirs).run(book, Estate(), "sim").journal)


def test_a_deleted_middle_record_is_reported_as_missing_once(tmp_path: Path) -> None:
    journal = a_run(StateDirs(tmp_path).ensure())
    lines = journal.read_text().splitlines(keepends=True)
    assert len(lines) > 20
    del lines[10]
    journal.write_text("".join(lines))

    check = verify(journal)

    assert check.problems == ["record 11 missing"]


def test_two_deleted_records_in_a_row_are_one_gap(tmp_path: Path) -> None:
    journal = a_run(StateDirs(tmp_path).ensure())
    lines = journal.read_text().splitlines(keepends=True)
    del lines[5:7]
    journal.write_text("".join(lines))

    assert verify(journal).problems == ["records 6-7 missing"]


def test_verify_reads_a_file_given_by_path_even_when_it_is_no_journal(
    tmp_path: Path,
) -> None:
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    _register()

    result = CliRunner().invoke(cli, ["journal", "verify", str(other)])

    assert result.exit_code == 1
    assert "not JSON" in result.output
    assert "passwd.jsonl" not in result.output


def test_a_resumed_runs_report_lists_steps_in_plan_order(tmp_path: Path) -> None:
    dirs = StateDirs(tmp_path).ensure()
    estate = Estate()
    book = Book([setter("a"), setter("b")], [setter("undo")])
    first = engine(dirs, interrupt_after("set-a")).run(book, estate, "sim")
    assert first.outcome == "interrupted"
    estate.facts.pop("undo")  # the restore put it in place; do it again

    engine(dirs).resume(first.run_id, book, estate)

    steps = [line["step"] for line in build(dirs, first.run_id)["steps"]]
    assert steps == ["set-a", "set-b", "set-undo"]
