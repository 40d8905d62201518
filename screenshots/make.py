"""Pictures of the console for people: SVGs, and PNGs to look at.

Draws the same constructed states as the snapshot tests (mesh's own types,
assessed by mesh's `assess`, a frozen clock) at 80x24 and 200x50, saves each
as SVG here, and converts it to PNG with `rsvg-convert` when it is installed
(Debian: `apt-get install -y librsvg2-bin fonts-firacode`; the SVGs ask for
Fira Code). Textual writes spaces as no-break spaces inside SVG text, which
librsvg squeezes; the PNG is made from a copy with plain spaces.

    .venv/bin/python screenshots/make.py
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "tui"))

import console_estates as estates  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from runbooks.model import Action, Danger, Plan  # noqa: E402
from tui.app import ConsoleApp  # noqa: E402
from tui.settings import ConsoleSettings  # noqa: E402

SIZES = {"80x24": (80, 24), "200x50": (200, 50)}
Scene = Callable[[Pilot[None]], Awaitable[None]]


def first_of(plan: Plan, danger: Danger) -> Action:
    return next(a for a in plan.actions if a.danger is danger)


async def runner_mid_run(pilot: Pilot[None]) -> None:
    estates.mid_run(await estates.open_rotation(pilot))


async def runner_confirm(pilot: Pilot[None]) -> None:
    estates.mid_run(await estates.open_rotation(pilot))
    estates.ask(pilot, first_of(estates.recorded_plan("rotation"), Danger.CHANGE))


async def runner_typed_confirm(pilot: Pilot[None]) -> None:
    estates.mid_run(await estates.open_rotation(pilot))
    estates.ask(
        pilot, first_of(estates.recorded_plan("vault-loss"), Danger.IRREVERSIBLE)
    )


async def help_screen(pilot: Pilot[None]) -> None:
    await estates.settle(pilot)
    await pilot.press("f1")


SCENES: dict[str, tuple[str, Scene]] = {
    "mesh-azure-read-only": ("azure:degraded", estates.settle),
    "mesh-healthy": ("healthy", estates.settle),
    "mesh-degraded": ("degraded", estates.settle),
    "mesh-critical": ("critical", estates.settle),
    "runner-mid-run": ("healthy", runner_mid_run),
    "runner-confirm": ("healthy", runner_confirm),
    "runner-typed-confirm": ("healthy", runner_typed_confirm),
    "help": ("healthy", help_screen),
}


async def draw(name: str, kind: str, scene: Scene, size: tuple[int, int]) -> Path:
    on_azure = kind.startswith("azure:")
    kind = kind.removeprefix("azure:")
    with tempfile.TemporaryDirectory() as data:
        session = estates.frozen_session(
            kind,
            simulator=not on_azure,
            runbooks=estates.RecordedHost(Path(data)),
        )
        app = ConsoleApp(session, ConsoleSettings(refresh_seconds=60))
        async with app.run_test(size=size) as pilot:
            await scene(pilot)
            await pilot.pause(0.2)
            label = f"{size[0]}x{size[1]}"
            saved = app.save_screenshot(f"{name}-{label}.svg", str(HERE))
    return Path(saved)


def to_png(svg: Path) -> Path | None:
    if shutil.which("rsvg-convert") is None:
        return None
    text = svg.read_text(encoding="utf-8").replace("&#160;", " ")
    text = text.replace("<svg ", '<svg xml:space="preserve" ', 1)
    png = svg.with_suffix(".png")
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as plain:
        plain.write(text)
    subprocess.run(["rsvg-convert", "-o", str(png), plain.name], check=True)
    Path(plain.name).unlink()
    return png


async def main() -> None:
    for name, (kind, scene) in SCENES.items():
        for size in SIZES.values():
            svg = await draw(name, kind, scene, size)
            png = to_png(svg)
            print(
                svg.relative_to(ROOT), "+ png" if png else "(no rsvg-convert: SVG only)"
            )


if __name__ == "__main__":
    asyncio.run(main())
