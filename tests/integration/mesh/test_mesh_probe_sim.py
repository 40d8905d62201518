"""The probe and the gateway against the simulator, through the real SDKs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from simclients import Sdk

from azuresim.process import SimProcess
from mesh.assess import assess
from mesh.assessment import Verdict
from mesh.config import Mesh, load_config
from mesh.errors import GatewayError, NotFound, Rejected
from mesh.gateway import Gateway
from mesh.probe import probe
from mesh.retry import RetryEvent, RetryPolicy

T = TypeVar("T")
FAST = RetryPolicy(attempts=3, total_seconds=20, base_wait=0.05, max_wait=0.2)
E_RG, E_MI, E_KV = "rg-tde-eastus2", "sqlmi-tde-eastus2", "kv-tde-eastus2"
C_RG, C_MI, C_KV = "rg-tde-centralus", "sqlmi-tde-centralus", "kv-tde-centralus"


class Recorder:
    def __init__(self) -> None:
        self.events: list[RetryEvent] = []

    def retrying(self, event: RetryEvent) -> None:
        self.events.append(event)


class CountingGateway(Gateway):
    """Records every (operation, resource) the probe asks for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[tuple[str, str]] = []

    def _call(
        self, operation: str, resource: str, fn: Callable[[], T], **kwargs: Any
    ) -> T:
        self.reads.append((operation, resource))
        return super()._call(operation, resource, fn, **kwargs)


def sim_mesh(sim: SimProcess) -> tuple[str, Mesh]:
    return load_config(sim.config_path).mesh()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(simulator: SimProcess, recorder: Recorder) -> Iterator[CountingGateway]:
    _, mesh = sim_mesh(simulator)
    gateway = CountingGateway(mesh.endpoints(), observer=recorder, retry=FAST)
    yield gateway
    gateway.close()


