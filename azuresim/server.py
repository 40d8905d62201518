"""The simulator process: one World, one asyncio loop, many HTTPS listeners.

Listeners: `token` (Entra ID's discovery + token endpoint), `arm` (resource
providers plus the admin API under `/_sim/`), and one per vault, because a
Key Vault client addresses a vault by host and port only. Every socket is
bound by this module on a loopback address before any server starts, so the
ports are known (and written to `endpoints.json`) before the first request,
and a vault keeps its port across scenario resets.

The ARM resource providers (`azuresim.arm`) and the instances' behaviour
engine are imported defensively: the data plane and the token endpoint work
on their own without them.

Every answer carries a `Date` header from the simulated clock, not uvicorn's
wall-clock one: Azure tells clients its time that way, and a client that
computes deadlines from it then follows the simulated clock (advanced,
scaled) exactly as it follows Azure's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import socket
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from azuresim import admin_api, backup, scenarios
from azuresim.auth import arm_caller, rescale_expiries, shift_expiries
from azuresim.clock import SimClock
from azuresim.errors import ArmError, AzureError
from azuresim.faults import (
    ASGIApp,
    FaultMiddleware,
    Message,
    Receive,
    Scope,
    Send,
)
from azuresim.keyvault_api import ALL_METHODS, vault_app
from azuresim.state import Principal, World
from azuresim.tls import TlsFiles, ensure_certificates
from azuresim.token_api import token_app

ENDPOINTS_FILE = "endpoints.json"
CONFIG_FILE = "tdemesh.toml"

log = logging.getLogger(__name__)


def optional_module(name: str) -> ModuleType | None:
    """A sibling module that may not exist yet (built by another engineer)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def scenario_names() -> tuple[str, ...]:
    return tuple(scenarios.SCENARIOS)


