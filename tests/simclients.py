"""Real Azure SDK clients pointed at the simulator, with exactly the settings
the product uses for it (TEAM.md): the CA bundle, `retry_total=0`,
`verify_challenge_resource=False` for Key Vault, and the simulator's token
authority."""

from __future__ import annotations

from typing import Any

from azure.identity import ClientSecretCredential
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.keys.crypto import CryptographyClient

from azuresim.process import SimEndpoints, SimProcess


class Sdk:
    """Real Azure SDK clients pointed at the simulator, retries off."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim

    @property
    def endpoints(self) -> SimEndpoints:
        """Re-read each time: a vault created during a test has a listener."""
        return self.sim.endpoints

    @property
    def common(self) -> dict[str, Any]:
        return {"connection_verify": self.endpoints.ca_bundle, "retry_total": 0}

    def credential(
        self, client_id: str | None = None, secret: str | None = None
    ) -> ClientSecretCredential:
        return ClientSecretCredential(
            self.endpoints.tenant_id,
            client_id or self.endpoints.client_id,
            secret or self.endpoints.client_secret,
            authority=self.endpoints.authority,
            disable_instance_discovery=True,
            connection_verify=self.endpoints.ca_bundle,
        )

    def key_client(self, vault: str, credential: Any = None) -> KeyClient:
        return KeyClient(
            self.endpoints.vaults[vault],
            credential or self.credential(),
            verify_challenge_resource=False,
            **self.common,
        )

    def crypto_client(
        self, key: KeyVaultKey | str, credential: Any = None
    ) -> CryptographyClient:
        return CryptographyClient(
            key,
            credential or self.credential(),
            verify_challenge_resource=False,
            **self.common,
        )

    def sql(self, credential: Any = None) -> Any:
        from azure.mgmt.sql import SqlManagementClient

        return SqlManagementClient(
            credential or self.credential(),
            self.endpoints.subscription_id,
            base_url=self.endpoints.arm_url,
            polling_interval=0.2,
            **self.common,
        )

    def network(self, credential: Any = None) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(
            credential or self.credential(),
            self.endpoints.subscription_id,
            base_url=self.endpoints.arm_url,
            polling_interval=0.2,
            **self.common,
        )

    def keyvault_mgmt(self, credential: Any = None) -> Any:
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return KeyVaultManagementClient(
            credential or self.credential(),
            self.endpoints.subscription_id,
            base_url=self.endpoints.arm_url,
            polling_interval=0.2,
            **self.common,
        )

    def authorization(self, credential: Any = None) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(
            credential or self.credential(),
            self.endpoints.subscription_id,
            base_url=self.endpoints.arm_url,
            **self.common,
        )
