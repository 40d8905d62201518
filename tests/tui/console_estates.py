"""Constructed estates for the console's snapshot tests and screenshots.

Snapshots are built from mesh's own types with the default scenario's names,
and assessed by mesh's own `assess`, so a picture shows what the console
would show for that estate; times are fixed so pictures are deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from mesh.snapshot import (
    Database,
    Endpoint,
    EndpointConnection,
    FailoverGroup,
    Identity,
    Instance,
    KeyVersion,
    NetworkSecurityGroup,
    Protector,
    ReadError,
    RegisteredKey,
    RoleAssignment,
    SecurityRule,
    Snapshot,
    Vault,
    VaultKey,
)
from runbooks import events
from runbooks.confirm import ConfirmationRequest
from runbooks.model import Action, Danger, Plan, StepState
from runbooks.paths import StateDirs
from tui.app import ConsoleApp
from tui.runner_host import ConsoleConfirmer, RunbookHost
from tui.screens.runner import RunnerScreen
from tui.session import Look, Session
from tui.widgets.header import Where

SUB = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"
REGIONS = ("eastus2", "centralus")
NOW = datetime(2026, 12, 3, 3, 0, 0, tzinfo=UTC)
VERSION = "6f1c2a9be0d84c1f9a7e3b5d2c4f8a10"
THUMBPRINT = "7F3A9C21D4E5B6A7980112233445566778899AAB"
PORTS = {"eastus2": 8443, "centralus": 8444}
PRINCIPALS = {
    "eastus2": "aaaaaaaa-0000-0000-0000-00000000e002",
    "centralus": "aaaaaaaa-0000-0000-0000-00000000c001",
}
CRYPTO_SERVICE_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"


def rg(region: str) -> str:
    return f"rg-tde-{region}"


def vault_url(region: str) -> str:
    return f"https://127.0.0.1:{PORTS[region]}"


def kid(region: str) -> str:
    return f"{vault_url(region)}/keys/tde-protector/{VERSION}"


def key_name(region: str) -> str:
    return f"kv-tde-{region}_tde-protector_{VERSION}"


def arm_id(region: str, kind: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg(region)}/providers/{kind}/{name}"


def instance(region: str) -> Instance:
    name = f"sqlmi-tde-{region}"
    keys = tuple(
        RegisteredKey(
            key_name(r), "AzureKeyVault", kid(r), THUMBPRINT, NOW - timedelta(days=40)
        )
        for r in REGIONS
    )
    return Instance(
        region=region,
        name=name,
        resource_group=rg(region),
        resource_id=arm_id(region, "Microsoft.Sql/managedInstances", name),
        location=region,
        state="Ready",
        provisioning_state="Succeeded",
        identity=Identity("SystemAssigned", PRINCIPALS[region], TENANT),
        key_id=kid(region),
        protector=Protector("AzureKeyVault", key_name(region), kid(region), THUMBPRINT),
        keys=(RegisteredKey("ServiceManaged", "ServiceManaged"),) + keys,
        databases=tuple(
            Database(db, "Online") for db in ("sales", "inventory", "billing", "audit")
        ),
    )


def vault(region: str) -> Vault:
    name = f"kv-tde-{region}"
    version = KeyVersion(
        vault=name,
        name="tde-protector",
        version=VERSION,
        kid=kid(region),
        enabled=True,
        kty="RSA-HSM",
        size=3072,
        thumbprint=THUMBPRINT,
        key_ops=("wrapKey", "unwrapKey", "get"),
        created=NOW - timedelta(days=40),
        updated=NOW - timedelta(days=40),
        recovery_level="Recoverable",
    )
    resource_id = arm_id(region, "Microsoft.KeyVault/vaults", name)
    return Vault(
        region=region,
        name=name,
        resource_group=rg(region),
        resource_id=resource_id,
        url=vault_url(region),
        location=region,
        tenant_id=TENANT,
        soft_delete=True,
        purge_protection=True,
        retention_days=90,
        rbac_authorization=True,
        role_assignments=tuple(
            RoleAssignment(
                f"ra-{r}-{region}", resource_id, CRYPTO_SERVICE_USER, PRINCIPALS[r]
            )
            for r in REGIONS
        ),
        public_network_access="Disabled",
        network_default_action="Deny",
        endpoint_connections=tuple(
            EndpointConnection(
                f"pe-sqlmi-{r}-{name}",
                arm_id(r, "Microsoft.Network/privateEndpoints", f"pe-sqlmi-{r}-{name}"),
                "Approved",
            )
            for r in REGIONS
        ),
        keys=(VaultKey(name, "tde-protector", True, (version,)),),
        operator_reachable=True,
    )


def endpoint_ip(region: str, vault_region: str) -> str:
    network = 1 if region == "eastus2" else 2
    host = 4 if region == vault_region else 5
    return f"10.{network}.2.{host}"


def endpoint(region: str, vault_region: str) -> Endpoint:
    name = f"pe-sqlmi-{region}-kv-tde-{vault_region}"
    return Endpoint(
        region=region,
        name=name,
        vault=f"kv-tde-{vault_region}",
        resource_id=arm_id(region, "Microsoft.Network/privateEndpoints", name),
        ip_addresses=(endpoint_ip(region, vault_region),),
        connection_status="Approved",
        provisioning_state="Succeeded",
    )


def nsg(region: str, extra: tuple[SecurityRule, ...] = ()) -> NetworkSecurityGroup:
    name = f"nsg-sqlmi-{region}"
    return NetworkSecurityGroup(
        region,
        name,
        arm_id(region, "Microsoft.Network/networkSecurityGroups", name),
        extra,
    )


def healthy() -> Snapshot:
    return Snapshot(
        mesh="sim",
        cloud="Simulator",
        subscription_id=SUB,
        taken_at=NOW,
        regions=REGIONS,
        instances=tuple(instance(r) for r in REGIONS),
        vaults=tuple(vault(r) for r in REGIONS),
        endpoints=tuple(endpoint(r, v) for r in REGIONS for v in REGIONS),
        network_security_groups=tuple(nsg(r) for r in REGIONS),
        failover_group=FailoverGroup(
            "fog-tde",
            rg("eastus2"),
            "eastus2",
            "sqlmi-tde-eastus2",
            "sqlmi-tde-centralus",
            replication_state="CATCH_UP",
            failover_policy="Manual",
            grace_period_minutes=60,
            primary_location="eastus2",
            secondary_location="centralus",
        ),
        azure_time=NOW,
        duration_seconds=0.4,
        calls=24,
    )


def _deny_rule(vault_region: str) -> SecurityRule:
    ip = endpoint_ip("eastus2", vault_region)
    return SecurityRule(
        f"tdemesh-drill-deny-kv-tde-{vault_region}",
        100,
        "Outbound",
        "Deny",
        "Tcp",
        destination_prefixes=(ip,),
        destination_ports=("443",),
    )


def degraded() -> Snapshot:
    """The primary's home path is cut by an NSG rule; it uses the fallback."""
    base = healthy()
    groups = (nsg("eastus2", (_deny_rule("eastus2"),)), nsg("centralus"))
    return replace(base, network_security_groups=groups)