def require_loopback(host: str) -> str:
    """The simulator never listens beyond this machine: 127.0.0.1 only (its
    certificate and every URL it hands out name that address)."""
    if host in ("127.0.0.1", "localhost"):
        return "127.0.0.1"
    raise ValueError(
        f"the simulator binds only to the loopback address 127.0.0.1, not {host!r}"
    )


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it every answer waits ~40 ms
    # for the client's delayed ACK (Nagle), which Azure's front doors do not.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def http_date(moment: datetime) -> str:
    """RFC 7231 IMF-fixdate, e.g. 'Thu, 03 Dec 2026 17:15:24 GMT'."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class SimDateMiddleware:
    """Stamps every answer of a listener, faults included, with a `Date`
    header read from the simulated clock when the answer starts."""

    def __init__(self, app: ASGIApp, get_world: Callable[[], World]) -> None:
        self.app = app
        self.get_world = get_world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _DatedSend(send, self.get_world))


class _DatedSend:
    """uvicorn's `send`, with the simulated `Date` put on the response start.

    `__self__` is uvicorn's request cycle, as on the bound method it wraps:
    `faults.abort_connection` drops a connection through it."""

    def __init__(self, send: Send, get_world: Callable[[], World]) -> None:
        self._send = send
        self._get_world = get_world
        self.__self__ = getattr(send, "__self__", None)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            date = http_date(self._get_world().clock.now()).encode("latin-1")
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() != b"date"
            ]
            message["headers"] = [(b"date", date), *headers]
        await self._send(message)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the Simulator: several
    servers share one loop, and each would otherwise steal Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Simulator:
    """Owns the World and every listener; implements admin_api.SimControl."""

    def __init__(
        self,
        state_dir: Path,
        *,
        scenario: str = "protected",
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        token_port: int = 0,
        arm_port: int = 0,
    ) -> None:
        if scenario not in scenario_names():
            raise ValueError(
                f"unknown scenario {scenario!r}; choose one of: "
                + ", ".join(scenario_names())
            )
        self.host = require_loopback(host)
        self.state_dir = state_dir.resolve()
        self.tls: TlsFiles = ensure_certificates(self.state_dir)
        backup.load_sealing_key(self.state_dir)
        self._behaviour = optional_module("azuresim.behaviour")
        self._vault_sockets: dict[str, socket.socket] = {}
        self._servers: dict[str, _Server] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._running = False
        self._stop = asyncio.Event()

        self.token_socket = bind_socket(self.host, token_port)
        self.arm_socket = bind_socket(self.host, arm_port)
        self._world = self._build(scenario, SimClock(scale=time_scale))
        self._arm_app: ASGIApp = self._make_arm_app()

    # -- SimControl ---------------------------------------------------------

    @property
    def world(self) -> World:
        return self._world

    def port_for(self, vault_name: str) -> int:
        sock = self._vault_sockets.get(vault_name)
        if sock is None:
            sock = bind_socket(self.host, 0)
            self._vault_sockets[vault_name] = sock
            if self._running:
                self._start_vault_listener(vault_name)
        if self._running:
            # The caller sets vault.port from our answer and adds the vault to
            # the World; advertise it once that handler has finished.
            asyncio.get_running_loop().call_soon(self._write_files)
        return int(sock.getsockname()[1])

    def reset(self, scenario: str) -> None:
        if scenario not in scenario_names():
            raise ValueError(
                f"unknown scenario {scenario!r}; choose one of: "
                + ", ".join(scenario_names())
            )
        old = self._world
        world = self._build(scenario, old.clock)
        # Clients keep the tokens they hold; a principal that survives the
        # reset (the operator) keeps working without a new token.
        world.issued_tokens = dict(old.issued_tokens)
        world.token_audiences = dict(old.token_audiences)
        self._world = world
        self._arm_app = self._make_arm_app()
        if self._running:
            for name in self._vault_sockets:
                if name not in self._servers:
                    self._start_vault_listener(name)
            self._write_files()
        self.tick()

    def vaults_changed(self) -> None:
        """Advertise the World's vaults now (endpoints.json, tdemesh.toml)."""
        if self._running:
            self._write_files()

    def clock_changed(self, advanced_seconds: float, old_scale: float) -> None:
        if advanced_seconds:
            shift_expiries(self._world, advanced_seconds)
        rescale_expiries(self._world, old_scale, self._world.clock.scale)
        self.tick()

    # -- URLs ---------------------------------------------------------------

    @property
    def token_port(self) -> int:
        return int(self.token_socket.getsockname()[1])

    @property
    def arm_port(self) -> int:
        return int(self.arm_socket.getsockname()[1])

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.token_port}"

    @property
    def arm_url(self) -> str:
        return f"https://127.0.0.1:{self.arm_port}"

    # -- World --------------------------------------------------------------

    def _build(self, scenario: str, clock: SimClock) -> World:
        world = World(clock=clock)
        world.arm_port = self.arm_port
        scenarios.build(world, scenario, self.port_for)
        return world

    def tick(self) -> None:
        if self._behaviour is not None:
            self._behaviour.tick(self._world)

    def operator(self) -> Principal:
        usable = [
            p
            for p in self._world.principals.values()
            if p.client_id and p.client_secret
        ]
        for principal in usable:
            if principal.display_name == "tdemesh-operator":
                return principal
        if usable:
            return usable[0]
        raise RuntimeError("the scenario has no principal that can get tokens")

    # -- Apps ---------------------------------------------------------------

    def _make_arm_app(self) -> ASGIApp:
        arm_module = optional_module("azuresim.arm")
        provider_routes: list[BaseRoute] = []
        if arm_module is not None and hasattr(arm_module, "routes"):
            provider_routes = list(arm_module.routes(self._world))
        return Starlette(
            routes=[
                Mount("/_sim", routes=admin_api.routes(self)),
                *provider_routes,
                Route("/{path:path}", _arm_not_found, methods=ALL_METHODS),
            ],
            exception_handlers={
                AzureError: _azure_error_response,
                HTTPException: _http_exception_response,
                Exception: _internal_error_response,
            },
        )

    async def _arm_entry(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate every ARM request (not the admin API), then route it."""
        if scope["type"] == "http" and not scope["path"].startswith("/_sim"):
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            try:
                caller = arm_caller(self._world, authorization or None)
            except ArmError as error:
                response = _azure_json(error)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = caller.principal
        await self._arm_app(scope, receive, send)

    def _listener_app(self, name: str) -> ASGIApp:
        tick = self._behaviour.tick if self._behaviour is not None else None
        if name == "token":
            inner: ASGIApp = token_app(lambda: self._world, lambda: self.authority)
            plane = "token"
        elif name == "arm":
            inner, plane = self._arm_entry, "arm"
        else:
            inner = vault_app(lambda: self._world, name, lambda: self.authority)
            plane = "vault"
        faults = FaultMiddleware(inner, name, plane, lambda: self._world, tick)
        return SimDateMiddleware(faults, lambda: self._world)

    # -- Serving ------------------------------------------------------------

    def _start(self, name: str, sock: socket.socket) -> None:
        config = uvicorn.Config(
            self._listener_app(name),
            ssl_certfile=str(self.tls.cert),
            ssl_keyfile=str(self.tls.key),
            log_level="warning",
            lifespan="off",
            access_log=False,
            date_header=False,  # SimDateMiddleware sends the simulated one
            interface="asgi3",
        )
        server = _Server(config)
        self._servers[name] = server
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_vault_listener(self, name: str) -> None:
        self._start(name, self._vault_sockets[name])

    async def serve(self, on_ready: Callable[[Simulator], None] | None = None) -> None:
        """Serve until stop() (or a signal handled by the caller)."""
        self._running = True
        self._start("token", self.token_socket)
        self._start("arm", self.arm_socket)
        for name in self._vault_sockets:
            self._start_vault_listener(name)
        while not all(server.started for server in self._servers.values()):  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.01)
        self.tick()
        self._write_files()
        if on_ready is not None:
            on_ready(self)
        ticker = asyncio.get_running_loop().create_task(self._tick_every_second())
        try:
            await self._stop.wait()
        finally:
            ticker.cancel()
            await self._shut_down()
            self._running = False

    async def _shut_down(self) -> None:
        """Stop every listener: a second for answers in flight, then close
        what is left. An idle keep-alive TLS connection would otherwise hold
        the process for the TLS shutdown timeout (30 s)."""
        for server in self._servers.values():
            server.should_exit = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
        if pending:
            for server in self._servers.values():
                server.force_exit = True
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if transport is not None:
                        transport.abort()
            await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        self._stop.set()

    async def _tick_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.tick()
            except Exception:
                log.exception("behaviour tick failed")

    # -- Files --------------------------------------------------------------

    @property
    def endpoints_path(self) -> Path:
        return self.state_dir / ENDPOINTS_FILE

    @property
    def config_path(self) -> Path:
        return self.state_dir / CONFIG_FILE

    def endpoints(self) -> dict[str, Any]:
        operator = self.operator()
        return {
            "authority": self.authority,
            "tenant_id": self._world.tenant_id,
            "client_id": operator.client_id,
            "client_secret": operator.client_secret,
            "subscription_id": self._world.subscription_id,
            "arm_url": self.arm_url,
            # Only the current World's vaults: a listener kept for a vault a
            # reset removed answers nothing, so it is not advertised.
            "vaults": {
                vault.name: vault.url
                for vault in sorted(self._world.vaults.values(), key=lambda v: v.name)
            },
            "ca_bundle": str(self.tls.ca),
            "admin_url": f"{self.arm_url}/_sim",
            "pid": os.getpid(),
        }

    def _write_files(self) -> None:
        _write_atomically(
            self.config_path, mesh_config(self._world, self.endpoints_path)
        )
        endpoints = json.dumps(self.endpoints(), indent=2) + "\n"
        _write_atomically(self.endpoints_path, endpoints, private=True)


# --------------------------------------------------------------------------
# The tdemesh config the simulator hands to the product


def mesh_config(world: World, endpoints_path: Path) -> str:
    """tdemesh.toml for this World: one region per instance, primary first."""
    group = next(iter(world.failover_groups.values()), None)
    instances = sorted(
        world.instances.values(),
        key=lambda i: (group is None or i.name != group.primary_instance, i.name),
    )
    lines = [
        'default_mesh = "sim"',
        "",
        "[meshes.sim]",
        'cloud = "Simulator"',
        f"subscription_id = {_toml(world.subscription_id)}",
        f"tenant_id = {_toml(world.tenant_id)}",
        f"failover_group = {_toml(group.name if group else '')}",
        "allow_fault_drills = true",
        f"endpoints_file = {_toml(str(endpoints_path))}",
    ]
    for instance in instances:
        region = instance.location
        vault = next(
            (v for v in world.vaults.values() if v.location == instance.location), None
        )
        lines += [
            "",
            f"[meshes.sim.regions.{region}]",
            f"resource_group = {_toml(instance.resource_group)}",
            f"instance = {_toml(instance.name)}",
            f"vault = {_toml(vault.name if vault else '')}",
            f"network_security_group = {_toml(instance.nsg_name)}",
            "",
            f"[meshes.sim.regions.{region}.private_endpoints]",
        ]
        network = instance.subnet_id.rsplit("/subnets/", 1)[0].lower()
        for endpoint in sorted(world.private_endpoints.values(), key=lambda e: e.name):
            if endpoint.subnet_id.rsplit("/subnets/", 1)[0].lower() == network:
                lines.append(f"{_toml(endpoint.vault_name)} = {_toml(endpoint.name)}")
    return "\n".join(lines) + "\n"


def _toml(value: str) -> str:
    return json.dumps(value)


def _write_atomically(path: Path, text: str, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)


# --------------------------------------------------------------------------
# Azure-shaped responses for the ARM listener


def _azure_json(error: AzureError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _azure_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AzureError)
    return _azure_json(exc)


async def _http_exception_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
    return _azure_json(ArmError(exc.status_code, code, str(exc.detail)))


async def _internal_error_response(request: Request, exc: Exception) -> Response:
    log.exception("ARM handler failed", exc_info=exc)
    return _azure_json(
        ArmError(500, "InternalServerError", f"The simulator failed: {exc!r}")
    )


async def _arm_not_found(request: Request) -> Response:
    return _azure_json(
        ArmError(
            404,
            "NotFound",
            f"The simulator does not serve {request.method} {request.url.path}.",
        )
    )


def refuse_a_live_state_dir(state_dir: Path) -> None:
    """Two simulators must not share a state directory: the second would
    overwrite the first one's endpoints under its clients."""
    path = state_dir / ENDPOINTS_FILE
    try:
        pid = int(json.loads(path.read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if pid == os.getpid():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    raise SimulatorBusy(
        f"a simulator (pid {pid}) is already serving from {state_dir}; stop it "
        "or choose another state directory"
    )


class SimulatorBusy(RuntimeError):
    """The state directory belongs to a simulator that is still running."""


def run(
    state_dir: Path,
    *,
    scenario: str = "protected",
    time_scale: float = 1.0,
    token_port: int = 0,
    arm_port: int = 0,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the simulator in the foreground until SIGINT/SIGTERM."""
    import signal

    refuse_a_live_state_dir(state_dir)

    async def main() -> None:
        simulator = Simulator(
            state_dir,
            scenario=scenario,
            time_scale=time_scale,
            token_port=token_port,
            arm_port=arm_port,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, simulator.stop)

        def ready(sim: Simulator) -> None:
            announce(f"azuresim: scenario {sim.world.scenario}, ARM at {sim.arm_url}")
            announce(f"endpoints: {sim.endpoints_path}")
            announce(f"config:    {sim.config_path}")

        await simulator.serve(on_ready=ready)

    asyncio.run(main())
