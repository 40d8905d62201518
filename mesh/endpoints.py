"""Where Azure is: the one value every SDK client of tdemesh is built from.

A real subscription and the simulator differ only here. For a public or
sovereign cloud the endpoints are the cloud's well-known hosts and the
credential is `DefaultAzureCredential`; for the simulator they are loopback
URLs read from the `endpoints.json` it writes, with its CA bundle and a
client secret for its token endpoint. Nothing else in `mesh` asks which one
it is talking to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

Cloud = Literal["AzureCloud", "AzureUSGovernment", "AzureChinaCloud", "Simulator"]
CLOUDS: tuple[Cloud, ...] = (
    "AzureCloud",
    "AzureUSGovernment",
    "AzureChinaCloud",
    "Simulator",
)


@dataclass(frozen=True)
class CloudHosts:
    arm_url: str
    authority: str
    vault_suffix: str  # a vault's data-plane host is <name><suffix>


PUBLIC_CLOUDS: dict[str, CloudHosts] = {
    "AzureCloud": CloudHosts(
        "https://management.azure.com",
        "https://login.microsoftonline.com",
        ".vault.azure.net",
    ),
    "AzureUSGovernment": CloudHosts(
        "https://management.usgovcloudapi.net",
        "https://login.microsoftonline.us",
        ".vault.usgovcloudapi.net",
    ),
    "AzureChinaCloud": CloudHosts(
        "https://management.chinacloudapi.cn",
        "https://login.chinacloudapi.cn",
        ".vault.azure.cn",
    ),
}


class EndpointsError(Exception):
    """The endpoints file is missing or malformed; says which and the fix."""


@dataclass(frozen=True)
class Endpoints:
    """Cloud endpoints and how to authenticate against them."""

    cloud: Cloud
    tenant_id: str
    subscription_id: str
    arm_url: str
    authority: str
    vault_suffix: str = ""
    # Vault name -> data-plane URL; for the simulator every vault has a port.
    vault_urls: Mapping[str, str] = field(default_factory=dict)
    ca_bundle: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    admin_url: str | None = None
    pid: int | None = None

    @property
    def is_simulator(self) -> bool:
        return self.cloud == "Simulator"

    @property
    def arm_scope(self) -> str:
        if self.is_simulator:
            return "https://management.azure.com/.default"
        return self.arm_url.rstrip("/") + "/.default"

    def vault_url(self, vault: str) -> str:
        """The data-plane URL of a vault, `https://host[:port]`, no path."""
        if vault in self.vault_urls:
            return self.vault_urls[vault].rstrip("/")
        if self.is_simulator:
            raise EndpointsError(
                f"the simulator's endpoints file names no vault {vault!r} "
                f"(it knows {', '.join(sorted(self.vault_urls)) or 'none'}); "
                "fix: point the mesh at a vault of the simulator's scenario"
            )
        return f"https://{vault.lower()}{self.vault_suffix}"

    def vault_name_of(self, url: str) -> str | None:
        """Which vault a URL (a key id, a vault URI) belongs to, if known."""
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
        for name, vault_url in self.vault_urls.items():
            known = urlsplit(vault_url)
            if (known.hostname or "").lower() == host and (known.port or 443) == (
                port or 443
            ):
                return name
        if self.vault_suffix and host.endswith(self.vault_suffix):
            return host[: -len(self.vault_suffix)]
        return None


def for_cloud(cloud: Cloud, tenant_id: str, subscription_id: str) -> Endpoints:
    """The endpoints of a public or sovereign cloud."""
    if cloud not in PUBLIC_CLOUDS:
        raise EndpointsError(
            f"{cloud!r} is not a public cloud; fix: use one of "
            f"{', '.join(PUBLIC_CLOUDS)}, or the simulator's endpoints file"
        )
    hosts = PUBLIC_CLOUDS[cloud]
    return Endpoints(
        cloud=cloud,
        tenant_id=tenant_id,
        subscription_id=subscription_id,
        arm_url=hosts.arm_url,
        authority=hosts.authority,
        vault_suffix=hosts.vault_suffix,
    )


_REQUIRED = (
    "authority",
    "tenant_id",
    "client_id",
    "client_secret",
    "subscription_id",
    "arm_url",
    "vaults",
    "ca_bundle",
)


def load_endpoints_file(path: Path) -> Endpoints:
    """Read the simulator's `endpoints.json` (TEAM.md's shared contract)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise EndpointsError(
            f"{path}: no such endpoints file; fix: start the simulator "
            "(`tdemesh sim serve`) or correct `endpoints_file` in the config"
        ) from error
    except (OSError, ValueError) as error:
        raise EndpointsError(
            f"{path}: not a readable JSON endpoints file ({error}); fix: restart "
            "the simulator so it writes the file again"
        ) from error
    if not isinstance(data, dict):
        raise EndpointsError(f"{path}: expected a JSON object; fix: restart it")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise EndpointsError(
            f"{path}: missing {', '.join(missing)}; fix: restart the simulator "
            "so it writes a complete endpoints file"
        )
    vaults = data["vaults"]
    if not isinstance(vaults, dict):
        raise EndpointsError(f"{path}: `vaults` must map vault names to URLs")
    pid = data.get("pid")
    return Endpoints(
        cloud="Simulator",
        tenant_id=str(data["tenant_id"]),
        subscription_id=str(data["subscription_id"]),
        arm_url=str(data["arm_url"]).rstrip("/"),
        authority=str(data["authority"]).rstrip("/"),
        vault_urls={str(k): str(v).rstrip("/") for k, v in vaults.items()},
        ca_bundle=str(data["ca_bundle"]),
        client_id=str(data["client_id"]),
        client_secret=str(data["client_secret"]),
        admin_url=str(data["admin_url"]).rstrip("/") if "admin_url" in data else None,
        pid=int(pid) if isinstance(pid, int) else None,
    )