def critical() -> Snapshot:
    """Both of the primary's paths cut: its databases are going inaccessible."""
    base = healthy()
    groups = (
        nsg("eastus2", (_deny_rule("eastus2"), _deny_rule("centralus"))),
        nsg("centralus"),
    )
    primary = base.instances[0]
    lost = tuple(
        replace(
            d,
            status="Inaccessible",
            inaccessibility_reason_kind="TransparentDataEncryption",
            inaccessibility_error_code="AzureKeyVaultConnectionFailed",
            inaccessibility_key_uri=kid("eastus2"),
        )
        for d in primary.databases or ()
    )
    primary = replace(primary, databases=lost)
    return replace(
        base,
        network_security_groups=groups,
        instances=(primary, base.instances[1]),
    )


def unreadable_vault() -> Snapshot:
    """The operator cannot reach one vault's data plane."""
    base = healthy()
    error = ReadError(vault_url("centralus"), "keys.get_key", "connection refused")
    second = replace(
        base.vaults[1],
        operator_reachable=False,
        operator_error=error,
        keys=(),
        errors=(error,),
    )
    return replace(base, vaults=(base.vaults[0], second))


KINDS = {
    "healthy": healthy,
    "degraded": degraded,
    "critical": critical,
    "unreadable_vault": unreadable_vault,
}


