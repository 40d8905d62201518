"""The config is found, validated, and explained when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.config import (
    ENV_VAR,
    ConfigError,
    dump_config,
    find_config,
    load_config,
    parse_config,
)

GOOD = """
default_mesh = "sim"

[meshes.sim]
cloud = "Simulator"
subscription_id = "00000000-0000-0000-0000-000000000000"
tenant_id = "11111111-1111-1111-1111-111111111111"
failover_group = "fog-tde"
allow_fault_drills = true
endpoints_file = "endpoints.json"

[meshes.sim.regions.eastus2]
resource_group = "rg-tde-eastus2"
instance = "sqlmi-tde-eastus2"
vault = "kv-tde-eastus2"
network_security_group = "nsg-sqlmi-eastus2"
[meshes.sim.regions.eastus2.private_endpoints]
kv-tde-eastus2 = "pe-sqlmi-eastus2-kv-tde-eastus2"
kv-tde-centralus = "pe-sqlmi-eastus2-kv-tde-centralus"

[meshes.sim.regions.centralus]
resource_group = "rg-tde-centralus"
instance = "sqlmi-tde-centralus"
vault = "kv-tde-centralus"
network_security_group = "nsg-sqlmi-centralus"
[meshes.sim.regions.centralus.private_endpoints]
kv-tde-centralus = "pe-sqlmi-centralus-kv-tde-centralus"
kv-tde-eastus2 = "pe-sqlmi-centralus-kv-tde-eastus2"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tdemesh.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_config_loads_and_relative_endpoints_resolve(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    name, mesh = config.mesh()
    assert name == "sim"
    assert mesh.endpoints_file == tmp_path / "endpoints.json"
    assert mesh.regions["centralus"].vault == "kv-tde-centralus"
    assert mesh.region_of_vault("kv-tde-eastus2") == "eastus2"


def test_dump_then_load_gives_the_same_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    again = load_config(write(tmp_path, dump_config(config)))
    assert again == config


def test_a_misspelt_key_is_named_with_the_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace('instance = "sqlmi-tde-centralus"', 'instanc = "x"')
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == path
    assert caught.value.key == "meshes.sim.regions.centralus.instanc"
    assert "instance" in caught.value.fix
    assert str(path) in str(caught.value)


def test_an_unknown_cloud_lists_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('"Simulator"', '"AzurePublic"'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "meshes.sim.cloud"
    assert "AzureCloud" in str(caught.value)


def test_a_mesh_needs_two_regions(tmp_path: Path) -> None:
    text = GOOD.split("[meshes.sim.regions.centralus]")[0]
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "two regions" in caught.value.problem
    assert "regions" in caught.value.fix


def test_endpoints_must_point_at_vaults_of_the_mesh(tmp_path: Path) -> None:
    text = GOOD.replace('kv-tde-centralus = "pe-sqlmi-eastus2', 'kv-other = "pe-x')
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "kv-other" in caught.value.problem


def test_the_simulator_needs_an_endpoints_file(tmp_path: Path) -> None:
    text = GOOD.replace('endpoints_file = "endpoints.json"\n', "")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert "endpoints_file" in caught.value.fix


def test_broken_toml_and_missing_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[meshes.sim\n"))
    with pytest.raises(ConfigError, match="discover"):
        load_config(tmp_path / "absent.toml")


def test_an_unknown_mesh_name_is_refused() -> None:
    import tomllib

    config = parse_config(tomllib.loads(GOOD))
    with pytest.raises(ConfigError, match="no mesh named 'prod'"):
        config.mesh("prod")


def test_flag_beats_environment_beats_user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env.toml"))
    assert find_config(tmp_path / "flag.toml") == tmp_path / "flag.toml"
    assert find_config(None) == tmp_path / "env.toml"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert find_config(None) is None
    (tmp_path / "xdg" / "tdemesh").mkdir(parents=True)
    (tmp_path / "xdg" / "tdemesh" / "config.toml").write_text(GOOD)
    assert find_config(None) == tmp_path / "xdg" / "tdemesh" / "config.toml"
