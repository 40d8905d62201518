"""Injected faults and vault outages look to the SDK like the real thing."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import (
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from simclients import Sdk

from azuresim.process import SimProcess

VAULT = "kv-tde-eastus2"
CONNECTION_ERRORS = (ServiceRequestError, ServiceResponseError)


def test_throttle_answers_429_with_an_integer_retry_after(
    simulator: SimProcess, sdk: Sdk
) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")  # past the challenge round trip
    simulator.add_fault("throttle", listener=VAULT, operation="GET keys", retry_after=7)

    with pytest.raises(HttpResponseError) as caught:
        client.get_key("tde-protector")
    assert caught.value.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.error.code == "Throttled"
    # Other operations and other vaults are untouched.
    assert sdk.key_client("kv-tde-centralus").get_key("tde-protector")


def test_fail_the_next_n_calls_then_recover(simulator: SimProcess, sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")
    simulator.add_fault(
        "error", listener=VAULT, status=503, code="ServiceUnavailable", remaining=2
    )

    for _ in range(2):
        with pytest.raises(HttpResponseError) as caught:
            client.get_key("tde-protector")
        assert caught.value.status_code == 503
        assert caught.value.error.code == "ServiceUnavailable"
    assert client.get_key("tde-protector").name == "tde-protector"
    assert simulator.admin("GET", "faults")["value"] == []


def test_drop_closes_the_connection_without_an_answer(
    simulator: SimProcess, sdk: Sdk
) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")
    simulator.add_fault("drop", listener=VAULT, operation="unwrapkey", remaining=1)
    key = client.get_key("tde-protector")
    crypto = sdk.crypto_client(key)
    wrapped = crypto.wrap_key("RSA-OAEP", b"k" * 32)

    with pytest.raises(CONNECTION_ERRORS):
        crypto.unwrap_key("RSA-OAEP", wrapped.encrypted_key)
    assert crypto.unwrap_key("RSA-OAEP", wrapped.encrypted_key).key == b"k" * 32


def test_latency_delays_the_answer(simulator: SimProcess, sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")
    simulator.add_fault("latency", listener=VAULT, delay_seconds=0.6, remaining=1)

    started = time.monotonic()
    assert client.get_key("tde-protector").name == "tde-protector"
    assert time.monotonic() - started >= 0.6
    assert simulator.admin("GET", "faults")["value"] == []  # it fired once


def test_arm_listener_faults_use_the_arm_error_shape(
    simulator: SimProcess, sdk: Sdk
) -> None:
    simulator.add_fault("throttle", listener="arm", retry_after=3, remaining=1)
    token = sdk.credential().get_token("https://management.azure.com/.default").token
    import ssl

    import httpx

    with httpx.Client(
        verify=ssl.create_default_context(cafile=sdk.endpoints.ca_bundle)
    ) as http:
        url = f"{sdk.endpoints.arm_url}/subscriptions/{sdk.endpoints.subscription_id}"
        response = http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["error"]["code"] == "TooManyRequests"


def test_outage_makes_the_vault_unreachable_until_it_ends(
    simulator: SimProcess, sdk: Sdk
) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")

    simulator.start_outage(VAULT)
    with pytest.raises(CONNECTION_ERRORS):
        client.get_key("tde-protector")
    assert sdk.key_client("kv-tde-centralus").get_key("tde-protector")
    assert [o["vault"] for o in simulator.admin("GET", "outages")["value"]] == [VAULT]

    simulator.end_outages()
    assert client.get_key("tde-protector").name == "tde-protector"


def test_timed_outage_ends_on_the_simulated_clock(
    simulator: SimProcess, sdk: Sdk
) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")
    simulator.start_outage(VAULT, duration_seconds=3600)
    with pytest.raises(CONNECTION_ERRORS):
        client.get_key("tde-protector")

    simulator.set_clock(advance_seconds=3601)
    assert client.get_key("tde-protector").name == "tde-protector"
    kinds = [e["kind"] for e in simulator.events()]
    assert "outage_started" in kinds and "outage_ended" in kinds


def test_a_bad_fault_is_refused(simulator: SimProcess) -> None:
    with pytest.raises(RuntimeError, match="400"):
        simulator.add_fault("explode")
    with pytest.raises(RuntimeError, match="400"):
        simulator.add_fault("error", colour="red")
