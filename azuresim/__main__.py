"""`python -m azuresim`: run the simulator in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azuresim.server import run, scenario_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m azuresim", description="Run the local Azure simulator."
    )
    parser.add_argument("--scenario", default="protected", choices=scenario_names())
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--token-port", type=int, default=0)
    parser.add_argument("--arm-port", type=int, default=0)
    args = parser.parse_args(argv)
    run(
        args.state_dir,
        scenario=args.scenario,
        time_scale=args.time_scale,
        token_port=args.token_port,
        arm_port=args.arm_port,
        announce=lambda line: print(line, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
