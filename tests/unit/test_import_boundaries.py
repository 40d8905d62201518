"""The layering of DESIGN.md holds: only tui/ imports Textual, and the
simulator is reached only over HTTPS, never by importing the product."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("package", ["mesh", "runbooks", "azuresim"])
def test_core_packages_never_import_textual(package: str) -> None:
    offenders = [
        f for f, names in imported_modules(package).items() if "textual" in names
    ]
    assert offenders == []


@pytest.mark.parametrize("package", ["mesh", "runbooks", "azuresim", "tdemesh"])
def test_nothing_but_the_front_door_imports_the_console(package: str) -> None:
    allowed = {"tdemesh/cli_console.py"}
    offenders = [
        f
        for f, names in imported_modules(package).items()
        if "tui" in names and f not in allowed
    ]
    assert offenders == []


def test_simulator_imports_nothing_from_the_product() -> None:
    product = {"mesh", "runbooks", "tui", "tdemesh"}
    offenders = {
        f: names & product
        for f, names in imported_modules("azuresim").items()
        if names & product
    }
    assert offenders == {}


def test_mesh_never_imports_runbooks() -> None:
    offenders = [
        f for f, names in imported_modules("mesh").items() if "runbooks" in names
    ]
    assert offenders == []


def test_no_package_is_named_azure() -> None:
    assert not (ROOT / "azure").exists()
