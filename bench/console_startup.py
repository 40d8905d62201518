"""Time to first frame: the console against a bare Textual app, same run.

Each sample is a fresh interpreter (imports included, as a DBA starting
`tdemesh` pays them), run headless at 120x40; the time is from spawning the
process to the first frame the compositor hands to the terminal. The console
looks at a constructed estate on its worker (no probe, no simulator), so
this measures the console itself: imports, compose, CSS and the first paint.
Reports medians, the ratio (target <= 1.5) and each side's peak memory (for
the console: after its first look has been drawn).

    .venv/bin/python bench/console_startup.py [--samples 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.5

CHILD = r"""
import resource, sys, time
spawned = float(sys.argv[1])
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
which = {which!r}
config = {config!r}
if which == "bare":
    from textual.app import App
    from textual.widgets import Footer, Header, Static

    class Bare(App):
        def compose(self):
            yield Header()
            yield Static("hello")
            yield Footer()

    app = Bare()
elif which == "simulator":
    # The console as `tdemesh` opens it on a running simulator: SDK clients,
    # Gateway, probe. (Starting the simulator itself is not counted.)
    import tempfile
    from mesh.config import load_config
    from tdemesh.cli_console import session_for
    from tui.app import ConsoleApp
    from tui.settings import ConsoleSettings

    from pathlib import Path
    name, mesh = load_config(Path(config)).mesh(None)
    session = session_for(name, mesh, Path(tempfile.mkdtemp()))
    app = ConsoleApp(session, ConsoleSettings())
else:
    from tui.app import ConsoleApp
    from tui.session import Session
    from tui.settings import ConsoleSettings
    from tui.widgets.header import Where

    def look():
        # On the worker, as a real probe would be: the estate is test data.
        import console_estates

        return console_estates.look("degraded")

    regions = ("eastus2", "centralus")
    where = Where(True, "sim", "0" * 8, "Simulator", "fog-tde", regions)
    app = ConsoleApp(Session(where, look), ConsoleSettings())

first = []
display = app._display

def looked():
    # The console goes on to its first look; the bare app has none.
    screen = getattr(app, "mesh_screen", None)
    return screen is None or screen.looks_shown >= 1

def watch(screen, renderable):
    # The first frame the compositor hands to the terminal.
    if renderable is not None and not first:
        first.append(time.time() - spawned)
    if first and looked():
        app.exit()
    display(screen, renderable)

app._display = watch
app.run(headless=True, size=(120, 40))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("FRAME", first[0], "RSS", rss)
"""


def sample(which: str, config: str = "") -> tuple[float, int]:
    tests = str(ROOT / "tests" / "tui")
    code = CHILD.format(root=str(ROOT), tests=tests, which=which, config=config)
    done = subprocess.run(
        [sys.executable, "-c", code, repr(time.time())],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {which} sample failed:\n{done.stderr[-3000:]}")
    words = done.stdout.split()
    return float(words[words.index("FRAME") + 1]), int(words[words.index("RSS") + 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument(
        "--simulator",
        action="store_true",
        help="also time the console on a running simulator (real SDK clients)",
    )
    args = parser.parse_args()

    results: dict[str, list[tuple[float, int]]] = {"bare": [], "console": []}
    for _ in range(args.samples):
        for which in ("bare", "console"):  # interleaved, so drift hits both
            results[which].append(sample(which))
    if args.simulator:
        from azuresim import process

        with process.start(scenario="protected") as sim:
            config = str(sim.config_path)
            results["simulator"] = [
                sample("simulator", config) for _ in range(args.samples)
            ]

    report = {}
    for which, runs in results.items():
        report[which] = {
            "first_frame_median_s": round(statistics.median(t for t, _ in runs), 3),
            "first_frame_min_s": round(min(t for t, _ in runs), 3),
            "max_rss_mib": round(max(r for _, r in runs) / 1024, 1),
        }
    ratio = (
        report["console"]["first_frame_median_s"]
        / report["bare"]["first_frame_median_s"]
    )
    report["ratio"] = round(ratio, 2)
    report["ratio_of_fastest"] = round(
        report["console"]["first_frame_min_s"] / report["bare"]["first_frame_min_s"], 2
    )
    if "simulator" in report:
        report["simulator_ratio"] = round(
            report["simulator"]["first_frame_median_s"]
            / report["bare"]["first_frame_median_s"],
            2,
        )
    report["target_ratio"] = TARGET_RATIO
    report["within_target"] = ratio <= TARGET_RATIO
    print(json.dumps(report, indent=2))
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
