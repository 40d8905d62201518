"""Probe latency: is the probe's wall time close to one call's latency?

Starts the simulator on the `protected` scenario, adds 50 ms to every
request (a simulator fault of kind `latency`, through its admin API), then
probes the mesh. Prints the number of calls, the wall time, one call's
latency (measured: the median of single sequential reads under the same
fault) and wall / one-call latency. Target: <= 3 for one mesh (the probe
reads in dependent waves: what the config names, then the keys the instances
registered). The first probe is reported apart: it also pays for the token,
the Key Vault challenge and the TLS handshakes.

    .venv/bin/python bench/probe_latency.py [--latency 0.05] [--runs 5]

The client's CPU per probe is printed too: every call costs some in the SDK
pipeline, and one Python process (one GIL) spends it for all the probe's
threads, so it bounds the wall time as much as the waves do.

`--nodelay` is a diagnostic from before the simulator set TCP_NODELAY on its
listeners itself (azuresim.server.bind_socket): it forces it from outside.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from azuresim import process
from mesh.config import load_config
from mesh.gateway import Gateway
from mesh.probe import probe

NODELAY_LAUNCHER = """
import socket, sys
_listen = socket.socket.listen
def listen(self, *args):
    self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return _listen(self, *args)
socket.socket.listen = listen
from azuresim.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def one_call_latency(gateway: Gateway, rg: str, instance: str, samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.monotonic()
        gateway.get_instance(rg, instance)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodelay", action="store_true")
    args = parser.parse_args()

    command = [sys.executable, "-c", NODELAY_LAUNCHER] if args.nodelay else None
    with process.start(scenario="protected", command=command) as sim:
        name, mesh = load_config(sim.config_path).mesh()
        region = next(iter(mesh.regions.values()))
        sim.add_fault(
            "latency", listener="*", operation="*", delay_seconds=args.latency
        )
        gateway = Gateway(mesh.endpoints())
        try:
            cold = probe(gateway, name, mesh)
            walls, cpus, calls = [], [], 0
            for _ in range(args.runs):
                started, cpu_started = time.monotonic(), time.process_time()
                snapshot = probe(gateway, name, mesh)
                walls.append(time.monotonic() - started)
                cpus.append(time.process_time() - cpu_started)
                calls = snapshot.calls
                assert not snapshot.all_errors(), snapshot.all_errors()
            one = one_call_latency(gateway, region.resource_group, region.instance, 9)
        finally:
            gateway.close()

    wall = statistics.median(walls)
    print(f"latency added per call  : {args.latency * 1000:.0f} ms")
    print(f"one call (measured)     : {one * 1000:.0f} ms")
    print(
        f"first probe             : {cold.calls} calls, "
        f"{cold.duration_seconds:.3f} s (token, challenge and TLS included)"
    )
    print(f"calls per probe         : {calls}")
    print(f"wall time (median of {args.runs}) : {wall:.3f} s")
    print(f"wall / one-call latency : {wall / one:.2f} (target <= 3)")
    print(f"wall / added latency    : {wall / args.latency:.2f}")
    print(f"client CPU per probe    : {statistics.median(cpus) * 1000:.0f} ms")
    print(f"sequential would take   : {calls * one:.2f} s")


if __name__ == "__main__":
    main()