def test_the_protected_scenario_probes_healthy_with_azures_thumbprints(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    name, mesh = sim_mesh(simulator)
    snapshot = probe(gateway, name, mesh)

    assert snapshot.all_errors() == ()
    assessment = assess(snapshot)
    assert assessment.verdict is Verdict.HEALTHY, assessment.findings
    assert len(assessment.paths) == 4 and all(p.usable for p in assessment.paths)
    # The thumbprint computed from n/e equals the one Azure reports.
    instance = snapshot.instance(E_MI)
    vault = snapshot.vault(E_KV)
    assert instance is not None and instance.protector is not None
    assert vault is not None
    [key] = vault.keys
    assert key.versions[0].thumbprint == instance.protector.thumbprint
    assert key.versions[0].size == 2048 and key.versions[0].kty == "RSA"
    group = snapshot.failover_group
    assert group is not None and group.role_of(E_MI) == "Primary"
    assert snapshot.calls == len(gateway.reads)


def test_no_resource_is_read_twice_in_one_probe(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    name, mesh = sim_mesh(simulator)
    probe(gateway, name, mesh)
    assert len(gateway.reads) == len(set(gateway.reads))
    assert ("keys.list", E_KV) in gateway.reads


def test_a_vault_outage_is_a_fact_not_a_failed_probe(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    simulator.start_outage(E_KV)
    name, mesh = sim_mesh(simulator)

    snapshot = probe(gateway, name, mesh)

    vault = snapshot.vault(E_KV)
    assert vault is not None and vault.operator_reachable is False
    assert vault.operator_error is not None and vault.operator_error.unreachable
    assessment = assess(snapshot)
    assert "VAULT_NOT_ANSWERING" in assessment.codes()
    assert "RUNNING_ON_FALLBACK" in assessment.codes()
    (finding,) = assessment.by_code("VAULT_NOT_ANSWERING")
    assert "Error" not in finding.what and "Resource Health" in finding.fix


def test_a_transient_fault_is_retried_and_reported(
    simulator: SimProcess, gateway: CountingGateway, recorder: Recorder
) -> None:
    simulator.add_fault(
        "error",
        listener="arm",
        operation="GET encryptionProtector",
        status=503,
        remaining=1,
        retry_after=0,
    )
    name, mesh = sim_mesh(simulator)

    snapshot = probe(gateway, name, mesh)

    assert snapshot.all_errors() == ()
    [event] = recorder.events
    assert event.operation == "sql.encryption_protectors.get"
    assert (event.attempt, event.attempts) == (1, FAST.attempts)
    assert "503" in event.reason


def test_throttling_waits_as_long_as_retry_after_says(
    simulator: SimProcess, gateway: CountingGateway, recorder: Recorder
) -> None:
    simulator.add_fault(
        "throttle", listener=E_KV, operation="versions", remaining=1, retry_after=1
    )
    name, mesh = sim_mesh(simulator)

    probe(gateway, name, mesh)

    [event] = recorder.events
    assert event.wait_seconds == 1.0 and "429" in event.reason


def test_a_long_running_operation_resumes_after_a_fault_while_polling(
    simulator: SimProcess, gateway: CountingGateway, recorder: Recorder
) -> None:
    simulator.add_fault(
        "error",
        listener="arm",
        operation="GET Operation",
        status=503,
        remaining=1,
        retry_after=0,
    )
    rule = {
        "priority": 150,
        "direction": "Outbound",
        "access": "Deny",
        "protocol": "Tcp",
        "sourceAddressPrefix": "*",
        "sourcePortRange": "*",
        "destinationAddressPrefix": "10.10.1.5/32",
        "destinationPortRange": "443",
    }

    created = gateway.create_security_rule(E_RG, "nsg-sqlmi-eastus2", "deny-kv", rule)

    assert created["name"] == "deny-kv"
    assert [e.operation for e in recorder.events] == [
        "network.security_rules.create (polling)"
    ]


def test_a_4xx_names_the_resource_and_the_fix(gateway: CountingGateway) -> None:
    with pytest.raises(NotFound) as missing:
        gateway.get_instance(E_RG, "sqlmi-nowhere")
    assert "sqlmi-nowhere" in missing.value.resource
    assert "config" in missing.value.fix

    versionless = gateway.endpoints.vault_url(E_KV) + "/keys/tde-protector"
    with pytest.raises(GatewayError) as refused:
        gateway.register_instance_key(E_RG, E_MI, versionless)
    assert "version" in refused.value.what


def test_a_protector_the_partner_lacks_is_refused_with_the_order_to_follow(
    simulator: SimProcess, sdk: Sdk, gateway: CountingGateway
) -> None:
    with sdk.key_client(E_KV) as client:
        key = client.create_rsa_key("lonely", size=2048)
    assert key.id is not None

    with pytest.raises(Rejected) as refused:
        registered = gateway.register_instance_key(E_RG, E_MI, key.id)
        gateway.set_protector(E_RG, E_MI, registered["name"])

    assert refused.value.code == "KeyMaterialNotFoundOnRemoteServer"
    assert "secondary first" in refused.value.fix


def test_an_operator_without_data_plane_access_is_reported_per_vault(
    simulator: SimProcess, recorder: Recorder
) -> None:
    app = simulator.add_principal("auditor", roles=[])
    name, mesh = sim_mesh(simulator)
    endpoints = replace(
        mesh.endpoints(), client_id=app["client_id"], client_secret=app["client_secret"]
    )
    gateway = Gateway(endpoints, observer=recorder, retry=FAST)
    try:
        snapshot = probe(gateway, name, mesh)
    finally:
        gateway.close()

    for vault in snapshot.vaults:
        assert vault.operator_reachable is False
        assert vault.operator_error is not None and vault.operator_error.status == 403
    assessment = assess(snapshot)
    assert len(assessment.by_code("VAULT_UNREACHABLE_FOR_OPERATOR")) == 2
    assert assessment.verdict is not Verdict.HEALTHY


def test_an_instance_without_identity_is_critical(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    gateway.set_instance_identity(E_RG, E_MI, "None")
    name, mesh = sim_mesh(simulator)

    assessment = assess(probe(gateway, name, mesh))

    assert "IDENTITY_MISSING" in assessment.codes()
    assert assessment.verdict is Verdict.CRITICAL


def test_an_unregistered_fallback_key_leaves_one_path(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    name, mesh = sim_mesh(simulator)
    keys = gateway.list_instance_keys(E_RG, E_MI)
    fallback = next(k["name"] for k in keys if k["name"].startswith("kv-tde-centralus"))
    gateway.unregister_instance_key(E_RG, E_MI, fallback)

    assessment = assess(probe(gateway, name, mesh))

    assert {"KEY_NOT_REGISTERED", "SINGLE_KEY_PATH"} <= assessment.codes()
    path = assessment.path(E_MI, "kv-tde-centralus")
    assert path is not None and path.key_registered is False


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"expires_on": -3600}, "KEY_EXPIRED"),
        ({"not_before": 86400}, "KEY_NOT_YET_ACTIVE"),
        ({"expires_on": 5 * 86400}, "KEY_EXPIRES_SOON"),
    ],
)
def test_key_dates_are_judged(
    simulator: SimProcess,
    gateway: CountingGateway,
    change: dict[str, int],
    code: str,
) -> None:
    # Dates on Azure's (the simulator's) clock, which runs ahead of this machine's.
    now = datetime.fromisoformat(simulator.set_clock(advance_seconds=2 * 86400)["now"])
    dates = {k: now + timedelta(seconds=v) for k, v in change.items()}
    gateway.update_key(C_KV, "tde-protector", None, **dates)  # type: ignore[arg-type]
    name, mesh = sim_mesh(simulator)

    assessment = assess(probe(gateway, name, mesh))

    assert code in assessment.codes()


def test_after_a_failover_the_probe_sees_the_roles_swapped(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    gateway.failover(C_RG, "centralus", "fog-tde")
    name, mesh = sim_mesh(simulator)

    deadline = time.monotonic() + 20
    while True:
        snapshot = probe(gateway, name, mesh)
        group = snapshot.failover_group
        assert group is not None
        if group.role_of(C_MI) == "Primary" or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert group.role_of(C_MI) == "Primary" and group.role_of(E_MI) == "Secondary"
    assert assess(snapshot).verdict is Verdict.HEALTHY


def test_response_listeners_see_every_answer(
    simulator: SimProcess, gateway: CountingGateway
) -> None:
    seen: list[str] = []
    gateway.add_response_listener(lambda headers: seen.append(headers.get("Date", "")))

    gateway.get_instance(E_RG, E_MI)
    gateway.list_key_versions(E_KV, "tde-protector")

    assert len(seen) >= 2 and all(seen)
