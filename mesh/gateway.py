"""The Azure gateway: every SDK call tdemesh makes, through one door.

Every client is built from one `Endpoints` value (the same code path for
Azure and the simulator, DESIGN.md). Every call goes through `_call`, which
retries transient faults (mesh.retry), logs one line with the operation and
the resource, counts the call, hands every answer's headers to the
response listeners (the probe reads Azure's clock from `Date`), and turns
a 4xx into a `GatewayError` that says what is missing and the fix
(mesh.explain). Long-running operations resume from their continuation token
when a transient fault hits the polling.

ARM reads return the resource's JSON as Azure sends it (camelCase), so the
probe and the runbooks read one shape whatever the SDK's model style; Key
Vault calls return `KeyVersion` facts.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.polling import LROPoller
from azure.keyvault.keys import JsonWebKey, KeyClient, KeyRotationPolicy
from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm

from mesh.endpoints import Endpoints
from mesh.errors import AzureUnavailable, GatewayError, NotAuthenticated
from mesh.explain import explain
from mesh.facts import key_version_from
from mesh.retry import (
    Observer,
    RetryPolicy,
    call_with_retries,
    detail_of,
    is_transient,
    reason_of,
    status_of,
)
from mesh.snapshot import KeyVersion

T = TypeVar("T")
log = logging.getLogger("tdemesh.gateway")

SIMULATOR_POLLING_SECONDS = 0.25
CONNECTION_TIMEOUT = 10
READ_TIMEOUT = 60
HTTP_POOL_SIZE = 32
ROLE_DEFINITION = (
    "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
)


HTTP_SETTINGS_VARIABLES = frozenset(
    {
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "requests_ca_bundle",
        "curl_ca_bundle",
        "netrc",
    }
)


def environment_has_http_settings() -> bool:
    """Whether any variable requests reads per request (proxies, CA bundle,
    netrc file) is set, in any case."""
    return any(name.lower() in HTTP_SETTINGS_VARIABLES for name in os.environ)


def azure_date(headers: Mapping[str, str]) -> datetime | None:
    """Azure's clock when it answered: the HTTP `Date` header (RFC 7231),
    None when the answer has none or it cannot be read."""
    date = headers.get("Date")
    if not date:
        return None
    try:
        moment = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, with no zone claimed
        moment = moment.replace(tzinfo=UTC)
    return moment


def wire(model: Any) -> dict[str, Any]:
    """An SDK model as the JSON Azure sent (camelCase keys)."""
    if model is None:
        return {}
    if isinstance(model, dict):
        return model
    serialize = getattr(model, "serialize", None)
    if callable(serialize):  # msrest-style models (authorization)
        result: dict[str, Any] = serialize(keep_readonly=True)
        return result
    as_dict = getattr(model, "as_dict", None)
    if callable(as_dict):  # TypeSpec-style models (sql, network, keyvault)
        result = as_dict(exclude_readonly=False)
        return result
    return dict(model)


class Gateway:
    """SDK clients for one mesh, and every operation tdemesh performs."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        credential: TokenCredential | None = None,
        observer: Observer | None = None,
        retry: RetryPolicy | None = None,
        polling_interval: float | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.observer = observer
        self.retry = retry or RetryPolicy()
        self._credential = credential
        self._owns_credential = credential is None
        self._polling = polling_interval or (
            SIMULATOR_POLLING_SECONDS if endpoints.is_simulator else None
        )
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._http: Any = None
        self._listeners: list[Callable[[Mapping[str, str]], None]] = []
        self.calls = 0

    # ------------------------------------------------------------------
    # Clients

    @property
    def credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                self._credential = self._build_credential()
            return self._credential

    def _build_credential(self) -> TokenCredential:
        endpoints = self.endpoints
        if endpoints.is_simulator:
            from azure.identity import ClientSecretCredential

            return ClientSecretCredential(
                endpoints.tenant_id,
                endpoints.client_id or "",
                endpoints.client_secret or "",
                authority=endpoints.authority,
                disable_instance_discovery=True,
                connection_verify=endpoints.ca_bundle,
            )
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(authority=endpoints.authority)

    def _common(self) -> dict[str, Any]:
        """Settings every client shares: no azure-core retries, our hook, and
        one HTTP session whose pool is as wide as the probe's thread pool."""
        from azure.core.pipeline.transport import RequestsTransport

        connection: dict[str, Any] = {
            "connection_timeout": CONNECTION_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
        }
        if self.endpoints.ca_bundle:
            connection["connection_verify"] = self.endpoints.ca_bundle
        transport = RequestsTransport(
            session=self._session(), session_owner=False, **connection
        )
        return {
            "retry_total": 0,
            "raw_response_hook": self._on_response,
            "transport": transport,
            **connection,
        }

    def _session(self) -> Any:
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry

        with self._lock:
            if self._http is None:
                session = requests.Session()
                adapter = HTTPAdapter(
                    pool_connections=8,
                    pool_maxsize=HTTP_POOL_SIZE,
                    max_retries=Retry(
                        total=False, redirect=False, raise_on_status=False
                    ),
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                # requests re-reads the environment on every request (proxy
                # variables, CA bundle variables, ~/.netrc): ~0.3 ms of CPU a
                # call. Read it once here; where none is set there is nothing
                # to honour, so it need not be read again.
                session.trust_env = environment_has_http_settings()
                self._http = session
            return self._http

    def _mgmt(self, kind: str, factory: Callable[..., Any], **extra: Any) -> Any:
        with self._lock:
            client = self._clients.get(kind)
        if client is not None:
            return client
        settings = self._common() | extra
        if not self.endpoints.is_simulator:
            settings["credential_scopes"] = [self.endpoints.arm_scope]
        client = factory(
            self.credential,
            self.endpoints.subscription_id,
            base_url=self.endpoints.arm_url,
            **settings,
        )
        with self._lock:
            return self._clients.setdefault(kind, client)

    def _lro_settings(self) -> dict[str, Any]:
        return {"polling_interval": self._polling} if self._polling else {}

    @property
    def sql(self) -> Any:
        from azure.mgmt.sql import SqlManagementClient

        return self._mgmt("sql", SqlManagementClient, **self._lro_settings())

    @property
    def network(self) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return self._mgmt("network", NetworkManagementClient, **self._lro_settings())

    @property
    def vaults_mgmt(self) -> Any:
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return self._mgmt("keyvault", KeyVaultManagementClient, **self._lro_settings())

    @property
    def authorization(self) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return self._mgmt("authorization", AuthorizationManagementClient)

    def key_client(self, vault: str) -> KeyClient:
        kind = f"vault:{vault.lower()}"
        with self._lock:
            client = self._clients.get(kind)
        if client is not None:
            return client  # type: ignore[no-any-return]
        settings = self._common()
        if self.endpoints.is_simulator:
            settings["verify_challenge_resource"] = False
        client = KeyClient(self.endpoints.vault_url(vault), self.credential, **settings)
        with self._lock:
            return self._clients.setdefault(kind, client)  # type: ignore[no-any-return]

    def crypto_client(self, key_id: str) -> CryptographyClient:
        settings = self._common()
        if self.endpoints.is_simulator:
            settings["verify_challenge_resource"] = False
        return CryptographyClient(key_id, self.credential, **settings)

    def add_response_listener(
        self, listener: Callable[[Mapping[str, str]], None]
    ) -> None:
        """Call `listener(headers)` for every answer Azure gives (in the thread
        that made the call), e.g. to note x-ms-request-id in a journal."""
        with self._lock:
            self._listeners.append(listener)

    def remove_response_listener(
        self, listener: Callable[[Mapping[str, str]], None]
    ) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _on_response(self, response: Any) -> None:
        http = getattr(response, "http_response", None)
        headers = getattr(http, "headers", None)
        if not headers:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(headers)
            except Exception:  # noqa: BLE001 - a listener never breaks a call
                log.debug("a response listener failed", exc_info=True)

    def _arm_get(
        self, operation: str, resource: str, get: Callable[..., Iterable[bytes]]
    ) -> dict[str, Any]:
        """One ARM GET, as the JSON Azure sent.

        `get(stream=True)` makes the same request through the same pipeline
        but hands back the body instead of an SDK model, which `wire` would
        only turn back into that JSON: the round trip costs 1-2 ms of CPU a
        read, and a probe makes fifteen of them at once."""

        def fetch() -> dict[str, Any]:
            body = b"".join(get(stream=True))
            result: dict[str, Any] = json.loads(body) if body else {}
            return result

        return self._call(operation, resource, fetch)

    # ------------------------------------------------------------------
    # The door

    def _call(
        self,
        operation: str,
        resource: str,
        fn: Callable[[], T],
        *,
        level: int = logging.INFO,
    ) -> T:
        """fn() with retries, one log line, and Azure's errors explained."""

        def attempt() -> T:
            with self._lock:
                self.calls += 1
            return fn()

        started = time.monotonic()
        try:
            result = call_with_retries(
                operation, resource, attempt, self.retry, self.observer
            )
        except BaseException as error:
            elapsed = time.monotonic() - started
            log.info(
                "%s %s failed after %.2fs: %s [%s]",
                operation,
                resource,
                elapsed,
                reason_of(error),
                detail_of(error),
            )
            raise self._translate(operation, resource, error) from error
        elapsed = time.monotonic() - started
        log.log(level, "%s %s ok %.2fs", operation, resource, elapsed)
        return result

    def _lro(
        self, operation: str, resource: str, begin: Callable[..., LROPoller[Any]]
    ) -> Any:
        """Start a long-running operation and wait for it; a transient fault
        while polling resumes from the poller's continuation token."""
        poller = self._call(operation, resource, begin, level=logging.DEBUG)
        holder = [poller]

        def wait() -> Any:
            try:
                return holder[0].result()
            except BaseException as error:
                if is_transient(error):
                    token = holder[0].continuation_token()
                    holder[0] = begin(continuation_token=token)
                raise

        return self._call(f"{operation} (polling)", resource, wait)

    def _translate(
        self, operation: str, resource: str, error: BaseException
    ) -> BaseException:
        if isinstance(error, GatewayError):
            return error
        if isinstance(error, ClientAuthenticationError) and status_of(error) is None:
            return NotAuthenticated(
                f"{operation}: no token could be obtained ({reason_of(error)})",
                resource,
                "sign in (az login) or set AZURE_CLIENT_ID/AZURE_TENANT_ID/"
                "AZURE_CLIENT_SECRET; for the simulator, restart it",
                operation=operation,
            )
        if is_transient(error) or isinstance(
            error, ServiceRequestError | ServiceResponseError
        ):
            return AzureUnavailable(
                f"{operation}: Azure did not answer after {self.retry.attempts} "
                f"attempts ({reason_of(error)})",
                resource,
                "check connectivity to Azure and the service's health, then retry",
                operation=operation,
                status=status_of(error),
            )
        if isinstance(error, HttpResponseError):
            code = getattr(error.error, "code", None) if error.error else None
            inner = _inner_code(error)
            message = getattr(error.error, "message", None) or str(error.message)
            return explain(
                operation,
                resource,
                error.status_code,
                inner or code,
                str(message).splitlines()[0][:300],
            )
        return error

    # ------------------------------------------------------------------
    # SQL Managed Instance: reads

    def get_instance(self, rg: str, instance: str) -> dict[str, Any]:
        return self._arm_get(
            "sql.managed_instances.get",
            instance,
            lambda **raw: self.sql.managed_instances.get(rg, instance, **raw),
        )

    def list_instances(self, rg: str | None = None) -> list[dict[str, Any]]:
        def fetch() -> list[Any]:
            operations = self.sql.managed_instances
            pages = operations.list_by_resource_group(rg) if rg else operations.list()
            return list(pages)

        return [
            wire(m) for m in self._call("sql.managed_instances.list", rg or "*", fetch)
        ]

    def get_protector(self, rg: str, instance: str) -> dict[str, Any]:
        return self._arm_get(
            "sql.encryption_protectors.get",
            instance,
            lambda **raw: self.sql.managed_instance_encryption_protectors.get(
                rg, instance, "current", **raw
            ),
        )

    def list_instance_keys(self, rg: str, instance: str) -> list[dict[str, Any]]:
        return [
            wire(k)
            for k in self._call(
                "sql.instance_keys.list",
                instance,
                lambda: list(
                    self.sql.managed_instance_keys.list_by_instance(rg, instance)
                ),
            )
        ]

    def list_databases(self, rg: str, instance: str) -> list[dict[str, Any]]:
        return [
            wire(d)
            for d in self._call(
                "sql.databases.list",
                instance,
                lambda: list(self.sql.managed_databases.list_by_instance(rg, instance)),
            )
        ]

    def get_failover_group(self, rg: str, location: str, name: str) -> dict[str, Any]:
        return self._arm_get(
            "sql.failover_groups.get",
            name,
            lambda **raw: self.sql.instance_failover_groups.get(
                rg, location, name, **raw
            ),
        )

    def list_failover_groups(self, rg: str, location: str) -> list[dict[str, Any]]:
        return [
            wire(g)
            for g in self._call(
                "sql.failover_groups.list",
                f"{rg}/{location}",
                lambda: list(
                    self.sql.instance_failover_groups.list_by_location(rg, location)
                ),
            )
        ]

    # ------------------------------------------------------------------
    # SQL Managed Instance: changes

    def register_instance_key(self, rg: str, instance: str, uri: str) -> dict[str, Any]:
        """Register a vault key on an instance (name `{vault}_{key}_{version}`)."""
        name = self.server_key_name(uri)
        body = {"properties": {"serverKeyType": "AzureKeyVault", "uri": uri}}
        return wire(
            self._lro(
                "sql.instance_keys.create",
                f"{instance}/keys/{name}",
                lambda **kw: self.sql.managed_instance_keys.begin_create_or_update(
                    rg, instance, name, body, **kw
                ),
            )
        )

    def unregister_instance_key(self, rg: str, instance: str, name: str) -> None:
        self._lro(
            "sql.instance_keys.delete",
            f"{instance}/keys/{name}",
            lambda **kw: self.sql.managed_instance_keys.begin_delete(
                rg, instance, name, **kw
            ),
        )

    def set_protector(
        self,
        rg: str,
        instance: str,
        server_key_name: str,
        *,
        auto_rotation: bool = False,
    ) -> dict[str, Any]:
        """Make a registered key the protector (or "ServiceManaged")."""
        managed = server_key_name == "ServiceManaged"
        body = {
            "properties": {
                "serverKeyType": "ServiceManaged" if managed else "AzureKeyVault",
                "serverKeyName": server_key_name,
                "autoRotationEnabled": auto_rotation and not managed,
            }
        }
        return wire(
            self._lro(
                "sql.encryption_protectors.set",
                f"{instance}/encryptionProtector/current",
                lambda **kw: (
                    self.sql.managed_instance_encryption_protectors.begin_create_or_update(
                        rg, instance, "current", body, **kw
                    )
                ),
            )
        )

    def revalidate_protector(self, rg: str, instance: str) -> None:
        self._lro(
            "sql.encryption_protectors.revalidate",
            f"{instance}/encryptionProtector/current",
            lambda **kw: (
                self.sql.managed_instance_encryption_protectors.begin_revalidate(
                    rg, instance, "current", **kw
                )
            ),
        )

    def set_instance_identity(
        self, rg: str, instance: str, identity_type: str = "SystemAssigned"
    ) -> dict[str, Any]:
        body = {"identity": {"type": identity_type}}
        return wire(
            self._lro(
                "sql.managed_instances.update_identity",
                instance,
                lambda **kw: self.sql.managed_instances.begin_update(
                    rg, instance, body, **kw
                ),
            )
        )

    def failover(
        self, rg: str, location: str, name: str, *, allow_data_loss: bool = False
    ) -> dict[str, Any]:
        """Fail the group over to the instance in `location` (the secondary)."""
        groups = self.sql.instance_failover_groups
        begin = (
            groups.begin_force_failover_allow_data_loss
            if allow_data_loss
            else groups.begin_failover
        )
        operation = (
            "sql.failover_groups.force_failover"
            if allow_data_loss
            else "sql.failover_groups.failover"
        )
        return wire(
            self._lro(
                operation,
                f"{name} -> {location}",
                lambda **kw: begin(rg, location, name, **kw),
            )
        )

    def server_key_name(self, uri: str) -> str:
        """`{vault}_{key}_{version}` for a versioned key URI; the vault name
        comes from the endpoints (a simulator host has no vault label)."""
        from mesh.keyuri import parse_key_uri, server_key_name

        parsed = parse_key_uri(uri)
        vault = (
            self.endpoints.vault_name_of(parsed.vault_url) or parsed.host.split(".")[0]
        )
        if parsed.version is None:
            raise GatewayError(
                f"{uri} has no version; Managed Instance needs a versioned key URI",
                uri,
                "use the key identifier of a specific version",
                operation="sql.instance_keys.create",
            )
        return server_key_name(vault, parsed.name, parsed.version)

    # ------------------------------------------------------------------
    # Key Vault: management plane

    def get_vault(self, rg: str, vault: str) -> dict[str, Any]:
        return self._arm_get(
            "vaults.get",
            vault,
            lambda **raw: self.vaults_mgmt.vaults.get(rg, vault, **raw),
        )

    def list_vaults(self, rg: str) -> list[dict[str, Any]]:
        return [
            wire(v)
            for v in self._call(
                "vaults.list",
                rg,
                lambda: list(self.vaults_mgmt.vaults.list_by_resource_group(rg)),
            )
        ]

    def update_vault(
        self, rg: str, vault: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        """PATCH vault properties, e.g. {"enablePurgeProtection": True}."""
        return wire(
            self._call(
                "vaults.update",
                vault,
                lambda: self.vaults_mgmt.vaults.update(
                    rg, vault, {"properties": properties}
                ),
            )
        )

    def set_access_policy(
        self,
        rg: str,
        vault: str,
        object_id: str,
        key_permissions: list[str],
        *,
        operation_kind: str = "add",
    ) -> dict[str, Any]:
        body = {
            "properties": {
                "accessPolicies": [
                    {
                        "tenantId": self.endpoints.tenant_id,
                        "objectId": object_id,
                        "permissions": {"keys": key_permissions},
                    }
                ]
            }
        }
        return wire(
            self._call(
                f"vaults.access_policy.{operation_kind}",
                f"{vault} for {object_id}",
                lambda: self.vaults_mgmt.vaults.update_access_policy(
                    rg, vault, operation_kind, body
                ),
            )
        )

    def approve_endpoint_connection(
        self, rg: str, vault: str, connection: str, description: str = "Approved"
    ) -> dict[str, Any]:
        body = {
            "properties": {
                "privateLinkServiceConnectionState": {
                    "status": "Approved",
                    "description": description,
                    "actionsRequired": "None",
                }
            }
        }
        return wire(
            self._call(
                "vaults.endpoint_connections.approve",
                f"{vault}/{connection}",
                lambda: self.vaults_mgmt.private_endpoint_connections.put(
                    rg, vault, connection, body
                ),
            )
        )

    # ------------------------------------------------------------------
    # Authorization

    def list_role_assignments(self, scope: str) -> list[dict[str, Any]]:
        return [
            wire(a)
            for a in self._call(
                "role_assignments.list",
                scope,
                lambda: list(
                    self.authorization.role_assignments.list_for_scope(
                        scope, filter="atScope()"
                    )
                ),
            )
        ]

    def create_role_assignment(
        self, scope: str, name: str, role: str, principal_id: str
    ) -> dict[str, Any]:
        """Assign a built-in role (by GUID) to a principal at `scope`."""
        body = {
            "properties": {
                "roleDefinitionId": ROLE_DEFINITION.format(
                    sub=self.endpoints.subscription_id, role=role
                ),
                "principalId": principal_id,
                "principalType": "ServicePrincipal",
            }
        }
        return wire(
            self._call(
                "role_assignments.create",
                f"{scope} for {principal_id}",
                lambda: self.authorization.role_assignments.create(scope, name, body),
            )
        )

    def delete_role_assignment(self, scope: str, name: str) -> None:
        self._call(
            "role_assignments.delete",
            f"{scope}/{name}",
            lambda: self.authorization.role_assignments.delete(scope, name),
        )

    # ------------------------------------------------------------------
    # Network

    def get_private_endpoint(self, rg: str, name: str) -> dict[str, Any]:
        return self._arm_get(
            "network.private_endpoints.get",
            name,
            lambda **raw: self.network.private_endpoints.get(rg, name, **raw),
        )

    def list_private_endpoints(self, rg: str) -> list[dict[str, Any]]:
        return [
            wire(e)
            for e in self._call(
                "network.private_endpoints.list",
                rg,
                lambda: list(self.network.private_endpoints.list(rg)),
            )
        ]

    def get_network_security_group(self, rg: str, name: str) -> dict[str, Any]:
        return self._arm_get(
            "network.security_groups.get",
            name,
            lambda **raw: self.network.network_security_groups.get(rg, name, **raw),
        )

    def get_subnet(self, subnet_id: str) -> dict[str, Any]:
        """A subnet by its resource id (its address range, its NSG)."""
        parts = subnet_id.strip("/").split("/")
        rg, vnet, subnet = parts[3], parts[7], parts[9]
        return self._arm_get(
            "network.subnets.get",
            subnet_id,
            lambda **raw: self.network.subnets.get(rg, vnet, subnet, **raw),
        )

    def list_network_security_groups(self, rg: str) -> list[dict[str, Any]]:
        return [
            wire(g)
            for g in self._call(
                "network.security_groups.list",
                rg,
                lambda: list(self.network.network_security_groups.list(rg)),
            )
        ]

    def create_security_rule(
        self, rg: str, nsg: str, rule: str, properties: dict[str, Any]
    ) -> dict[str, Any]:
        """Create or replace a rule, e.g. an outbound Deny on 443 to an address."""
        body = {"properties": properties}
        return wire(
            self._lro(
                "network.security_rules.create",
                f"{nsg}/{rule}",
                lambda **kw: self.network.security_rules.begin_create_or_update(
                    rg, nsg, rule, body, **kw
                ),
            )
        )

    def delete_security_rule(self, rg: str, nsg: str, rule: str) -> None:
        self._lro(
            "network.security_rules.delete",
            f"{nsg}/{rule}",
            lambda **kw: self.network.security_rules.begin_delete(rg, nsg, rule, **kw),
        )

    # ------------------------------------------------------------------
    # Key Vault: data plane

    def list_key_names(self, vault: str) -> list[str]:
        def fetch() -> list[str]:
            return [
                p.name
                for p in self.key_client(vault).list_properties_of_keys()
                if p.name
            ]

        return self._call("keys.list", vault, fetch)

    def list_key_versions(self, vault: str, name: str) -> list[KeyVersion]:
        """Every version's properties (no public key: thumbprint is None)."""

        def fetch() -> list[KeyVersion]:
            client = self.key_client(vault)
            return [
                key_version_from(vault, p)
                for p in client.list_properties_of_key_versions(name)
            ]

        return self._call("keys.list_versions", f"{vault}/{name}", fetch)

    def get_key(self, vault: str, name: str, version: str | None = None) -> KeyVersion:
        return self._call(
            "keys.get",
            f"{vault}/{name}/{version or 'latest'}",
            lambda: key_version_from(
                vault, self.key_client(vault).get_key(name, version)
            ),
        )

    def create_key(
        self,
        vault: str,
        name: str,
        *,
        size: int = 2048,
        hardware_protected: bool = False,
        expires_on: datetime | None = None,
    ) -> KeyVersion:
        return self._call(
            "keys.create",
            f"{vault}/{name}",
            lambda: key_version_from(
                vault,
                self.key_client(vault).create_rsa_key(
                    name,
                    size=size,
                    hardware_protected=hardware_protected,
                    expires_on=expires_on,
                ),
            ),
        )

    def import_key(
        self,
        vault: str,
        name: str,
        key: JsonWebKey,
        *,
        hardware_protected: bool = False,
    ) -> KeyVersion:
        """Import key material (a JWK with the private parts). Never logged."""
        return self._call(
            "keys.import",
            f"{vault}/{name}",
            lambda: key_version_from(
                vault,
                self.key_client(vault).import_key(
                    name, key, hardware_protected=hardware_protected
                ),
            ),
        )

    def backup_key(self, vault: str, name: str) -> bytes:
        return self._call(
            "keys.backup",
            f"{vault}/{name}",
            lambda: self.key_client(vault).backup_key(name),
        )

    def restore_key(self, vault: str, backup: bytes) -> KeyVersion:
        return self._call(
            "keys.restore",
            vault,
            lambda: key_version_from(
                vault, self.key_client(vault).restore_key_backup(backup)
            ),
        )

    def rotate_key(self, vault: str, name: str) -> KeyVersion:
        return self._call(
            "keys.rotate",
            f"{vault}/{name}",
            lambda: key_version_from(vault, self.key_client(vault).rotate_key(name)),
        )

    def update_key(
        self,
        vault: str,
        name: str,
        version: str | None = None,
        *,
        enabled: bool | None = None,
        expires_on: datetime | None = None,
        not_before: datetime | None = None,
    ) -> KeyVersion:
        changes: dict[str, Any] = {}
        if enabled is not None:
            changes["enabled"] = enabled
        if expires_on is not None:
            changes["expires_on"] = expires_on
        if not_before is not None:
            changes["not_before"] = not_before
        return self._call(
            "keys.update",
            f"{vault}/{name}/{version or 'latest'}",
            lambda: key_version_from(
                vault,
                self.key_client(vault).update_key_properties(name, version, **changes),
            ),
        )

    def get_rotation_policy(self, vault: str, name: str) -> KeyRotationPolicy:
        return self._call(
            "keys.get_rotation_policy",
            f"{vault}/{name}",
            lambda: self.key_client(vault).get_key_rotation_policy(name),
        )

    def set_rotation_policy(
        self, vault: str, name: str, policy: KeyRotationPolicy
    ) -> KeyRotationPolicy:
        return self._call(
            "keys.set_rotation_policy",
            f"{vault}/{name}",
            lambda: self.key_client(vault).update_key_rotation_policy(name, policy),
        )

    def unwrap_check(self, key_id: str) -> None:
        """Wrap a random value (locally) and unwrap it in the vault."""
        import os

        secret = os.urandom(32)
        with self.crypto_client(key_id) as crypto:
            wrapped = self._call(
                "keys.wrap",
                key_id,
                lambda: crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, secret),
            )
            result = self._call(
                "keys.unwrap",
                key_id,
                lambda: crypto.unwrap_key(
                    KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key
                ),
            )
        if result.key != secret:
            raise GatewayError(
                "unwrap returned a different value",
                key_id,
                "check the key's material",
                operation="keys.unwrap",
            )

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
            if self._owns_credential and self._credential is not None:
                clients.append(self._credential)
                self._credential = None
            if self._http is not None:
                clients.append(self._http)
                self._http = None
        for client in clients:
            closer = getattr(client, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing is best effort
                    log.debug("closing a client failed", exc_info=True)


def _inner_code(error: HttpResponseError) -> str | None:
    """Key Vault puts the specific reason in innererror.code."""
    odata = getattr(error, "error", None)
    inner = getattr(odata, "innererror", None)
    if isinstance(inner, dict):
        code = inner.get("code")
        return str(code) if code else None
    return None
