"""Parameters are checked before anything runs: unknown names with the list
of valid ones, Key Vault key name rules, and no -p on a resumed run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runbooks.engine import Engine
from runbooks.parameters import BadParameters, check
from runbooks.paths import StateDirs
from tdemesh.cli import _register, cli
from tests.unit.runbooks.test_engine import Book, Estate, engine, setter

URI = "https://kv-tde-eastus2.vault.azure.net/keys/tde-protector/0123abcd"


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(
        cli, [*args, "--data-dir", str(tmp_path / "data")], catch_exceptions=False
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("value", ["bad_name!", URI, "", "k" * 128])
def test_a_key_name_outside_key_vault_rules_is_refused(value: str) -> None:
    with pytest.raises(BadParameters, match="1-127 letters, digits and dashes"):
        check("rotation", {"key_name": value})


def test_a_good_key_name_and_known_choices_pass() -> None:
    check("setup", {"key_name": "tde-protector-2", "route": "pem", "key_size": "3072"})
    check("vault-loss", {"second": "yes", "hold_seconds": "120"})


def test_an_unknown_name_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(BadParameters) as raised:
        check("vault-loss", {"nosuch": "1"})
    assert "nosuch: not a parameter of vault-loss" in raised.value.message
    assert "method=nsg|outage" in raised.value.fix


@pytest.mark.parametrize(
    "param", ["key_name=bad_name!", f"key_name={URI}", "nosuch=1", "route=sideways"]
)
def test_the_cli_refuses_bad_parameters_before_anything_runs(
    tmp_path: Path, param: str
) -> None:
    code, out = invoke(tmp_path, "run", "rotation", "--plan", "-p", param)
    assert code == 2, out
    assert "Traceback" not in out
    assert "The parameters of rotation are:" in out
    assert "simulator" not in out  # refused before one was started
    assert not (tmp_path / "data").exists()


def test_resume_refuses_parameters_and_says_why(tmp_path: Path) -> None:
    code, out = invoke(
        tmp_path, "run", "rotation", "--resume", "some-run", "-p", "key_name=good"
    )
    assert code == 2
    assert "goes on with the parameters it started with" in out


def test_the_engine_refuses_bad_parameters_before_writing_a_journal(
    tmp_path: Path,
) -> None:
    dirs = StateDirs(tmp_path).ensure()
    book = Book([setter("a")])
    book.name = "setup"
    with pytest.raises(BadParameters):
        engine(dirs).run(book, Estate(), "sim", {"key_name": "bad_name!"})
    with pytest.raises(BadParameters):
        Engine.plan(engine(dirs), book, Estate(), "sim", {"nosuch": "1"})
    assert list(dirs.journal.iterdir()) == []
