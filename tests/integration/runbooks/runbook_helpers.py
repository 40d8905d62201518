"""Helpers for the runbook integration tests: an estate opened from the
config the simulator writes, the same way `tdemesh run` opens it, and a
runner that drives the engine with unattended confirmations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azuresim.process import SimProcess
from mesh.assess import assess
from mesh.assessment import Assessment
from mesh.config import Mesh, load_config
from mesh.gateway import Gateway
from mesh.probe import probe
from mesh.retry import RetryPolicy
from runbooks.confirm import UnattendedConfirmer
from runbooks.connect import open_estate
from runbooks.engine import Engine, RunResult
from runbooks.estate import Estate
from runbooks.paths import StateDirs

# Retries as in production, but short, so a fault that outlives them does
# not cost the test suite a minute.
FAST_RETRIES = RetryPolicy(attempts=3, total_seconds=20.0, base_wait=0.05)


def estate_of(sim: SimProcess, change: Callable[[Mesh], Mesh] | None = None) -> Estate:
    """The estate of the simulator's mesh, its config changed by `change`."""
    name, mesh = load_config(sim.config_path).mesh(None)
    if change is not None:
        mesh = change(mesh)
    return open_estate(name, mesh, Gateway(mesh.endpoints(), retry=FAST_RETRIES))


def assessment_of(estate: Estate) -> Assessment:
    return assess(probe(estate.gateway, estate.name, estate.mesh))


Runner = Callable[..., RunResult]


def make_runner(dirs: StateDirs) -> Runner:
    def run(
        module: Any,
        estate: Estate,
        params: dict[str, str] | None = None,
        names: Sequence[str] = (),
        observers: Sequence[Callable[[object], None]] = (),
        resume: str | None = None,
    ) -> RunResult:
        confirmer = UnattendedConfirmer(True, names, "integration test", "tester")
        engine = Engine(dirs, confirmer, list(observers), operator="tester")
        if resume:
            return engine.resume(resume, module, estate)
        return engine.run(module, estate, estate.name, params or {})

    return run
