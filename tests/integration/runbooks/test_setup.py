"""Setup from `greenfield`, through the real SDKs, on the simulator."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from mesh.config import Mesh
from runbooks import setup
from runbooks.journal import read, verify
from tests.integration.runbooks.runbook_helpers import Runner, assessment_of, estate_of


def test_setup_takes_greenfield_to_a_healthy_mesh(
    greenfield: SimProcess, runner: Runner
) -> None:
    estate = estate_of(greenfield)
    assert assessment_of(estate).verdict is not Verdict.HEALTHY

    result = runner(setup, estate)

    assert result.outcome == "succeeded", result.message
    after = assessment_of(estate)
    assert after.verdict is Verdict.HEALTHY, after.findings
    assert all(path.usable for path in after.paths)
    assert verify(Path(result.journal)).ok
    calls = [r for r in read(Path(result.journal)) if r["type"] == "sdk_call"]
    registrations = [
        c["resource"]
        for c in calls
        if c["operation"] == "sql.managed_instance_keys.begin_create_or_update"
    ]
    # Both copies on the secondary before either on the primary.
    on_secondary = ["managedInstances/sqlmi-tde-centralus/" in r for r in registrations]
    assert on_secondary == [True, True, False, False]
    protectors = [
        c["resource"]
        for c in calls
        if c["operation"].startswith(
            "sql.managed_instance_encryption_protectors.begin_create"
        )
    ]
    assert "sqlmi-tde-centralus" in protectors[0]
    assert "sqlmi-tde-eastus2" in protectors[1]


def test_setup_imports_an_openssl_pem_into_both_vaults(
    greenfield: SimProcess, runner: Runner, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "tde.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    estate = estate_of(greenfield)

    result = runner(setup, estate, {"route": "pem", "key_file": str(pem)})

    assert result.outcome == "succeeded", result.message
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    versions = {
        estate.gateway.get_key(estate.vault(r), "tde-protector").kid
        for r in estate.regions
    }
    assert len(versions) == 2  # two imports: different version ids
    journal = Path(result.journal).read_text()
    assert "PRIVATE KEY" not in journal


def test_backup_and_restore_across_geographies_is_refused_with_alternatives(
    greenfield: SimProcess, runner: Runner
) -> None:
    greenfield.put_vault(
        "kv-tde-westeurope", location="westeurope", resource_group="rg-tde-centralus"
    )

    def across_geographies(mesh: Mesh) -> Mesh:
        regions = dict(mesh.regions)
        regions["centralus"] = regions["centralus"].model_copy(
            update={"vault": "kv-tde-westeurope", "private_endpoints": {}}
        )
        regions["eastus2"] = regions["eastus2"].model_copy(
            update={"private_endpoints": {}}
        )
        return mesh.model_copy(update={"regions": regions})

    estate = estate_of(greenfield, across_geographies)

    result = runner(setup, estate)

    assert result.outcome == "refused"
    assert "geography" in result.message
    assert "route=pem" in result.fix and "route=hsm" in result.fix
    assert estate.gateway.list_key_names("kv-tde-eastus2") == []


def test_setup_enables_a_missing_identity_and_grants_by_access_policy(
    greenfield: SimProcess, runner: Runner
) -> None:
    from azuresim.scenarios import OPERATOR_OBJECT_ID

    everything = ["get", "list", "create", "update", "import", "delete", "backup"]
    greenfield.put_vault(
        "kv-tde-centralus",
        enable_rbac_authorization=False,
        access_policies=[
            {
                "object_id": OPERATOR_OBJECT_ID,
                "key_permissions": [*everything, "restore", "recover"],
            }
        ],
    )
    estate = estate_of(greenfield)
    estate.gateway.set_instance_identity(
        "rg-tde-centralus", "sqlmi-tde-centralus", "None"
    )

    result = runner(setup, estate)

    assert result.outcome == "succeeded", result.message
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    identity = estate.gateway.get_instance("rg-tde-centralus", "sqlmi-tde-centralus")
    principal = identity["identity"]["principalId"]
    vault = estate.gateway.get_vault("rg-tde-centralus", "kv-tde-centralus")
    policies = {
        p["objectId"]: p["permissions"]["keys"]
        for p in vault["properties"]["accessPolicies"]
    }
    assert {"get", "wrapKey", "unwrapKey"} <= set(policies[principal])
