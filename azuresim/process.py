"""Start the simulator as a child process and steer it from the parent.

The parent learns the listeners' addresses from the `endpoints.json` the child
writes once every socket is bound and serving, then talks to it the way any
client does: over HTTPS, trusting the CA in the state directory. The admin
helpers here wrap the `/_sim/` API, which has no Azure equivalent; only
sim-only code paths (tests, the console's simulator controls) use them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

ENDPOINTS_FILE = "endpoints.json"


class SimulatorStartError(RuntimeError):
    """The child process exited, or did not become ready in time."""


@dataclass(frozen=True)
class SimEndpoints:
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str
    subscription_id: str
    arm_url: str
    vaults: dict[str, str]
    ca_bundle: str
    admin_url: str
    pid: int

    @classmethod
    def from_file(cls, path: Path) -> SimEndpoints:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            authority=data["authority"],
            tenant_id=data["tenant_id"],
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            subscription_id=data["subscription_id"],
            arm_url=data["arm_url"],
            vaults=dict(data["vaults"]),
            ca_bundle=data["ca_bundle"],
            admin_url=data["admin_url"],
            pid=int(data["pid"]),
        )


class SimAdmin:
    """The admin API of a running simulator, found through its state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.endpoints_path = state_dir / ENDPOINTS_FILE
        self.config_path = state_dir / "tdemesh.toml"
        self._endpoints: SimEndpoints | None = None
        self._http: httpx.Client | None = None

    @property
    def endpoints(self) -> SimEndpoints:
        """The current endpoints (re-read: a vault may have been added)."""
        self._endpoints = SimEndpoints.from_file(self.endpoints_path)
        return self._endpoints

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            context = ssl.create_default_context(cafile=self.endpoints.ca_bundle)
            self._http = httpx.Client(verify=context, timeout=30.0)
        return self._http

    # -- admin API ----------------------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoints.admin_url}/{path.lstrip('/')}"
        response = self.http.request(method, url, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator admin {method} {path}: {response.status_code} "
                f"{response.text}"
            )
        return response.json() if response.content else None

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "clock")
        return result

    def set_clock(
        self, *, scale: float | None = None, advance_seconds: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if scale is not None:
            body["scale"] = scale
        if advance_seconds is not None:
            body["advance_seconds"] = advance_seconds
        result: dict[str, Any] = self.admin("POST", "clock", body)
        return result

    def reset(self, scenario: str = "protected") -> None:
        self.admin("POST", "reset", {"scenario": scenario})

    def add_fault(self, kind: str, **rule: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("POST", "faults", {"kind": kind, **rule})
        return result

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def start_outage(
        self, vault: str, duration_seconds: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"vault": vault}
        if duration_seconds is not None:
            body["duration_seconds"] = duration_seconds
        result: dict[str, Any] = self.admin("POST", "outages", body)
        return result

    def end_outages(self) -> None:
        self.admin("DELETE", "outages")

    def end_outage(self, vault: str) -> None:
        self.admin("DELETE", f"outages/{vault}")

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("GET", "state")
        return result

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        result: dict[str, Any] = self.admin("GET", f"events?since={since}")
        return list(result["value"])

    def add_principal(
        self, display_name: str, roles: list[dict[str, str]] | None = None
    ) -> dict[str, Any]:
        """A new application with a client secret; roles: [{"role", "vault"}]."""
        result: dict[str, Any] = self.admin(
            "POST", "principals", {"display_name": display_name, "roles": roles or []}
        )
        return result

    def put_vault(self, name: str, **settings: Any) -> dict[str, Any]:
        """Create a vault (with its listener) or change its settings."""
        result: dict[str, Any] = self.admin("PUT", f"vaults/{name}", settings)
        return result

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


class SimulatorNotRunning(RuntimeError):
    """No live simulator serves from the given state directory."""


def attach(state_dir: Path) -> SimAdmin:
    """The admin API of the simulator already serving from `state_dir`."""
    endpoints_path = state_dir / ENDPOINTS_FILE
    try:
        pid = SimEndpoints.from_file(endpoints_path).pid
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError) as exc:
        raise SimulatorNotRunning(
            f"no simulator is serving from {state_dir}; start one with "
            "`tdemesh sim serve`"
        ) from exc
    return SimAdmin(state_dir)


class SimProcess(SimAdmin):
    """A simulator child process started by this one, and its admin API."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        state_dir: Path,
        log_path: Path,
        owns_state_dir: bool = False,
    ) -> None:
        super().__init__(state_dir)
        self.process = process
        self.owns_state_dir = owns_state_dir
        self.log_path = log_path

    def stop(self, timeout: float = 10.0) -> None:
        self.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    state_dir: Path | None = None,
    *,
    scenario: str = "protected",
    time_scale: float = 1.0,
    timeout: float = 60.0,
    command: list[str] | None = None,
) -> SimProcess:
    """Start `python -m azuresim` (or `command`) on free loopback ports and
    wait until every listener answers. Without `state_dir` a temporary one is
    made, and removed again by stop()."""
    owns_state_dir = state_dir is None
    state_dir = (state_dir or Path(tempfile.mkdtemp(prefix="azuresim-"))).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    endpoints_path = state_dir / ENDPOINTS_FILE
    endpoints_path.unlink(missing_ok=True)
    log_path = state_dir / "azuresim.log"
    argv = command or [sys.executable, "-m", "azuresim"]
    argv = [
        *argv,
        "--state-dir",
        str(state_dir),
        "--scenario",
        scenario,
        "--time-scale",
        str(time_scale),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    sim = SimProcess(process, state_dir, log_path, owns_state_dir)
    try:
        _wait_until_ready(sim, timeout)
    except BaseException:
        sim.stop()
        raise
    return sim


def _wait_until_ready(sim: SimProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sim.process.poll() is not None:
            raise SimulatorStartError(
                f"the simulator exited with {sim.process.returncode}:\n"
                + sim.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
            )
        if sim.endpoints_path.exists():
            endpoints = sim.endpoints
            urls = [endpoints.authority, endpoints.arm_url, *endpoints.vaults.values()]
            if all(_answers(url) for url in urls):
                sim.clock()  # and the admin API answers over HTTPS
                return
        time.sleep(0.05)
    raise SimulatorStartError(f"the simulator was not ready within {timeout:.0f} s")


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1.0):
            return True
    except OSError:
        return False