def look(kind: str) -> Look:
    from mesh.assess import assess  # as the console does: after the first frame

    snapshot = KINDS[kind]()
    return Look(snapshot, assess(snapshot))


def where(simulator: bool = True) -> Where:
    cloud = "Simulator" if simulator else "AzureCloud"
    return Where(simulator, "sim", SUB, cloud, "fog-tde", REGIONS)


def frozen_session(
    kind: str = "healthy", simulator: bool = True, **extra: Any
) -> Session:
    """A session that always sees the same estate at the same moment."""
    return Session(where(simulator), lambda: look(kind), clock=lambda: NOW, **extra)


RECORDED = Path(__file__).parent / "recorded"


def recorded_plan(runbook: str) -> Plan:
    """A plan the engine made on the simulator, saved as `Plan.as_json()`."""
    data = json.loads((RECORDED / f"{runbook}-plan.json").read_text(encoding="utf-8"))
    actions = tuple(
        Action(
            a["step"],
            a["title"],
            a["why"],
            Danger(a["danger"]),
            a["operation"],
            a["target"],
            a["arguments"],
            a["done"],
            a["restore"],
        )
        for a in data["actions"]
    )
    return Plan(data["runbook"], data["mesh"], actions, data["parameters"])


class RecordedHost(RunbookHost):
    """The real runbook catalogue; plans come from recordings, never Azure."""

    def __init__(self, dirs: Path) -> None:
        def load() -> tuple[Mapping[str, Any], object]:
            from runbooks.registry import RUNBOOKS

            return RUNBOOKS, None

        super().__init__(load, "sim", StateDirs(dirs), operator="dba")

    def plan(self, name: str, parameters: Mapping[str, str]) -> Plan:
        return recorded_plan(name)


# --------------------------------------------------------------------------
# Scenes the snapshot tests and screenshots/make.py both draw

RUN = "20261203T030000Z-rotation-abc123"


async def settle(pilot: Pilot[None]) -> None:
    """Until the first look has been drawn and nothing else is running."""
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    while app.mesh_screen.looks_shown < 1:
        await pilot.pause(0.02)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_rotation(pilot: Pilot[None]) -> RunnerScreen:
    await settle(pilot)
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    app.action_choose_runbook("rotation")
    await settle(pilot)
    runner = app.screen
    assert isinstance(runner, RunnerScreen)
    return runner


def mid_run(runner: RunnerScreen) -> None:
    """Feed the screen what the engine says two steps into a rotation."""
    assert runner.plan is not None
    first, create, copy = runner.plan.actions[:3]
    said = [
        events.RunStarted(RUN, "rotation", "sim", resumed=False),
        events.StepChanged(RUN, first.step_id, first.title, StepState.RUNNING),
        events.CallStarted(RUN, first.step_id, "mesh.probe", "mesh sim"),
        events.CallFinished(
            RUN, first.step_id, "mesh.probe", "mesh sim", "ok", 0.41, 1
        ),
        events.StepChanged(RUN, first.step_id, first.title, StepState.DONE),
        events.StepChanged(RUN, create.step_id, create.title, StepState.RUNNING),
        events.ConfirmationAsked(RUN, create.step_id, create.danger, None),
        events.CallStarted(RUN, create.step_id, create.operation, create.target),
        events.CallFinished(
            RUN, create.step_id, create.operation, create.target, "ok", 0.12, 1
        ),
        events.StepChanged(RUN, create.step_id, create.title, StepState.DONE),
        events.StepChanged(RUN, copy.step_id, copy.title, StepState.RUNNING),
        events.CallStarted(RUN, copy.step_id, "keys.backup_key", copy.target),
        events.CallRetried(
            RUN,
            copy.step_id,
            "keys.backup_key",
            copy.target,
            2,
            5,
            "429 Throttled (VaultRequestTypeLimitReached)",
            1.0,
        ),
    ]
    runner.running = True
    for event in said:
        runner.on_run_event(event)


def ask(pilot: Pilot[None], step: Action) -> None:
    """Show the confirmation the engine would ask for `step`."""
    request = ConfirmationRequest(
        step.step_id,
        step.title,
        step.why,
        step.danger,
        step.operation,
        step.target,
        step.target.rsplit("/", 1)[-1],
        step.arguments,
    )
    ConsoleConfirmer(pilot.app, "dba")._ask(request, Future())
