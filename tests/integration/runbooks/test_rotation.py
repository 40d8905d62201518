"""Rotation from `protected`: new material in both vaults, one thumbprint,
secondary first, old versions untouched."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from runbooks import rotation
from runbooks.journal import read, verify
from tests.integration.runbooks.runbook_helpers import Runner, assessment_of, estate_of


def protector_names(sim: SimProcess) -> dict[str, str]:
    estate = estate_of(sim)
    return {
        r: estate.gateway.get_protector(estate.group(r), estate.instance(r))[
            "properties"
        ]["serverKeyName"]
        for r in estate.regions
    }


def test_rotation_by_a_new_key_name_keeps_the_mesh_healthy_and_the_old_key(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    before = protector_names(simulator)

    result = runner(rotation, estate, {"key_name": "tde-protector-2027"})

    assert result.outcome == "succeeded", result.message
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    after = protector_names(simulator)
    assert after["eastus2"].startswith("kv-tde-eastus2_tde-protector-2027_")
    assert after["centralus"].startswith("kv-tde-centralus_tde-protector-2027_")
    for region in estate.regions:
        old = estate.gateway.get_key(estate.vault(region), "tde-protector")
        assert old.enabled is True
        keys = estate.gateway.list_instance_keys(
            estate.group(region), estate.instance(region)
        )
        names = {k["name"] for k in keys}
        assert before[region] in names  # the old key stays registered
    assert verify(Path(result.journal)).ok
    created = [
        r
        for r in read(Path(result.journal))
        if r["type"] == "sdk_call" and r["operation"] == "keys.create_rsa_key"
    ]
    assert created[0]["request_id"]  # Azure's x-ms-request-id, for support


def test_rotation_imports_a_new_version_into_both_vaults(
    simulator: SimProcess, runner: Runner, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    pem = tmp_path / "next.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    estate = estate_of(simulator)

    result = runner(rotation, estate, {"route": "import", "key_file": str(pem)})

    assert result.outcome == "succeeded", result.message
    assert assessment_of(estate).verdict is Verdict.HEALTHY
    for region in estate.regions:
        versions = estate.gateway.list_key_versions(
            estate.vault(region), "tde-protector"
        )
        assert len(versions) == 2
        assert all(v.enabled for v in versions)


def test_a_rotation_that_would_disable_an_old_version_is_refused(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    before = protector_names(simulator)

    result = runner(rotation, estate, {"retire_old": "disable"})

    assert result.outcome == "refused"
    assert "never disabled or deleted" in result.message
    assert protector_names(simulator) == before
    assert estate.gateway.list_key_names("kv-tde-eastus2") == ["tde-protector"]


def test_rotation_refuses_when_auto_rotation_differs_between_instances(
    simulator: SimProcess, runner: Runner
) -> None:
    estate = estate_of(simulator)
    name = protector_names(simulator)["centralus"]
    estate.gateway.set_protector(
        estate.group("centralus"),
        estate.instance("centralus"),
        name,
        auto_rotation=True,
    )

    result = runner(rotation, estate)

    assert result.outcome == "refused"
    assert "auto_rotation" in result.fix
