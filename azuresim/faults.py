"""Faults and outages, applied to requests before any listener sees them.

This is the outermost ASGI layer of every listener, so an injected fault
looks to a client exactly like the real thing: a 429 with `Retry-After`, a
5xx with an Azure error body, a slow answer, or a TCP connection closed with
no response at all. A vault outage is the last kind for every request to that
vault's listener, which clients see as the vault being unreachable.

It also brings the simulated estate up to date (`tick`) before each request,
so every answer reflects the simulated clock at the moment it is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from azuresim.state import FaultRule, World

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
ADMIN_PREFIX = "/_sim"

log = logging.getLogger(__name__)


class FaultMiddleware:
    """Wraps one listener's app. `listener` is "token", "arm" or a vault name;
    `plane` says which error shape the listener speaks ("arm", "vault",
    "token")."""

    def __init__(
        self,
        app: ASGIApp,
        listener: str,
        plane: str,
        get_world: Callable[[], World],
        tick: Callable[[World], None] | None,
    ) -> None:
        self.app = app
        self.listener = listener
        self.plane = plane
        self.get_world = get_world
        self.tick = tick

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        world = self.get_world()
        path: str = scope["path"]
        admin = self.plane == "arm" and (
            path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        )

        if self.plane == "vault" and (
            self.listener not in world.vaults or vault_in_outage(world, self.listener)
        ):
            # A vault in an outage, or one the current scenario does not have,
            # answers nothing at all.
            abort_connection(send)
            return

        if self.tick is not None:
            try:
                self.tick(world)
            except Exception as exc:  # a bug in the behaviour engine: say so
                log.exception("behaviour tick failed")
                await _send_json(
                    send,
                    500,
                    _error_body(self.plane, "InternalServerError", repr(exc)),
                    {},
                )
                return

        if admin:  # the admin API is never faulted: it is how faults end
            await self.app(scope, receive, send)
            return
        rule = take_matching_rule(world, self.listener, scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        await self._apply(rule, scope, receive, send)

    async def _apply(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if rule.kind == "latency":
            await asyncio.sleep(rule.delay_seconds)
            await self.app(scope, receive, send)
        elif rule.kind == "drop":
            abort_connection(send)
        elif rule.kind == "throttle":
            code = "Throttled" if self.plane == "vault" else "TooManyRequests"
            message = (
                "Request was not processed because too many requests were "
                "received. Reason: VaultRequestTypeLimitReached"
                if self.plane == "vault"
                else "The request is being throttled as the limit has been "
                "reached for operation type. Please retry after the time in "
                "the Retry-After header."
            )
            await _send_json(
                send,
                429,
                _error_body(self.plane, code, message),
                {"Retry-After": str(int(rule.retry_after))},
            )
        else:
            headers = (
                {"Retry-After": str(int(rule.retry_after))}
                if rule.status
                in (
                    429,
                    503,
                )
                else {}
            )
            await _send_json(
                send,
                rule.status,
                _error_body(self.plane, rule.code, f"Injected fault: {rule.code}."),
                headers,
            )


def vault_in_outage(world: World, vault_name: str) -> bool:
    outage = world.outages.get(vault_name)
    if outage is None:
        return False
    if outage.until is not None and outage.until <= world.clock.now():
        del world.outages[vault_name]
        world.event("outage_ended", vault=vault_name)
        return False
    return True


def take_matching_rule(
    world: World, listener: str, method: str, path: str
) -> FaultRule | None:
    """The first rule matching this request, counting it down if limited."""
    for rule in list(world.faults):
        if rule.listener not in ("*", listener):
            continue
        if not operation_matches(rule.operation, method, path):
            continue
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                world.faults.remove(rule)
        return rule
    return None


def operation_matches(operation: str, method: str, path: str) -> bool:
    """ "*" matches all; "PUT keys" matches PUTs whose path contains "keys";
    "wrapkey" matches any method whose path contains "wrapkey"."""
    operation = operation.strip()
    if operation in ("", "*"):
        return True
    first, _, rest = operation.partition(" ")
    if first.upper() in HTTP_METHODS:
        if first.upper() != method.upper():
            return False
        operation = rest.strip()
        if operation in ("", "*"):
            return True
    return operation.lower() in path.lower()


def abort_connection(send: Send) -> None:
    """Close the TCP connection with no response (uvicorn's request cycle)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection: no transport behind send")
    transport.abort()
    # Tell uvicorn the client is gone, so it does not try to answer 500.
    cycle.disconnected = True  # type: ignore[union-attr]


def _error_body(plane: str, code: str, message: str) -> dict[str, Any]:
    if plane == "token":
        return {"error": code, "error_description": message}
    return {"error": {"code": code, "message": message}}


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    payload = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
