"""The one retry policy of every Azure call (tenacity).

Azure-core's own retries are off (`retry_total=0`), so an attempt is never
retried twice over and every retry is visible: each one is reported to an
observer with the operation, the resource, attempt n of m, the reason and the
wait. Only transient faults are retried: throttling (429, honouring
Retry-After), 5xx, connection errors and timeouts. Bounded in attempts and in
total time.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

T = TypeVar("T")
log = logging.getLogger("tdemesh.gateway")

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    total_seconds: float = 60.0
    base_wait: float = 0.5
    max_wait: float = 10.0


@dataclass(frozen=True)
class RetryEvent:
    operation: str
    resource: str
    attempt: int  # the attempt that failed, 1-based
    attempts: int  # m: the most attempts the policy allows
    reason: str
    wait_seconds: float


class Observer(Protocol):
    def retrying(self, event: RetryEvent) -> None: ...


def status_of(error: BaseException) -> int | None:
    if isinstance(error, HttpResponseError):
        return error.status_code
    return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return True  # connection refused, reset, timeout
    if isinstance(error, HttpResponseError):
        status = error.status_code
        return status is not None and (status in TRANSIENT_STATUS or status >= 500)
    return isinstance(error, ConnectionError | TimeoutError)


def retry_after(error: BaseException) -> float | None:
    """Seconds the service asked us to wait (Retry-After, retry-after-ms)."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (
        ("retry-after-ms", 0.001),
        ("x-ms-retry-after-ms", 0.001),
        ("Retry-After", 1.0),
    ):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue  # an HTTP date; fall back to backoff
    return None


# What an operator reads for a connection that failed, tried in this order
# (a name that did not resolve is the cause of the refusal that follows it;
# http.client's RemoteDisconnected is also a ConnectionResetError).
# Each: the exception types, then words of the message that mean the same.
_CONNECTION_WORDS: tuple[
    tuple[str, tuple[type[BaseException], ...], tuple[str, ...]], ...
] = (
    (
        "name not resolved",
        (socket.gaierror,),
        (
            "name or service not known",
            "getaddrinfo failed",
            "failed to resolve",
            "nodename nor servname",
            "temporary failure in name resolution",
        ),
    ),
    (
        "TLS handshake failed",
        (ssl.SSLError,),
        ("sslerror", "[ssl", "certificate verify failed"),
    ),
    ("connection refused", (ConnectionRefusedError,), ("connection refused",)),
    (
        "closed without an answer",
        (http.client.RemoteDisconnected, http.client.IncompleteRead),
        ("remote end closed connection", "connection aborted", "incomplete read"),
    ),
    ("connection reset", (ConnectionResetError,), ("connection reset",)),
    ("timed out", (TimeoutError,), ("timed out", "timeout")),
)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and every error it wraps: azure-core's inner_exception,
    Python's cause and context, and urllib3's habit of putting the real one
    among its arguments."""
    found: list[BaseException] = []
    todo = [error]
    while todo and len(found) < 20:
        current = todo.pop(0)
        if current in found:
            continue
        found.append(current)
        for inner in (
            getattr(current, "inner_exception", None),
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *current.args,
        ):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return found


def connection_words(error: BaseException) -> str | None:
    """Short words for a connection-level failure, or None for another error."""
    chain = _chain(error)
    for words, types, _ in _CONNECTION_WORDS:
        if any(isinstance(e, types) for e in chain):
            return words
    text = " ".join(str(e) for e in chain).lower()
    for words, _, phrases in _CONNECTION_WORDS:
        if any(p in text for p in phrases):
            return words
    if any(
        isinstance(e, ServiceRequestError | ServiceResponseError | ConnectionError)
        for e in chain
    ):
        return "connection failed"
    return None


def reason_of(error: BaseException) -> str:
    """Why a call failed, in words for an operator: the HTTP status and code,
    or what happened to the connection. The exception's type and text are
    for the log file (`detail_of`)."""
    status = status_of(error)
    if status is not None:
        code = getattr(getattr(error, "error", None), "code", None)
        return f"HTTP {status}" + (f" {code}" if code else "")
    words = connection_words(error)
    if words is not None:
        return words
    lines = str(error).splitlines()
    if not lines:  # KeyboardInterrupt ...
        return type(error).__name__
    return lines[0][:120]


def detail_of(error: BaseException) -> str:
    """The exception's type name and first line, for the log file only."""
    lines = str(error).splitlines()
    first = lines[0][:200] if lines else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def call_with_retries(
    operation: str,
    resource: str,
    fn: Callable[[], T],
    policy: RetryPolicy,
    observer: Observer | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """fn(), retried on transient faults as the policy allows."""

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after(error) if error else None
        if asked is not None:
            return min(asked, policy.total_seconds)
        backoff = policy.base_wait * 2.0 ** (state.attempt_number - 1)
        return float(min(policy.max_wait, backoff) * (0.5 + random.random() / 2))

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = float(state.next_action.sleep) if state.next_action else 0.0
        event = RetryEvent(
            operation,
            resource,
            state.attempt_number,
            policy.attempts,
            reason_of(error) if error else "unknown",
            delay,
        )
        log.warning(
            "retry %s %s attempt %d of %d after %s [%s], waiting %.1fs",
            operation,
            resource,
            event.attempt,
            event.attempts,
            event.reason,
            detail_of(error) if error else "",
            delay,
        )
        if observer is not None:
            observer.retrying(event)

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts)
        | stop_after_delay(policy.total_seconds),
        wait=wait,
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
