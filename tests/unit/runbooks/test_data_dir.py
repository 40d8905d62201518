"""A data directory that cannot be used is one line naming it and the fix,
exit 2, before anything runs (even a plan)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tdemesh.cli import _register, cli


def invoke(*args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_a_data_dir_whose_journal_is_a_file_is_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    (tmp_path / "journal").write_text("not a directory")

    code, out = invoke("run", "setup", "--plan", "--data-dir", str(tmp_path))

    assert code == 2, out
    assert out.count("\n") == 1 and "Traceback" not in out
    assert f"cannot use the data directory {tmp_path}" in out
    assert f"{tmp_path / 'journal'} exists and is not a directory" in out
    assert "--data-dir" in out


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_a_data_dir_that_cannot_be_created_is_one_line_and_exit_2() -> None:
    code, out = invoke("run", "setup", "--plan", "--data-dir", "/sys/kernel/tdemesh")

    assert code == 2, out
    assert out.count("\n") == 1 and "Traceback" not in out
    assert "cannot use the data directory /sys/kernel/tdemesh" in out
