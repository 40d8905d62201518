"""`tdemesh run RUNBOOK --resume RUN_ID` resumes that runbook's run only,
and a run id that is not there is a usage error."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runbooks.paths import StateDirs
from tdemesh.cli import _register, cli
from tests.unit.runbooks.test_engine import Book, Estate, engine, setter


def invoke(*args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_resuming_another_runbooks_run_names_the_runbook_it_belongs_to(
    tmp_path: Path,
) -> None:
    dirs = StateDirs(tmp_path).ensure()
    book = Book([setter("a")])
    book.name = "rotation"
    done = engine(dirs).run(book, Estate(), "sim")
    assert done.outcome == "succeeded"

    code, out = invoke(
        "run", "setup", "--resume", done.run_id, "--data-dir", str(tmp_path)
    )

    assert code == 2, out
    assert f"run {done.run_id} is a rotation run, not setup" in out
    assert f"tdemesh run rotation --resume {done.run_id}" in out
    assert "already succeeded" not in out


def test_resuming_a_run_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    code, out = invoke(
        "run", "setup", "--resume", "20260101T000000Z-setup-000000",
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 2, out
    assert "no run 20260101T000000Z-setup-000000" in out
    assert "Traceback" not in out
