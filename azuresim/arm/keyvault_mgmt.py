"""Microsoft.KeyVault management plane: vaults, their access policies and
their private endpoint connections.

The protections TDE depends on behave as in Azure: soft delete cannot be
turned off, purge protection once enabled cannot be disabled, retention is
fixed at creation. A new vault answers `RegisteringDns` until its DNS
registration (an operation on the simulated clock) is done, as recorded.
Approving or rejecting an endpoint connection changes its status at once
and its provisioning state passes through `Updating`.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from azuresim import lro
from azuresim.arm.common import (
    body_of,
    check_resource_group,
    find_in_group,
    iso,
    listing,
    ok,
    properties_of,
    same,
    scoped_listing,
)
from azuresim.errors import ArmError
from azuresim.state import (
    AccessPolicy,
    Operation,
    PrivateEndpointConnection,
    Vault,
    World,
)

KV = "Microsoft.KeyVault"
_KV_OPERATION = "kv-operation"


def _etag(*parts: object) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, parts))).hex


class KeyVaultProvider:
    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------------
    # Rendering

    def provisioning(self, vault: Vault) -> str:
        operation = self.world.operations.get(f"registering-dns-{vault.name}")
        lro.settle(self.world)
        if operation is not None and operation.status == "InProgress":
            return "RegisteringDns"
        return "Succeeded"

    def render_connection(
        self, vault: Vault, connection: PrivateEndpointConnection, *, full: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"{vault.resource_id}/privateEndpointConnections/{connection.name}",
        }
        if full:
            body.update(
                {
                    "name": connection.name,
                    "type": f"{KV}/vaults/privateEndpointConnections",
                    "location": vault.location,
                }
            )
        body["etag"] = _etag(vault.resource_id, connection)
        body["properties"] = {
            "provisioningState": connection.provisioning_state,
            "privateEndpoint": {"id": connection.private_endpoint_id},
            "privateLinkServiceConnectionState": {
                "status": connection.status,
                "description": connection.description,
                "actionsRequired": "None",
            },
        }
        return body

    def render_vault(self, vault: Vault) -> dict[str, Any]:
        props: dict[str, Any] = {
            "sku": {"family": "A", "name": vault.sku},
            "tenantId": vault.tenant_id,
            "accessPolicies": [_render_policy(p) for p in vault.access_policies],
            "enabledForDeployment": vault.enabled_for_deployment,
            "enabledForDiskEncryption": vault.enabled_for_disk_encryption,
            "enabledForTemplateDeployment": vault.enabled_for_template_deployment,
            "enableSoftDelete": vault.enable_soft_delete,
            "softDeleteRetentionInDays": vault.soft_delete_retention_days,
            "enableRbacAuthorization": vault.enable_rbac_authorization,
            "vaultUri": f"{vault.url}/",
            "provisioningState": self.provisioning(vault),
            "publicNetworkAccess": vault.public_network_access,
            "networkAcls": {
                "bypass": vault.network_bypass,
                "defaultAction": vault.network_default_action,
                "ipRules": [{"value": rule} for rule in vault.ip_rules],
                "virtualNetworkRules": [
                    {"id": subnet, "ignoreMissingVnetServiceEndpoint": False}
                    for subnet in vault.virtual_network_rules
                ],
            },
            "privateEndpointConnections": [
                self.render_connection(vault, c, full=False)
                for c in vault.private_endpoint_connections
            ],
        }
        if vault.enable_purge_protection:
            props["enablePurgeProtection"] = True
        now = iso(self.world.clock.now())
        return {
            "id": vault.resource_id,
            "name": vault.name,
            "type": f"{KV}/vaults",
            "location": vault.location,
            "tags": dict(vault.tags),
            "systemData": {
                "createdBy": "tdemesh-operator",
                "createdByType": "Application",
                "createdAt": now,
                "lastModifiedBy": "tdemesh-operator",
                "lastModifiedByType": "Application",
                "lastModifiedAt": now,
            },
            "properties": props,
        }

    # ------------------------------------------------------------------
    # Vaults

    def vault(self, request: Request) -> Vault:
        return find_in_group(
            self.world, request, self.world.vaults, "vault", f"{KV}/vaults"
        )

    async def list_vaults(self, request: Request) -> Response:
        return scoped_listing(
            self.world, request, self.world.vaults.values(), self.render_vault
        )

    async def get_vault(self, request: Request) -> Response:
        return ok(self.render_vault(self.vault(request)))

    async def put_vault(self, request: Request) -> Response:
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        body = await body_of(request)
        props = properties_of(body)
        existing = self.world.vaults.get(params["vault"])
        if existing is not None:
            if not same(existing.resource_group, params["rg"]):
                raise ArmError(
                    409,
                    "VaultAlreadyExists",
                    f"The vault name '{existing.name}' is already in use.",
                )
            _apply(existing, props, creating=False)
            _apply_tags(existing, body)
            return ok(self.render_vault(existing))
        return ok(self.render_vault(self._create(params["vault"], params["rg"], body)))

    def _create(self, name: str, group: str, body: dict[str, Any]) -> Vault:
        props = properties_of(body)
        for required in ("tenantId", "sku"):
            if required not in props:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"The parameter properties.{required} is required.",
                )
        vault = Vault(
            name=name,
            resource_group=group,
            location=str(body.get("location") or "eastus2"),
            subscription_id=self.world.subscription_id,
            tenant_id=str(props["tenantId"]),
            enable_purge_protection=False,
            enable_rbac_authorization=False,
            public_network_access="Enabled",
            network_default_action="Allow",
        )
        _apply(vault, props, creating=True)
        _apply_tags(vault, body)
        if self.world.port_for is not None:
            vault.port = self.world.port_for(vault.name)
        self.world.vaults[vault.name] = vault
        operation = lro.start(self.world, "RegisteringDns", None)
        del self.world.operations[operation.id]
        operation.id = f"registering-dns-{vault.name}"
        self.world.operations[operation.id] = operation
        return vault

    async def patch_vault(self, request: Request) -> Response:
        vault = self.vault(request)
        body = await body_of(request)
        _apply(vault, properties_of(body), creating=False)
        _apply_tags(vault, body)
        return ok(self.render_vault(vault))

    async def update_access_policy(self, request: Request) -> Response:
        vault = self.vault(request)
        kind = request.path_params["kind"]
        if kind not in ("add", "replace", "remove"):
            raise ArmError(
                400,
                "BadRequest",
                f"Invalid access policy operation '{kind}'; use add, replace or "
                "remove.",
            )
        items = properties_of(await body_of(request)).get("accessPolicies") or []
        policies = [_policy_from(item, vault) for item in items]
        for policy in policies:
            _change_policy(vault, policy, kind)
        return ok(
            {
                "id": f"{vault.resource_id}/accessPolicies/{kind}",
                "type": f"{KV}/vaults/accessPolicies",
                "properties": {"accessPolicies": [_render_policy(p) for p in policies]},
            }
        )

    # ------------------------------------------------------------------
    # Private endpoint connections

    def connection(self, vault: Vault, name: str) -> PrivateEndpointConnection:
        for connection in vault.private_endpoint_connections:
            if connection.name == name:
                return connection
        raise ArmError(
            404,
            "PrivateEndpointConnectionNotFound",
            f"Private endpoint connection '{name}' of vault '{vault.name}' not found.",
        )

    async def list_connections(self, request: Request) -> Response:
        vault = self.vault(request)
        return listing(
            [
                self.render_connection(vault, c, full=True)
                for c in vault.private_endpoint_connections
            ]
        )

    async def get_connection(self, request: Request) -> Response:
        token = request.query_params.get(_KV_OPERATION)
        if token:
            return lro.location_response(self._operation_of(token))
        vault = self.vault(request)
        lro.settle(self.world)
        connection = self.connection(vault, request.path_params["pec"])
        return ok(self.render_connection(vault, connection, full=True))

    def _operation_of(self, token: str) -> Operation:
        try:
            padded = token + "=" * (-len(token) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded))
            operation_id = str(decoded["op"])
        except (ValueError, KeyError, TypeError) as error:
            raise ArmError(400, "BadRequest", "Invalid kv-operation token.") from error
        lro.settle(self.world)
        operation = self.world.operations.get(operation_id)
        if operation is None:
            raise ArmError(404, "ResourceNotFound", "The operation was not found.")
        return operation

    def _token(self, code: str, operation_id: str, etag: str) -> str:
        raw = json.dumps(
            {
                "code": code,
                "st": iso(self.world.clock.now()),
                "etag": etag,
                "op": operation_id,
            },
            separators=(",", ":"),
        ).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    async def put_connection(self, request: Request) -> Response:
        vault = self.vault(request)
        connection = self.connection(vault, request.path_params["pec"])
        props = properties_of(await body_of(request))
        state = props.get("privateLinkServiceConnectionState") or {}
        status = str(state.get("status") or connection.status)
        if status not in ("Approved", "Rejected", "Pending", "Disconnected"):
            raise ArmError(400, "BadRequest", f"Invalid connection status '{status}'.")
        if connection.status == "Rejected" and status == "Approved":
            raise ArmError(
                400,
                "PrivateEndpointConnectionRejected",
                f"Private endpoint connection '{connection.name}' was rejected; a "
                "rejected connection cannot be approved. Recreate the private "
                "endpoint.",
            )
        connection.status = status  # type: ignore[assignment]
        connection.description = str(state.get("description") or "")
        connection.provisioning_state = "Updating"

        def complete() -> dict[str, Any] | None:
            connection.provisioning_state = "Succeeded"
            return None

        operation = lro.start(self.world, "privateEndpointConnections/update", complete)
        body = self.render_connection(vault, connection, full=True)
        verb = "approve" if status == "Approved" else "reject"
        token = self._token(
            f"privateEndpointConnections/{verb}", operation.id, body["etag"]
        )
        url = (
            f"{lro.base(request)}{vault.resource_id}/privateEndpointConnections/"
            f"{connection.name}?api-version={lro.api_version(request, '2026-05-15')}"
            f"&{_KV_OPERATION}={token}"
        )
        response = ok(body)
        response.headers["Azure-AsyncOperation"] = url
        return response

    async def delete_connection(self, request: Request) -> Response:
        vault = self.vault(request)
        name = request.path_params["pec"]
        if not any(c.name == name for c in vault.private_endpoint_connections):
            return Response(status_code=204)
        connection = self.connection(vault, name)
        connection.provisioning_state = "Deleting"

        def complete() -> dict[str, Any] | None:
            vault.private_endpoint_connections = [
                c for c in vault.private_endpoint_connections if c.name != name
            ]
            connection.provisioning_state = "Succeeded"
            connection.status = "Disconnected"
            return self.render_connection(vault, connection, full=True)

        operation = lro.start(self.world, "privateEndpointConnections/delete", complete)
        token = self._token("privateEndpointConnections/delete", operation.id, "")
        url = (
            f"{lro.base(request)}{vault.resource_id}/privateEndpointConnections/{name}"
            f"?api-version={lro.api_version(request, '2026-05-15')}"
            f"&{_KV_OPERATION}={token}"
        )
        return Response(status_code=202, headers={"Location": url})


# --------------------------------------------------------------------------
# Vault properties


def _apply(vault: Vault, props: dict[str, Any], *, creating: bool) -> None:
    """Apply requested vault properties, refusing the irreversible changes."""
    if props.get("enableSoftDelete") is False and (
        creating or vault.enable_soft_delete
    ):
        raise ArmError(
            400,
            "BadRequest",
            'The property "enableSoftDelete" cannot be set to false. Soft delete '
            "is always on for new vaults and cannot be turned off.",
        )
    purge = props.get("enablePurgeProtection")
    if purge is False and vault.enable_purge_protection:
        raise ArmError(
            400,
            "BadRequest",
            'The property "enablePurgeProtection" cannot be set to false. Enabling '
            "the purge protection for a vault is an irreversible action.",
        )
    retention = props.get("softDeleteRetentionInDays")
    if retention is not None:
        days = int(retention)
        if not 7 <= days <= 90:
            raise ArmError(
                400,
                "BadRequest",
                "softDeleteRetentionInDays must be between 7 and 90.",
            )
        if not creating and days != vault.soft_delete_retention_days:
            raise ArmError(
                400,
                "BadRequest",
                "The soft delete retention period can only be set when the vault is "
                "created.",
            )
        vault.soft_delete_retention_days = days

    if purge is True:
        vault.enable_purge_protection = True
    if "enableRbacAuthorization" in props:
        vault.enable_rbac_authorization = bool(props["enableRbacAuthorization"])
    if "publicNetworkAccess" in props:
        vault.public_network_access = str(props["publicNetworkAccess"])
    for field, attribute in (
        ("enabledForDeployment", "enabled_for_deployment"),
        ("enabledForDiskEncryption", "enabled_for_disk_encryption"),
        ("enabledForTemplateDeployment", "enabled_for_template_deployment"),
    ):
        if field in props:
            setattr(vault, attribute, bool(props[field]))
    sku = props.get("sku")
    if isinstance(sku, dict) and sku.get("name"):
        vault.sku = str(sku["name"])
    acls = props.get("networkAcls")
    if isinstance(acls, dict):
        vault.network_bypass = str(acls.get("bypass") or vault.network_bypass)
        vault.network_default_action = str(
            acls.get("defaultAction") or vault.network_default_action
        )
        if "ipRules" in acls:
            vault.ip_rules = [str(r.get("value")) for r in acls["ipRules"] or []]
        if "virtualNetworkRules" in acls:
            vault.virtual_network_rules = [
                str(r.get("id")) for r in acls["virtualNetworkRules"] or []
            ]
    if "accessPolicies" in props:
        vault.access_policies = [
            _policy_from(item, vault) for item in props["accessPolicies"] or []
        ]


def _apply_tags(vault: Vault, body: dict[str, Any]) -> None:
    tags = body.get("tags")
    if isinstance(tags, dict):
        vault.tags = {str(k): str(v) for k, v in tags.items()}


def _policy_from(item: dict[str, Any], vault: Vault) -> AccessPolicy:
    permissions = item.get("permissions") or {}
    object_id = item.get("objectId")
    if not object_id:
        raise ArmError(400, "BadRequest", "An access policy needs an objectId.")
    return AccessPolicy(
        object_id=str(object_id),
        tenant_id=str(item.get("tenantId") or vault.tenant_id),
        key_permissions=[str(p) for p in permissions.get("keys") or []],
        application_id=item.get("applicationId"),
    )


def _render_policy(policy: AccessPolicy) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tenantId": policy.tenant_id,
        "objectId": policy.object_id,
        "permissions": {"keys": list(policy.key_permissions)},
    }
    if policy.application_id:
        body["applicationId"] = policy.application_id
    return body


def _change_policy(vault: Vault, change: AccessPolicy, kind: str) -> None:
    current = next(
        (
            p
            for p in vault.access_policies
            if p.object_id == change.object_id and p.tenant_id == change.tenant_id
        ),
        None,
    )
    if kind == "replace" or current is None:
        if current is not None:
            vault.access_policies.remove(current)
        if kind != "remove":
            vault.access_policies.append(change)
        return
    if kind == "add":
        known = {p.lower() for p in current.key_permissions}
        current.key_permissions += [
            p for p in change.key_permissions if p.lower() not in known
        ]
        return
    dropped = {p.lower() for p in change.key_permissions}
    current.key_permissions = [
        p for p in current.key_permissions if p.lower() not in dropped
    ]
    if not change.key_permissions or not current.key_permissions:
        vault.access_policies.remove(current)


def routes(world: World) -> list[BaseRoute]:
    kv = KeyVaultProvider(world)
    rg = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault"
    vault = rg + "/vaults/{vault}"
    pec = vault + "/privateEndpointConnections"
    return [
        Route(
            "/subscriptions/{sub}/providers/Microsoft.KeyVault/vaults",
            kv.list_vaults,
            methods=["GET"],
        ),
        Route(rg + "/vaults", kv.list_vaults, methods=["GET"]),
        Route(vault, kv.get_vault, methods=["GET"]),
        Route(vault, kv.put_vault, methods=["PUT"]),
        Route(vault, kv.patch_vault, methods=["PATCH"]),
        Route(
            vault + "/accessPolicies/{kind}", kv.update_access_policy, methods=["PUT"]
        ),
        Route(pec, kv.list_connections, methods=["GET"]),
        Route(pec + "/{pec}", kv.get_connection, methods=["GET"]),
        Route(pec + "/{pec}", kv.put_connection, methods=["PUT"]),
        Route(pec + "/{pec}", kv.delete_connection, methods=["DELETE"]),
    ]
