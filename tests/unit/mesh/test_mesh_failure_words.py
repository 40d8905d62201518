"""Failure reasons an operator reads: words, not Python reprs."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl

import pytest
import requests
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from mesh_estate import healthy, vault_name, with_vault
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from mesh.assess import assess
from mesh.retry import RetryPolicy, call_with_retries, detail_of, reason_of
from mesh.snapshot import ReadError

E = "eastus2"


def _wrapped(inner: BaseException, outer: type[Exception]) -> Exception:
    """The way azure-core's requests transport hands a failure over."""
    wrapper = requests.ConnectionError(inner)
    return outer(str(wrapper), error=wrapper)


def _refused() -> BaseException:
    cause = NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    cause.__cause__ = ConnectionRefusedError(111, "Connection refused")
    return MaxRetryError(None, "/keys", cause)  # type: ignore[arg-type]


def _unresolved() -> BaseException:
    gai = socket.gaierror(-2, "Name or service not known")
    return MaxRetryError(
        None,  # type: ignore[arg-type]
        "/keys",
        NameResolutionError("kv-tde-eastus2.vault.azure.net", None, gai),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("inner", "outer", "words"),
    [
        (
            ProtocolError(
                "Connection aborted.",
                http.client.RemoteDisconnected(
                    "Remote end closed connection without response"
                ),
            ),
            ServiceResponseError,
            "closed without an answer",
        ),
        (
            ProtocolError(
                "Connection aborted.",
                ConnectionResetError(104, "Connection reset by peer"),
            ),
            ServiceResponseError,
            "connection reset",
        ),
        (_refused(), ServiceRequestError, "connection refused"),
        (_unresolved(), ServiceRequestError, "name not resolved"),
        (
            ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED]"),
            ServiceRequestError,
            "TLS handshake failed",
        ),
        (
            TimeoutError("The read operation timed out"),
            ServiceResponseError,
            "timed out",
        ),
    ],
)
def test_a_connection_failure_reads_as_words(
    inner: BaseException, outer: type[Exception], words: str
) -> None:
    error = _wrapped(inner, outer)

    reason = reason_of(error)

    assert reason == words
    assert type(error).__name__ not in reason and "(" not in reason


def test_a_connection_failure_known_only_by_its_message_still_reads_as_words() -> None:
    error = ServiceResponseError(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection "
        "without response'))"
    )
    assert reason_of(error) == "closed without an answer"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KeyboardInterrupt(), "KeyboardInterrupt"),
        (TimeoutError(), "timed out"),
        (ServiceRequestError(""), "connection failed"),
    ],
)
def test_an_error_without_a_message_still_has_a_reason(
    error: BaseException, reason: str
) -> None:
    assert reason_of(error) == reason


def test_the_type_name_goes_to_the_log_file_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = _wrapped(
        ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        ServiceResponseError,
    )
    seen: list[str] = []

    class Recorder:
        def retrying(self, event: object) -> None:
            seen.append(getattr(event, "reason", ""))

    def flaky() -> str:
        if not seen:
            raise error
        return "done"

    with caplog.at_level(logging.WARNING, logger="tdemesh.gateway"):
        call_with_retries(
            "keys.get", "kv/x", flaky, RetryPolicy(), Recorder(), sleep=lambda _: None
        )

    assert seen == ["connection reset"]
    assert "ServiceResponseError" in caplog.text
    assert detail_of(error).startswith("ServiceResponseError: ")


def test_the_not_answering_fix_tells_an_outage_from_a_local_cut() -> None:
    error = ReadError(vault_name(E), "keys.get", "closed without an answer", None)
    snapshot = with_vault(healthy(), E, operator_reachable=False, operator_error=error)

    (finding,) = assess(snapshot).by_code("VAULT_NOT_ANSWERING")

    assert "Resource Health" in finding.fix and "status.azure.com" in finding.fix
    assert "down for everyone" in finding.fix
    assert "only from your networks" in finding.fix and "NSG" in finding.fix


def test_a_vault_name_that_does_not_resolve_points_at_dns() -> None:
    error = ReadError(vault_name(E), "keys.get", "name not resolved", None)
    snapshot = with_vault(healthy(), E, operator_reachable=False, operator_error=error)

    (finding,) = assess(snapshot).by_code("VAULT_NOT_ANSWERING")

    assert finding.fix.startswith("the vault's name did not resolve")
    assert "privatelink.vaultcore.azure.net" in finding.fix
