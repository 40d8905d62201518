"""The probe and the gateway against the simulator, through the real SDKs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

    def _call(self, operation: str, resource: str, fn: Callable[[], T]) -> T:
        self.reads.append((operation, resource))
        return super()._call(operation, resource, fn)


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
