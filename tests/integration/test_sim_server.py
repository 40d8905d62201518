"""The simulator process: loopback only, tokens required, admin API, files."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from simclients import Sdk

from azuresim.process import SimProcess
from azuresim.server import Simulator, require_loopback

VAULT = "kv-tde-eastus2"


def http(sim: SimProcess) -> httpx.Client:
    return httpx.Client(
        verify=ssl.create_default_context(cafile=sim.endpoints.ca_bundle)
    )


def listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp{,6}."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_every_listener_binds_only_to_loopback(sim: SimProcess) -> None:
    endpoints = sim.endpoints
    urls = [endpoints.authority, endpoints.arm_url, *endpoints.vaults.values()]
    for url in urls:
        assert url.startswith("https://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"0100007F"}, url


def test_a_non_loopback_host_is_refused(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "10.0.0.4"):
        with pytest.raises(ValueError, match="loopback"):
            require_loopback(host)
    with pytest.raises(ValueError, match="loopback"):
        Simulator(tmp_path, host="192.168.1.10")
    assert require_loopback("localhost") == "127.0.0.1"


def test_arm_refuses_requests_without_a_token_it_issued(simulator: SimProcess) -> None:
    endpoints = simulator.endpoints
    url = (
        f"{endpoints.arm_url}/subscriptions/{endpoints.subscription_id}"
        "/resourceGroups/rg-tde-eastus2/providers/Microsoft.Sql/managedInstances"
        "/sqlmi-tde-eastus2?api-version=2025-01-01"
    )
    with http(simulator) as client:
        missing = client.get(url)
        foreign = client.get(url, headers={"Authorization": "Bearer forged"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert foreign.status_code == 401
    assert foreign.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_vault_refuses_a_foreign_token(simulator: SimProcess) -> None:
    url = f"{simulator.endpoints.vaults[VAULT]}/keys?api-version=2025-07-01"
    with http(simulator) as client:
        response = client.get(url, headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization=")
    assert response.json()["error"]["code"] == "Unauthorized"


def test_unknown_routes_answer_an_azure_shaped_404(
    simulator: SimProcess, sdk: Sdk
) -> None:
    arm_token = sdk.credential().get_token("https://management.azure.com/.default")
    vault_token = sdk.credential().get_token("https://vault.azure.net/.default")
    with http(simulator) as client:
        arm = client.get(
            f"{simulator.endpoints.arm_url}/no/such/thing",
            headers={"Authorization": f"Bearer {arm_token.token}"},
        )
        vault = client.get(
            f"{simulator.endpoints.vaults[VAULT]}/secrets/x?api-version=2025-07-01",
            headers={"Authorization": f"Bearer {vault_token.token}"},
        )
    for response in (arm, vault):
        assert response.status_code == 404
        assert set(response.json()["error"]) >= {"code", "message"}


def test_admin_clock_advances_and_scales(simulator: SimProcess) -> None:
    before = datetime.fromisoformat(simulator.clock()["now"])
    after = simulator.set_clock(advance_seconds=3600)
    assert datetime.fromisoformat(after["now"]) - before >= timedelta(seconds=3600)

    frozen = simulator.set_clock(scale=0)
    assert frozen["scale"] == 0
    assert simulator.clock()["now"] == simulator.clock()["now"]


def test_tokens_survive_a_manual_clock_jump(simulator: SimProcess, sdk: Sdk) -> None:
    client = sdk.key_client(VAULT)
    client.get_key("tde-protector")
    simulator.set_clock(advance_seconds=7 * 86400)
    assert client.get_key("tde-protector").name == "tde-protector"


def test_reset_restores_the_scenario_and_keeps_vault_ports(
    simulator: SimProcess, sdk: Sdk
) -> None:
    before = simulator.endpoints.vaults
    sdk.key_client(VAULT).create_rsa_key("scratch")
    simulator.add_fault("error", listener=VAULT)

    simulator.reset("protected")

    assert simulator.endpoints.vaults == before
    assert simulator.admin("GET", "faults")["value"] == []
    names = {k.name for k in sdk.key_client(VAULT).list_properties_of_keys()}
    assert "scratch" not in names


def test_reset_to_an_unknown_scenario_names_the_choices(simulator: SimProcess) -> None:
    with pytest.raises(RuntimeError, match="greenfield"):
        simulator.reset("nonsense")


def test_state_dump_has_no_key_material_or_secrets(simulator: SimProcess) -> None:
    state = simulator.state()
    text = json.dumps(state)
    assert state["vaults"][VAULT]["keys"]["tde-protector"]["versions"][0]["thumbprint"]
    assert "PRIVATE KEY" not in text
    assert "private_key" not in text
    assert simulator.endpoints.client_secret not in text
    assert "client_secret" not in text


def test_sim_serve_writes_both_files_and_prints_their_paths(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "from tdemesh.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "sim", "serve", "--state-dir", str(tmp_path), "--time-scale", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    try:
        while not any(line.startswith("config:") for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        endpoints = json.loads((tmp_path / "endpoints.json").read_text())
        keep_alive = httpx.Client(
            verify=ssl.create_default_context(cafile=endpoints["ca_bundle"])
        )
        assert keep_alive.get(f"{endpoints['admin_url']}/clock").status_code == 200
    finally:
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
        stopped_after = time.monotonic() - stopping

    output = "".join(lines)
    assert str(tmp_path / "endpoints.json") in output
    assert str(tmp_path / "tdemesh.toml") in output
    endpoints = json.loads((tmp_path / "endpoints.json").read_text())
    assert endpoints["ca_bundle"] == str(tmp_path / "ca.pem")
    config = tomllib.loads((tmp_path / "tdemesh.toml").read_text())
    mesh = config["meshes"]["sim"]
    assert config["default_mesh"] == "sim"
    assert mesh["endpoints_file"] == str(tmp_path / "endpoints.json")
    assert mesh["failover_group"] == "fog-tde"
    assert mesh["regions"]["eastus2"]["private_endpoints"] == {
        "kv-tde-eastus2": "pe-sqlmi-eastus2-kv-tde-eastus2",
        "kv-tde-centralus": "pe-sqlmi-eastus2-kv-tde-centralus",
    }
    assert mesh["regions"]["centralus"]["vault"] == "kv-tde-centralus"
    assert process.returncode == 0
    assert "stopped" in rest
    assert stopped_after < 5, "an idle keep-alive connection held the process"
    keep_alive.close()


def test_sim_serve_names_the_scenarios_when_given_an_unknown_one(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-c", "from tdemesh.cli import main; main()"]
    result = subprocess.run(
        [*command, "sim", "serve", "--scenario", "bogus", "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "greenfield" in result.stderr and "protected" in result.stderr

    help_text = subprocess.run(
        [*command, "sim", "serve", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "--time-scale" in help_text.stdout


def test_tokens_survive_speeding_up_the_clock(simulator: SimProcess, sdk: Sdk) -> None:
    simulator.set_clock(scale=1)
    client = sdk.key_client(VAULT, sdk.credential())  # a token issued at scale 1
    client.get_key("tde-protector")
    simulator.set_clock(scale=7200)  # its hour passes in half a real second

    time.sleep(1.0)
    assert client.get_key("tde-protector").name == "tde-protector"


def test_sim_serve_refuses_a_state_dir_in_use(sim: SimProcess) -> None:
    command = [sys.executable, "-c", "from tdemesh.cli import main; main()"]
    result = subprocess.run(
        [*command, "sim", "serve", "--state-dir", str(sim.state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"pid {sim.process.pid}" in result.stderr
    assert sim.clock()["now"]  # the running simulator is untouched


def test_a_management_client_with_a_foreign_token_is_refused(sdk: Sdk) -> None:
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError

    class Foreign:
        def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
            return AccessToken("forged", int(time.time()) + 3600)

    with pytest.raises(ClientAuthenticationError) as caught:
        sdk.sql(Foreign()).managed_instances.get("rg-tde-eastus2", "sqlmi-tde-eastus2")
    assert caught.value.status_code == 401
    assert sdk.sql().managed_instances.get("rg-tde-eastus2", "sqlmi-tde-eastus2")


def test_a_token_works_only_for_the_resource_it_was_issued_for(
    simulator: SimProcess, sdk: Sdk
) -> None:
    vault_token = sdk.credential().get_token("https://vault.azure.net/.default").token
    arm_token = (
        sdk.credential().get_token("https://management.azure.com/.default").token
    )
    endpoints = simulator.endpoints
    arm_url = (
        f"{endpoints.arm_url}/subscriptions/{endpoints.subscription_id}"
        "/resourceGroups/rg-tde-eastus2/providers/Microsoft.Sql/managedInstances"
        "/sqlmi-tde-eastus2?api-version=2025-01-01"
    )
    vault_url = f"{endpoints.vaults[VAULT]}/keys?api-version=2025-07-01"
    with http(simulator) as client:
        arm_with_vault_token = client.get(
            arm_url, headers={"Authorization": f"Bearer {vault_token}"}
        )
        vault_with_arm_token = client.get(
            vault_url, headers={"Authorization": f"Bearer {arm_token}"}
        )
        vault_with_vault_token = client.get(
            vault_url, headers={"Authorization": f"Bearer {vault_token}"}
        )

    assert arm_with_vault_token.status_code == 401
    error = arm_with_vault_token.json()["error"]
    assert error["code"] == "InvalidAuthenticationTokenAudience"
    assert vault_with_arm_token.status_code == 401
    assert "AKV10022" in vault_with_arm_token.json()["error"]["message"]
    assert vault_with_vault_token.status_code == 200


def test_endpoints_advertise_only_the_vaults_that_exist(simulator: SimProcess) -> None:
    created = simulator.put_vault("kv-sim-transient")
    assert simulator.endpoints.vaults["kv-sim-transient"] == created["url"]

    simulator.reset("protected")
    assert "kv-sim-transient" not in simulator.endpoints.vaults

    again = simulator.put_vault("kv-sim-transient")
    assert again["url"] == created["url"]  # the listener kept its port
    assert simulator.endpoints.vaults["kv-sim-transient"] == created["url"]
