"""`tdemesh run` and `tdemesh journal` as an operator meets them, offline."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from runbooks.confirm import UnattendedConfirmer
from runbooks.engine import Engine
from runbooks.model import Danger, Step
from runbooks.paths import StateDirs
from tdemesh.cli import _register, cli


class Book:
    name = "book"
    title = "t"

    def steps(self, ctx: object) -> list[Step]:
        return [Step("s", "Step", "why", Danger.CHANGE, "fake.op", "/x")]

    def restore_steps(self, ctx: object) -> list[Step]:
        return []

    def describe_estate(self, ctx: object) -> dict[str, str]:
        return {}


def invoke(*args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_run_help_names_the_runbooks_and_their_parameters() -> None:
    code, out = invoke("run", "--help")
    assert code == 0
    for name in ("setup", "rotation", "vault-loss", "failover-drill", "recover"):
        assert name in out
    assert "--resume" in out and "--plan" in out and "route=" in out


def test_an_unknown_runbook_is_a_clear_usage_error() -> None:
    code, out = invoke("run", "no-such-book")
    assert code == 2
    assert "choose one of setup, rotation" in out
    assert "Traceback" not in out


def test_a_bad_parameter_is_a_usage_error() -> None:
    code, out = invoke("run", "setup", "-p", "route")
    assert code == 2 and "NAME=VALUE" in out


def test_a_missing_config_file_is_explained_without_a_traceback(
    tmp_path: Path,
) -> None:
    code, out = invoke(
        "run",
        "setup",
        "--plan",
        "--config",
        str(tmp_path / "nope.toml"),
        "--data-dir",
        str(tmp_path),
    )
    assert code == 2
    assert "Config problem" in out and "no such file" in out
    assert "Traceback" not in out


def test_journal_verify_passes_a_clean_journal_and_flags_an_edited_one(
    tmp_path: Path,
) -> None:
    dirs = StateDirs(tmp_path).ensure()
    result = Engine(dirs, UnattendedConfirmer(True)).run(Book(), object(), "sim")
    code, out = invoke("journal", "verify", "--data-dir", str(tmp_path))
    assert code == 0 and "ok" in out

    path = Path(result.journal)
    path.write_text(path.read_text().replace('"done"', '"skipped"'))
    code, out = invoke("journal", "verify", result.run_id, "--data-dir", str(tmp_path))
    assert code == 1 and "BROKEN" in out


def test_journal_report_rebuilds_the_report(tmp_path: Path) -> None:
    dirs = StateDirs(tmp_path).ensure()
    result = Engine(dirs, UnattendedConfirmer(True)).run(Book(), object(), "sim")
    (tmp_path / "reports" / f"{result.run_id}.md").unlink()
    code, out = invoke("journal", "report", result.run_id, "--data-dir", str(tmp_path))
    assert code == 0
    assert (tmp_path / "reports" / f"{result.run_id}.md").exists()


def test_journal_verify_catches_records_cut_off_the_end(tmp_path: Path) -> None:
    dirs = StateDirs(tmp_path).ensure()
    result = Engine(dirs, UnattendedConfirmer(True)).run(Book(), object(), "sim")
    path = Path(result.journal)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")  # the chain itself still holds

    code, out = invoke("journal", "verify", result.run_id, "--data-dir", str(tmp_path))

    assert code == 1 and "cut off the end" in out
