"""The pure parts behind the gateway: retries, error explanations, facts,
NSG rule evaluation, endpoints, logging, rendering."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from mesh_estate import cut, healthy

from azuresim.state import generate_rsa
from azuresim.state import thumbprint_of as azures_thumbprint
from mesh.assess import assess
from mesh.endpoints import EndpointsError, for_cloud, load_endpoints_file
from mesh.errors import AccessDenied, Conflict, NotFound, Rejected
from mesh.explain import explain
from mesh.facts import security_rule_from, thumbprint_of
from mesh.logs import configure_logging
from mesh.network import denies
from mesh.render import to_json, to_text
from mesh.retry import (
    RetryEvent,
    RetryPolicy,
    call_with_retries,
    is_transient,
    retry_after,
)


def http_error(status: int, headers: dict[str, str] | None = None) -> HttpResponseError:
    error = HttpResponseError(message=f"status {status}")
    error.status_code = status
    error.response = SimpleNamespace(headers=headers or {})  # type: ignore[assignment]
    return error


class Recorder:
    def __init__(self) -> None:
        self.events: list[RetryEvent] = []

    def retrying(self, event: RetryEvent) -> None:
        self.events.append(event)


# --------------------------------------------------------------------------
# Retries


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_transient(status: int) -> None:
    assert is_transient(http_error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not is_transient(http_error(status))


def test_connection_errors_are_transient() -> None:
    assert is_transient(ServiceRequestError("connection refused"))


def test_retry_after_is_honoured_and_each_retry_is_reported() -> None:
    attempts: list[int] = []
    slept: list[float] = []
    recorder = Recorder()

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise http_error(429, {"Retry-After": "2"})
        return "done"

    result = call_with_retries(
        "keys.get", "kv/x", flaky, RetryPolicy(attempts=4), recorder, sleep=slept.append
    )

    assert result == "done" and len(attempts) == 3
    assert slept == [2.0, 2.0]
    assert [(e.attempt, e.attempts) for e in recorder.events] == [(1, 4), (2, 4)]
    assert all(
        e.operation == "keys.get" and e.resource == "kv/x" for e in recorder.events
    )
    assert "429" in recorder.events[0].reason


def test_ctrl_c_during_a_call_stops_it_without_a_retry() -> None:
    calls: list[int] = []

    def interrupted() -> None:
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_with_retries(
            "op", "r", interrupted, RetryPolicy(attempts=3), sleep=lambda _: None
        )
    assert calls == [1]


def test_retries_stop_after_the_allowed_attempts() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise http_error(503)

    with pytest.raises(HttpResponseError):
        call_with_retries(
            "op",
            "r",
            down,
            RetryPolicy(attempts=3, base_wait=0.0),
            sleep=lambda _: None,
        )
    assert len(calls) == 3


def test_a_4xx_is_raised_at_once() -> None:
    calls: list[int] = []

    def forbidden() -> None:
        calls.append(1)
        raise http_error(403)

    with pytest.raises(HttpResponseError):
        call_with_retries("op", "r", forbidden, RetryPolicy(), sleep=lambda _: None)
    assert len(calls) == 1


def test_retry_after_in_milliseconds_is_read() -> None:
    assert retry_after(http_error(503, {"retry-after-ms": "250"})) == 0.25
    assert retry_after(http_error(503)) is None


# --------------------------------------------------------------------------
# Errors explained


def test_an_instance_identity_without_unwrap_names_the_role_and_the_policy() -> None:
    error = explain(
        "sql.encryption_protectors.set",
        "sqlmi-tde-eastus2",
        400,
        "AkvKeyOperationNotAllowedByRBAC",
        "unwrapKey not allowed",
    )
    assert isinstance(error, AccessDenied)
    assert "Key Vault Crypto Service Encryption User" in error.fix
    assert "get, wrapKey, unwrapKey" in error.fix
    assert error.resource == "sqlmi-tde-eastus2"


def test_an_operator_denied_on_the_data_plane_is_told_the_permission() -> None:
    error = explain("keys.backup", "kv-tde-eastus2/tde", 403, "ForbiddenByRbac", "no")
    assert isinstance(error, AccessDenied)
    assert "'backup'" in error.fix and "Crypto Officer" in error.fix


def test_a_firewall_refusal_says_so() -> None:
    error = explain("keys.list", "kv", 403, "ForbiddenByFirewall", "Client address")
    assert "firewall" in error.fix


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "ResourceNotFound", NotFound),
        (409, "ServerKeyNameAlreadyExists", Conflict),
        (400, "KeyMaterialNotFoundOnRemoteServer", Rejected),
        (400, "SomethingNew", Rejected),
    ],
)
def test_every_4xx_becomes_a_domain_error_with_a_fix(
    status: int, code: str, kind: type
) -> None:
    error = explain("sql.instance_keys.create", "mi/keys/k", status, code, "m")
    assert isinstance(error, kind)
    assert error.fix and error.resource == "mi/keys/k" and error.status == status


# --------------------------------------------------------------------------
# Facts


def test_the_thumbprint_is_computed_as_azure_computes_it() -> None:
    key = generate_rsa(2048)
    numbers = key.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes(3, "big")
    assert thumbprint_of(n, e) == azures_thumbprint(key.public_key())


def test_security_rules_read_singular_and_plural_fields() -> None:
    rule = security_rule_from(
        {
            "name": "deny",
            "properties": {
                "priority": 100,
                "direction": "Outbound",
                "access": "Deny",
                "protocol": "Tcp",
                "destinationAddressPrefixes": ["10.0.0.4/32", "10.0.0.5/32"],
                "destinationPortRanges": ["400-500"],
            },
        }
    )
    assert denies((rule,), "10.0.0.5") is rule
    assert denies((rule,), "10.0.0.6") is None


def test_a_lower_priority_number_wins() -> None:
    deny = security_rule_from(
        {
            "name": "d",
            "properties": {
                "priority": 200,
                "direction": "Outbound",
                "access": "Deny",
                "destinationPortRange": "443",
            },
        }
    )
    allow = security_rule_from(
        {
            "name": "a",
            "properties": {
                "priority": 100,
                "direction": "Outbound",
                "access": "Allow",
                "destinationPortRange": "*",
            },
        }
    )
    assert denies((deny, allow), "10.0.0.4") is None
    assert denies((deny,), "10.0.0.4") is deny


# --------------------------------------------------------------------------
# Endpoints


def test_sovereign_clouds_have_their_own_hosts() -> None:
    gov = for_cloud("AzureUSGovernment", "t", "s")
    assert gov.arm_url == "https://management.usgovcloudapi.net"
    assert gov.vault_url("Kv-One") == "https://kv-one.vault.usgovcloudapi.net"
    assert (
        gov.vault_name_of("https://kv-one.vault.usgovcloudapi.net/keys/k") == "kv-one"
    )
    assert gov.arm_scope == "https://management.usgovcloudapi.net/.default"
    china = for_cloud("AzureChinaCloud", "t", "s")
    assert china.authority == "https://login.chinacloudapi.cn"


def test_the_endpoints_file_maps_simulator_vaults_by_port(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(
            {
                "authority": "https://127.0.0.1:1",
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "s3cret",
                "subscription_id": "s",
                "arm_url": "https://127.0.0.1:2",
                "vaults": {
                    "kv-a": "https://127.0.0.1:3",
                    "kv-b": "https://127.0.0.1:4",
                },
                "ca_bundle": "/ca.pem",
                "admin_url": "https://127.0.0.1:2/_sim",
                "pid": 1,
            }
        )
    )
    endpoints = load_endpoints_file(path)
    assert endpoints.is_simulator
    assert endpoints.vault_name_of("https://127.0.0.1:4/keys/k/v") == "kv-b"
    assert "s3cret" not in repr(endpoints)
    with pytest.raises(EndpointsError, match="kv-c"):
        endpoints.vault_url("kv-c")


def test_a_missing_endpoints_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(EndpointsError, match="sim serve"):
        load_endpoints_file(tmp_path / "nope.json")


# --------------------------------------------------------------------------
# Logging and rendering


def test_the_log_is_a_rotating_file_and_secrets_are_redacted(tmp_path: Path) -> None:
    logger = logging.getLogger("tdemesh")
    azure = logging.getLogger("azure")
    before = (list(logger.handlers), logger.propagate, logger.level)
    azure_before = (list(azure.handlers), azure.propagate, azure.level)
    try:
        path = configure_logging(tmp_path)
        logging.getLogger("tdemesh.gateway").info(
            "keys.get kv/x ok; Authorization: Bearer eyJabc.def client_secret=hunter2"
        )
        for handler in logger.handlers:
            handler.flush()
    finally:
        for handler in logger.handlers[:]:
            if handler not in before[0]:
                logger.removeHandler(handler)
                handler.close()
        logger.propagate, logger.level = before[1], before[2]
        for handler in azure.handlers[:]:
            if handler not in azure_before[0]:
                azure.removeHandler(handler)
        azure.propagate, azure.level = azure_before[1], azure_before[2]
    text = path.read_text()
    assert "keys.get kv/x ok" in text
    assert "eyJabc" not in text and "hunter2" not in text


def test_text_and_json_show_the_matrix_and_the_fix() -> None:
    snapshot = cut(healthy(), "eastus2", "centralus")
    assessment = assess(snapshot)
    text = to_text(assessment, snapshot)
    assert "DEGRADED" in text and "unreachable" in text and "fix:" in text
    data = to_json(assessment, snapshot)
    assert data["verdict"] == "degraded" and data["exit_code"] == 1
    assert json.loads(json.dumps(data))["findings"][0]["fix"]


def test_the_http_session_honours_proxy_settings_only_when_there_are_some(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mesh.gateway import Gateway

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    endpoints = for_cloud("AzureCloud", "tenant", "subscription")
    assert Gateway(endpoints)._session().trust_env is False

    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    assert Gateway(endpoints)._session().trust_env is True
