"""The simulator's admin API under `/_sim/` on the ARM listener.

These calls have no Azure equivalent: they steer the simulation (the clock,
vault outages, injected faults, a scenario reset) or set up what Azure would
need another service for (an Entra application with a secret; a vault in a
state ARM would refuse to reach, such as purge protection off again). Only
sim-only code paths call them; they need no token.

    GET  clock                  {"now", "scale"}
    POST clock                  {"scale": N} and/or {"advance_seconds": N}
    GET|POST|DELETE outages     POST {"vault", "duration_seconds"?}; or outages/{vault}
    GET|POST|DELETE faults      POST a FaultRule without id; DELETE faults/{id}
    GET  state | events?since=N a JSON dump without key material or secrets
    POST reset                  {"scenario": "protected" | "greenfield"}
    POST principals             {"display_name", "roles": [{"role", "vault"}]}
    PUT  vaults/{name}          create (with a listener) or change protections
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from azuresim.errors import ArmError
from azuresim.permissions import role_definition_guid
from azuresim.state import (
    ROLE_KEY_VAULT_ADMINISTRATOR,
    ROLE_KEY_VAULT_CRYPTO_OFFICER,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_KEY_VAULT_CRYPTO_USER,
    ROLE_KEY_VAULT_READER,
    AccessPolicy,
    FaultRule,
    KeyVersion,
    Outage,
    Principal,
    RoleAssignment,
    Vault,
    World,
)

ROLE_NAMES = {
    "Key Vault Administrator": ROLE_KEY_VAULT_ADMINISTRATOR,
    "Key Vault Crypto Officer": ROLE_KEY_VAULT_CRYPTO_OFFICER,
    "Key Vault Crypto User": ROLE_KEY_VAULT_CRYPTO_USER,
    "Key Vault Crypto Service Encryption User": (
        ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER
    ),
    "Key Vault Reader": ROLE_KEY_VAULT_READER,
}
FAULT_KINDS = ("throttle", "error", "latency", "drop")
OPERATOR_NAME = "tdemesh-operator"


class SimControl(Protocol):
    """What the admin API needs from the running simulator."""

    @property
    def world(self) -> World: ...

    def reset(self, scenario: str) -> None: ...

    def clock_changed(self, advanced_seconds: float, old_scale: float) -> None: ...

    def port_for(self, vault_name: str) -> int: ...

    def vaults_changed(self) -> None: ...


def routes(control: SimControl) -> list[BaseRoute]:
    """The admin routes, to be mounted at `/_sim`."""

    def handler(
        fn: Callable[[Request, SimControl, dict[str, Any]], Any],
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body: dict[str, Any] = {}
            if request.method in ("POST", "PUT", "PATCH"):
                raw = await request.body()
                if raw.strip():
                    try:
                        parsed = await request.json()
                    except ValueError as exc:
                        raise ArmError(
                            400, "InvalidRequestContent", "Body is not JSON."
                        ) from exc
                    if not isinstance(parsed, dict):
                        raise ArmError(
                            400, "InvalidRequestContent", "Body must be an object."
                        )
                    body = parsed
            result = fn(request, control, body)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    return [
        Route("/clock", handler(get_clock), methods=["GET"]),
        Route("/clock", handler(set_clock), methods=["POST"]),
        Route("/outages", handler(list_outages), methods=["GET"]),
        Route("/outages", handler(add_outage), methods=["POST"]),
        Route("/outages", handler(clear_outages), methods=["DELETE"]),
        Route("/outages/{vault}", handler(end_outage), methods=["DELETE"]),
        Route("/faults", handler(list_faults), methods=["GET"]),
        Route("/faults", handler(add_fault), methods=["POST"]),
        Route("/faults", handler(clear_faults), methods=["DELETE"]),
        Route("/faults/{id}", handler(remove_fault), methods=["DELETE"]),
        Route("/state", handler(get_state), methods=["GET"]),
        Route("/events", handler(get_events), methods=["GET"]),
        Route("/reset", handler(reset), methods=["POST"]),
        Route("/principals", handler(add_principal), methods=["POST"]),
        Route("/vaults/{name}", handler(put_vault), methods=["PUT"]),
    ]


# --------------------------------------------------------------------------
# Clock


def clock_view(world: World) -> dict[str, Any]:
    return {"now": world.clock.now().isoformat(), "scale": world.clock.scale}


def get_clock(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    return clock_view(control.world)


def set_clock(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    advanced = 0.0
    old_scale = world.clock.scale
    try:
        if body.get("scale") is not None:
            world.clock.set_scale(float(body["scale"]))
        if body.get("advance_seconds") is not None:
            advanced = float(body["advance_seconds"])
            world.clock.advance(advanced)
    except (TypeError, ValueError) as exc:
        raise ArmError(400, "InvalidClockChange", str(exc)) from exc
    control.clock_changed(advanced, old_scale)
    return clock_view(world)


# --------------------------------------------------------------------------
# Outages and faults


def outage_view(outage: Outage) -> dict[str, Any]:
    until = outage.until.isoformat() if outage.until else None
    return {"vault": outage.vault_name, "until": until}


def list_outages(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    return {"value": [outage_view(o) for o in control.world.outages.values()]}


def add_outage(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    name = str(body.get("vault") or body.get("vault_name") or "")
    if name not in world.vaults:
        raise ArmError(
            404,
            "VaultNotFound",
            f"No vault named '{name}'; known: {sorted(world.vaults)}",
        )
    until = None
    if body.get("duration_seconds") is not None:
        until = world.clock.now() + timedelta(seconds=float(body["duration_seconds"]))
    world.outages[name] = Outage(name, until)
    world.event("outage_started", vault=name)
    return outage_view(world.outages[name])


def clear_outages(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    for name in list(world.outages):
        del world.outages[name]
        world.event("outage_ended", vault=name)
    return Response(status_code=204)


def end_outage(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    name = request.path_params["vault"]
    if world.outages.pop(name, None) is not None:
        world.event("outage_ended", vault=name)
    return Response(status_code=204)


def fault_view(rule: FaultRule) -> dict[str, Any]:
    return dataclasses.asdict(rule)


def list_faults(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    return {"value": [fault_view(rule) for rule in control.world.faults]}


def add_fault(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    kind = str(body.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise ArmError(
            400, "InvalidFault", f"kind must be one of {', '.join(FAULT_KINDS)}."
        )
    known = {f.name for f in dataclasses.fields(FaultRule)} - {"id", "kind"}
    unknown = set(body) - known - {"kind"}
    if unknown:
        raise ArmError(
            400, "InvalidFault", f"Unknown fault fields: {', '.join(sorted(unknown))}."
        )
    try:
        rule = FaultRule(
            id=uuid.uuid4().hex[:12], kind=kind, **body_without(body, "kind")
        )
    except TypeError as exc:
        raise ArmError(400, "InvalidFault", str(exc)) from exc
    control.world.faults.append(rule)
    return fault_view(rule)


def body_without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in names}


def clear_faults(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    control.world.faults.clear()
    return Response(status_code=204)


def remove_fault(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    world.faults[:] = [f for f in world.faults if f.id != request.path_params["id"]]
    return Response(status_code=204)


# --------------------------------------------------------------------------
# State, events, reset


def get_state(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    world = control.world
    dump = to_json(world)
    assert isinstance(dump, dict)
    dump["clock"] = clock_view(world)
    dump["issued_tokens"] = len(world.issued_tokens)
    return dump


def get_events(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    events = control.world.events
    since = int(request.query_params.get("since", "0") or 0)
    return {"value": events[since:], "next": len(events)}


def reset(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    scenario = str(body.get("scenario") or "protected")
    try:
        control.reset(scenario)
    except ValueError as exc:
        raise ArmError(400, "UnknownScenario", str(exc)) from exc
    return {"scenario": control.world.scenario, **clock_view(control.world)}


# --------------------------------------------------------------------------
# Set-up helpers Azure would do elsewhere


def add_principal(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    """An application with a client secret (Entra ID's job, not ARM's), with
    optional role assignments: {"display_name", "roles": [{"role", "vault"}]}."""
    world = control.world
    principal = Principal(
        object_id=str(uuid.uuid4()),
        display_name=str(body.get("display_name") or "sim-app"),
        client_id=str(uuid.uuid4()),
        client_secret=secrets.token_urlsafe(24),
    )
    world.principals[principal.object_id] = principal
    for grant in body.get("roles") or []:
        role = ROLE_NAMES.get(str(grant.get("role")), str(grant.get("role")))
        vault = world.vaults.get(str(grant.get("vault")))
        if vault is None:
            raise ArmError(
                404, "VaultNotFound", f"No vault named {grant.get('vault')!r}."
            )
        name = str(uuid.uuid4())
        world.role_assignments[name] = RoleAssignment(
            name=name,
            scope=vault.resource_id,
            role_definition_id=role_definition_guid(role),
            principal_id=principal.object_id,
        )
    return {
        "object_id": principal.object_id,
        "client_id": principal.client_id,
        "client_secret": principal.client_secret,
        "display_name": principal.display_name,
    }


VAULT_SETTINGS = {
    "enable_soft_delete": bool,
    "soft_delete_retention_days": int,
    "enable_purge_protection": bool,
    "enable_rbac_authorization": bool,
}


def put_vault(request: Request, control: SimControl, body: dict[str, Any]) -> Any:
    """Create a vault with its own listener, or change its protection and
    authorisation settings (including ones ARM would refuse to undo)."""
    world = control.world
    name = request.path_params["name"]
    vault = world.vaults.get(name)
    if vault is None:
        vault = Vault(
            name=name,
            resource_group=str(body.get("resource_group") or "rg-sim"),
            location=str(body.get("location") or "eastus2"),
            subscription_id=str(body.get("subscription_id") or world.subscription_id),
        )
        world.vaults[name] = vault
        vault.port = control.port_for(name)
        if body.get("grant_operator", True):
            _grant_operator(world, vault)
        control.vaults_changed()
    for field, kind in VAULT_SETTINGS.items():
        if body.get(field) is not None:
            setattr(vault, field, kind(body[field]))
    if body.get("access_policies") is not None:
        vault.access_policies = [
            AccessPolicy(
                object_id=str(p["object_id"]),
                tenant_id=str(p.get("tenant_id") or vault.tenant_id),
                key_permissions=[str(k) for k in p.get("key_permissions", [])],
            )
            for p in body["access_policies"]
        ]
    return {"name": vault.name, "url": vault.url, "location": vault.location}


def _grant_operator(world: World, vault: Vault) -> None:
    """A new vault is usable by the operator, as one it created would be."""
    for principal in world.principals.values():
        if principal.display_name == OPERATOR_NAME:
            name = str(uuid.uuid4())
            world.role_assignments[name] = RoleAssignment(
                name,
                vault.resource_id,
                ROLE_KEY_VAULT_ADMINISTRATOR,
                principal.object_id,
            )


# --------------------------------------------------------------------------
# JSON dump with no secrets


SECRET_FIELDS = {
    "private_key",
    "client_secret",
    "issued_tokens",
    "token_audiences",
    "port_for",
}


def to_json(value: Any) -> Any:
    """A JSON rendering of World objects: no private key material, no secrets."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            if field.name in SECRET_FIELDS:
                continue
            out[field.name] = to_json(getattr(value, field.name))
        if isinstance(value, KeyVersion):
            out["thumbprint"] = value.thumbprint
            out["key_size"] = value.key_size
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, rsa.RSAPrivateKey):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(type(value).__name__)
