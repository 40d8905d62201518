"""Open a mesh for the runbooks: the Gateway, the probe, and on the
simulator its admin API. The CLI and the console both start here."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from mesh.assess import assess
from mesh.assessment import Assessment
from mesh.config import Mesh
from mesh.endpoints import Endpoints
from mesh.gateway import Gateway
from mesh.probe import probe
from mesh.snapshot import Snapshot
from runbooks.estate import Admin, Estate


def open_estate(name: str, mesh: Mesh, gateway: Gateway | None = None) -> Estate:
    """The estate of one mesh, with its own Gateway unless one is given."""
    gateway = gateway or Gateway(mesh.endpoints())

    def look() -> tuple[Snapshot, Assessment]:
        snapshot = probe(gateway, name, mesh)
        return snapshot, assess(snapshot)

    admin = (
        simulator_admin(gateway.endpoints) if gateway.endpoints.is_simulator else None
    )
    return Estate(name, mesh, gateway, look, admin)


def simulator_admin(endpoints: Endpoints) -> Admin | None:
    """Calls to the simulator's admin API (clock, outages); no Azure twin."""
    if not endpoints.admin_url:
        return None
    import httpx

    base = endpoints.admin_url.rstrip("/")
    context = ssl.create_default_context(cafile=endpoints.ca_bundle)

    def call(method: str, path: str, body: Mapping[str, Any] | None) -> Any:
        with httpx.Client(verify=context, timeout=30.0) as client:
            response = client.request(
                method, f"{base}/{path.lstrip('/')}", json=dict(body) if body else None
            )
        response.raise_for_status()
        return response.json() if response.content else None

    return call
