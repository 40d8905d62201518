"""ARM long-running operations, answered the way the SDK pollers expect.

A mutating call registers an `Operation` and answers 201/202 with absolute
`Azure-AsyncOperation` and `Location` URLs on the simulator's own host (the
recorded Azure responses carry both and no `Retry-After`). The monitor says
`InProgress` until the operation's duration has passed on the simulated
clock; the operation's effect is applied once, lazily, by `settle` (called
from the behaviour tick before every request and by the monitors
themselves). Validation happens before an operation is registered, so most
errors are synchronous 4xx answers; an effect that can only fail at
completion (revalidation) fails the operation and the monitor reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from azuresim.errors import ArmError
from azuresim.state import Operation, World, new_guid

ARM_JSON = "application/json; charset=utf-8"
_KEEP_OPERATIONS = 1000


def iso_ms(moment: datetime) -> str:
    """Azure's operation timestamps: UTC, milliseconds, a trailing Z."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return text + "Z"


def start(
    world: World,
    name: str,
    complete: Callable[[], dict[str, Any] | None] | None,
    *,
    duration: float | None = None,
) -> Operation:
    """Register an operation that finishes `duration` simulated seconds
    from now (the world's typical LRO duration when not given)."""
    now = world.clock.now()
    seconds = world.timers.lro_duration if duration is None else duration
    operation = Operation(
        id=new_guid(),
        name=name,
        started=now,
        due=now + timedelta(seconds=max(seconds, 0.0)),
        complete=complete,
    )
    world.operations[operation.id] = operation
    return operation


def settle(world: World) -> None:
    """Finish every operation whose time has come, in the order they end."""
    now = world.clock.now()
    due = [
        op
        for op in world.operations.values()
        if op.status == "InProgress" and op.due <= now
    ]
    for operation in sorted(due, key=lambda op: op.due):
        finish(operation)
    if len(world.operations) > _KEEP_OPERATIONS:
        _forget_oldest(world)


def _forget_oldest(world: World) -> None:
    """Forget finished operations beyond the newest few hundred, so that a
    long session does not slow every tick."""
    finished = sorted(
        (op for op in world.operations.values() if op.status != "InProgress"),
        key=lambda op: op.due,
    )
    for operation in finished[: len(world.operations) - _KEEP_OPERATIONS // 2]:
        del world.operations[operation.id]


def finish(operation: Operation) -> None:
    if operation.status != "InProgress":
        return
    try:
        operation.result = operation.complete() if operation.complete else None
        operation.status = "Succeeded"
    except ArmError as error:
        operation.status = "Failed"
        operation.error_code = error.code
        operation.error_message = error.message
    operation.complete = None


def base(request: Request) -> str:
    """This listener's own origin, e.g. https://127.0.0.1:8443."""
    return str(request.base_url).rstrip("/")


def api_version(request: Request, default: str) -> str:
    return request.query_params.get("api-version", default)


# --------------------------------------------------------------------------
# Initial responses


def sql_accepted(
    request: Request,
    operation: Operation,
    *,
    location: str,
    kind: str,
    resource_group: str | None,
    subscription_id: str,
) -> Response:
    """202 with the SQL RP's body and monitor headers.

    `kind` is the URL stem Azure uses (managedInstanceKey,
    managedInstanceEncryptionProtector, managedInstance, instanceFailoverGroup);
    failover-group monitors live at subscription scope (no resource group).
    """
    scope = f"/subscriptions/{subscription_id}"
    if resource_group is not None:
        scope += f"/resourceGroups/{resource_group}"
    prefix = f"{base(request)}{scope}/providers/Microsoft.Sql/locations/{location}"
    query = f"?api-version={api_version(request, '2025-01-01')}"
    headers = {
        "Azure-AsyncOperation": (
            f"{prefix}/{kind}AzureAsyncOperation/{operation.id}{query}"
        ),
        "Location": f"{prefix}/{kind}OperationResults/{operation.id}{query}",
    }
    body = {"operation": operation.name, "startTime": iso_ms(operation.started)}
    return JSONResponse(body, status_code=202, headers=headers, media_type=ARM_JSON)


def network_accepted(
    request: Request,
    operation: Operation,
    *,
    location: str,
    subscription_id: str,
    status: int,
    body: dict[str, Any] | None,
    with_location: bool = False,
) -> Response:
    """Microsoft.Network style: 201/200 with the resource body (PUT) or 202
    (DELETE), monitored at /providers/Microsoft.Network/locations/{loc}/operations."""
    prefix = (
        f"{base(request)}/subscriptions/{subscription_id}/providers/"
        f"Microsoft.Network/locations/{location}"
    )
    query = f"?api-version={api_version(request, '2026-03-01')}"
    headers = {"Azure-AsyncOperation": f"{prefix}/operations/{operation.id}{query}"}
    if with_location:
        headers["Location"] = f"{prefix}/operationResults/{operation.id}{query}"
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers, media_type=ARM_JSON)


# --------------------------------------------------------------------------
# Monitors


def _operation(world: World, operation_id: str) -> Operation:
    settle(world)
    operation = world.operations.get(operation_id)
    if operation is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The operation '{operation_id}' was not found.",
        )
    return operation


def monitor_body(operation: Operation, *, network: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"status": operation.status}
    if not network:
        body = {
            "name": operation.id,
            "status": operation.status,
            "startTime": iso_ms(operation.started),
        }
    if operation.status == "Failed":
        body["error"] = {
            "code": operation.error_code,
            "message": operation.error_message,
        }
    return body


def location_response(operation: Operation) -> Response:
    """202 while running; then the result (200), nothing (204) or the error."""
    if operation.status == "InProgress":
        return Response(status_code=202)
    if operation.status == "Failed":
        raise ArmError(
            400, operation.error_code or "Failed", operation.error_message or ""
        )
    if operation.result is None:
        return Response(status_code=204)
    return JSONResponse(operation.result, media_type=ARM_JSON)


def routes(world: World) -> list[BaseRoute]:
    """The monitor URLs every RP's operations point at."""

    async def sql_monitor(request: Request) -> Response:
        operation = _operation(world, request.path_params["operation_id"])
        return JSONResponse(monitor_body(operation), media_type=ARM_JSON)

    async def sql_result(request: Request) -> Response:
        return location_response(_operation(world, request.path_params["operation_id"]))

    async def network_monitor(request: Request) -> Response:
        operation = _operation(world, request.path_params["operation_id"])
        return JSONResponse(monitor_body(operation, network=True), media_type=ARM_JSON)

    sql = "/providers/Microsoft.Sql/locations/{location}"
    net = "/subscriptions/{sub}/providers/Microsoft.Network/locations/{location}"
    found: list[BaseRoute] = []
    # SQL monitors live under the resource group, failover groups' under the
    # subscription.
    for scope in ("/subscriptions/{sub}/resourceGroups/{rg}", "/subscriptions/{sub}"):
        prefix = scope + sql + "/{kind}"
        found += [
            Route(
                prefix + "AzureAsyncOperation/{operation_id}",
                sql_monitor,
                methods=["GET"],
            ),
            Route(
                prefix + "OperationResults/{operation_id}", sql_result, methods=["GET"]
            ),
        ]
    return [
        *found,
        Route(net + "/operations/{operation_id}", network_monitor, methods=["GET"]),
        Route(net + "/operationResults/{operation_id}", sql_result, methods=["GET"]),
    ]
