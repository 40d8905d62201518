"""Every simulator answer states the simulated time in its `Date` header, the
way Azure states its own time, so clients follow the simulated clock."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from azuresim.process import SimProcess

VAULT = "kv-tde-eastus2"
RFC_7231_DATE = "%a, %d %b %Y %H:%M:%S GMT"


def raw_client(sim: SimProcess) -> httpx.Client:
    return httpx.Client(
        verify=ssl.create_default_context(cafile=sim.endpoints.ca_bundle)
    )


def listener_urls(sim: SimProcess) -> dict[str, str]:
    endpoints = sim.endpoints
    return {
        "token": f"{endpoints.authority}/{endpoints.tenant_id}"
        "/v2.0/.well-known/openid-configuration",
        "arm": f"{endpoints.arm_url}/subscriptions/{endpoints.subscription_id}"
        "/resourceGroups?api-version=2021-04-01",
        "vault": f"{endpoints.vaults[VAULT]}/keys?api-version=7.6",
        "admin": f"{endpoints.admin_url}/clock",
    }


def frozen_at_an_advanced_time(sim: SimProcess, seconds: float) -> datetime:
    sim.set_clock(scale=0)
    moved = sim.set_clock(advance_seconds=seconds)
    return datetime.fromisoformat(moved["now"])


def test_every_listener_dates_its_answers_from_the_simulated_clock(
    simulator: SimProcess,
) -> None:
    sim_now = frozen_at_an_advanced_time(simulator, 6 * 3600)

    with raw_client(simulator) as client:
        answers = {
            name: client.get(url) for name, url in listener_urls(simulator).items()
        }

    for name, response in answers.items():
        dates = response.headers.get_list("date")
        assert len(dates) == 1, (name, dates)
        assert dates[0] == sim_now.astimezone(UTC).strftime(RFC_7231_DATE), name
    # A 401 challenge and a 404 are answers too, and carry it like any other.
    assert answers["vault"].status_code == 401
    assert parsedate_to_datetime(answers["arm"].headers["date"]) > datetime.now(
        UTC
    ) + timedelta(hours=5)


def test_the_date_moves_with_the_clock_advanced_through_the_admin_api(
    simulator: SimProcess,
) -> None:
    url = listener_urls(simulator)["arm"]
    frozen_at_an_advanced_time(simulator, 0)
    with raw_client(simulator) as client:
        before = parsedate_to_datetime(client.get(url).headers["date"])
        simulator.set_clock(advance_seconds=600)
        after = parsedate_to_datetime(client.get(url).headers["date"])

    assert after - before == timedelta(seconds=600)


def test_an_injected_throttle_is_dated_from_the_simulated_clock(
    simulator: SimProcess,
) -> None:
    sim_now = frozen_at_an_advanced_time(simulator, 3 * 3600)
    simulator.add_fault("throttle", listener="arm", retry_after=3, remaining=1)

    with raw_client(simulator) as client:
        throttled = client.get(listener_urls(simulator)["arm"])

    assert throttled.status_code == 429
    assert throttled.headers["date"] == sim_now.astimezone(UTC).strftime(RFC_7231_DATE)
