"""Microsoft.Sql for managed instances: the instance, its keys, its TDE
protector, its databases and the instance failover group.

Requests are validated synchronously (an invalid key or a broken geo rule is
a 4xx on the initial call, as the service answers); accepted changes become
long-running operations whose effect lands when they complete on the
simulated clock. Rendering follows the recorded responses field for field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from azuresim import behaviour, lro
from azuresim.arm.common import (
    body_of,
    check_resource_group,
    display_location,
    find_in_group,
    iso,
    listing,
    location_key,
    ok,
    properties_of,
    same,
    scoped_listing,
)
from azuresim.errors import ArmError
from azuresim.state import (
    FailoverGroup,
    InstanceKey,
    ManagedInstance,
    Principal,
    Protector,
    World,
    new_guid,
)

SQL = "Microsoft.Sql"
Complete = Callable[[], dict[str, Any] | None]
MAX_VAULT_AND_KEY_NAME = 94


class SqlProvider:
    """The handlers, bound to one World."""

    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------------
    # Lookups

    def instance(self, request: Request) -> ManagedInstance:
        return find_in_group(
            self.world, request, self.world.instances, "mi", f"{SQL}/managedInstances"
        )

    def partner(self, instance: ManagedInstance) -> ManagedInstance | None:
        group = self.group_of(instance)
        if group is None:
            return None
        other = (
            group.secondary_instance
            if group.primary_instance == instance.name
            else group.primary_instance
        )
        return self.world.instances.get(other)

    def group_of(self, instance: ManagedInstance) -> FailoverGroup | None:
        for group in self.world.failover_groups.values():
            if instance.name in (group.primary_instance, group.secondary_instance):
                return group
        return None

    # ------------------------------------------------------------------
    # Managed instances

    def render_instance(self, instance: ManagedInstance) -> dict[str, Any]:
        props: dict[str, Any] = {
            "provisioningState": instance.provisioning_state,
            "fullyQualifiedDomainName": (
                f"{instance.name}.{instance.dns_zone}.database.windows.net"
            ),
            "administratorLogin": "sqladmin",
            "subnetId": instance.subnet_id,
            "state": instance.state,
            "licenseType": "LicenseIncluded",
            "vCores": 8,
            "storageSizeInGB": 256,
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "dnsZone": instance.dns_zone,
            "publicDataEndpointEnabled": False,
            "proxyOverride": "Proxy",
            "timezoneId": "UTC",
            "privateEndpointConnections": [],
            "minimalTlsVersion": "1.2",
            "storageAccountType": "GRS",
            "currentBackupStorageRedundancy": "Geo",
            "requestedBackupStorageRedundancy": "Geo",
            "zoneRedundant": False,
        }
        protector = _protector_key(instance)
        if protector is not None:
            props["keyId"] = protector.uri
        body: dict[str, Any] = {}
        if instance.identity_type != "None" and instance.principal_id:
            body["identity"] = {
                "principalId": instance.principal_id,
                "type": instance.identity_type,
                "tenantId": self.world.tenant_id,
            }
        body.update(
            {
                "sku": {
                    "name": "GP_Gen5",
                    "tier": "GeneralPurpose",
                    "family": "Gen5",
                    "capacity": 8,
                },
                "properties": props,
                "location": instance.location,
                "tags": dict(instance.tags),
                "id": instance.resource_id,
                "name": instance.name,
                "type": f"{SQL}/managedInstances",
            }
        )
        return body

    async def list_instances(self, request: Request) -> Response:
        return scoped_listing(
            self.world, request, self.world.instances.values(), self.render_instance
        )

    async def get_instance(self, request: Request) -> Response:
        return ok(self.render_instance(self.instance(request)))

    async def update_instance(self, request: Request) -> Response:
        """PUT/PATCH: only the identity and tags are modelled; enabling the
        system-assigned identity creates its service principal."""
        instance = self.instance(request)
        body = await body_of(request)
        identity = body.get("identity") or {}
        wanted = identity.get("type") if isinstance(identity, dict) else None
        tags = body.get("tags")

        def complete() -> dict[str, Any] | None:
            if isinstance(wanted, str):
                self._set_identity(instance, wanted)
            if isinstance(tags, dict):
                instance.tags = {str(k): str(v) for k, v in tags.items()}
            return self.render_instance(instance)

        return self._run(
            request, instance, "managedInstance", "UpsertManagedServer", complete
        )

    def _set_identity(self, instance: ManagedInstance, wanted: str) -> None:
        if "systemassigned" in wanted.replace(" ", "").lower():
            if not instance.principal_id:
                instance.principal_id = new_guid()
                self.world.principals[instance.principal_id] = Principal(
                    object_id=instance.principal_id, display_name=instance.name
                )
            instance.identity_type = "SystemAssigned"
        elif wanted == "None":
            instance.identity_type = "None"
            instance.principal_id = None

    def _run(
        self,
        request: Request,
        instance: ManagedInstance,
        kind: str,
        name: str,
        complete: Complete,
    ) -> Response:
        """Start a change of `instance` as an operation; answer 202 with the
        monitors of `kind` (the URL stem Azure uses for that resource)."""
        operation = lro.start(self.world, name, complete)
        return lro.sql_accepted(
            request,
            operation,
            location=instance.location,
            kind=kind,
            resource_group=instance.resource_group,
            subscription_id=instance.subscription_id,
        )

    # ------------------------------------------------------------------
    # Keys

    def render_key(self, instance: ManagedInstance, key: InstanceKey) -> dict[str, Any]:
        return {
            "kind": "azurekeyvault",
            "properties": {
                "serverKeyType": key.server_key_type,
                "uri": key.uri,
                "thumbprint": key.thumbprint,
                "creationDate": iso(key.created),
                "autoRotationEnabled": (
                    instance.protector.auto_rotation_enabled
                    and instance.protector.server_key_name == key.name
                ),
            },
            "id": f"{instance.resource_id}/keys/{key.name}",
            "name": key.name,
            "type": f"{SQL}/managedInstances/keys",
        }

    def render_service_managed_key(self, instance: ManagedInstance) -> dict[str, Any]:
        return {
            "kind": "servicemanaged",
            "properties": {},
            "id": f"{instance.resource_id}/keys/ServiceManaged",
            "name": "ServiceManaged",
            "type": f"{SQL}/managedInstances/keys",
        }

    async def list_keys(self, request: Request) -> Response:
        instance = self.instance(request)
        items = [self.render_key(instance, k) for k in instance.keys.values()]
        items.append(self.render_service_managed_key(instance))
        return listing(items)

    def registered(self, instance: ManagedInstance, name: str) -> InstanceKey:
        for key in instance.keys.values():
            if same(key.name, name):
                return key
        raise ArmError(
            404,
            "ServerKeyNotFound",
            f"The requested server key '{name}' was not found on managed instance "
            f"'{instance.name}'. Register it first (managed instance keys: create).",
        )

    async def get_key(self, request: Request) -> Response:
        instance = self.instance(request)
        name = request.path_params["key"]
        if name == "ServiceManaged":
            return ok(self.render_service_managed_key(instance))
        return ok(self.render_key(instance, self.registered(instance, name)))

    async def put_key(self, request: Request) -> Response:
        instance = self.instance(request)
        name = request.path_params["key"]
        props = properties_of(await body_of(request))
        key = self._validate_key(instance, name, props)

        def complete() -> dict[str, Any] | None:
            instance.keys.setdefault(key.name, key)
            return None

        return self._run(
            request,
            instance,
            "managedInstanceKey",
            "UpsertManagedServerEncryptionKeys",
            complete,
        )

    def _validate_key(
        self, instance: ManagedInstance, name: str, props: dict[str, Any]
    ) -> InstanceKey:
        key_type = props.get("serverKeyType")
        uri = props.get("uri")
        if key_type != "AzureKeyVault" or not isinstance(uri, str) or not uri:
            raise ArmError(
                400,
                "InvalidServerKeyType"
                if key_type != "AzureKeyVault"
                else "InvalidKeyUri",
                "A managed instance key needs serverKeyType 'AzureKeyVault' and the "
                "versioned key identifier in 'uri'.",
            )
        parsed = behaviour.parse_key_uri(self.world, uri)
        if parsed is None or not parsed.version:
            raise ArmError(
                400,
                "AzureKeyVaultMalformedVaultUri",
                f"The provided Key Vault uri '{uri}' is not valid. A managed "
                "instance needs a versioned key identifier "
                "https://<vault>/keys/<name>/<version>.",
            )
        if parsed.vault is None:
            raise ArmError(
                400,
                "AkvHostNotResolvingFromNode",
                f"The Azure Key Vault host '{parsed.host}' in '{uri}' cannot be "
                f"resolved from managed instance '{instance.name}'.",
            )
        vault = parsed.vault
        expected = f"{vault.name}_{parsed.key_name}_{parsed.version}"
        if name != expected:
            raise ArmError(
                400,
                "InvalidKeyName",
                f"The key name '{name}' does not match the key uri; it must be "
                f"'{expected}' (vault_key_version).",
            )
        if len(vault.name) + len(parsed.key_name) > MAX_VAULT_AND_KEY_NAME:
            raise ArmError(
                400,
                "SecurityAzureKeyVaultInvalidKeyName",
                "The vault name and key name together exceed 94 characters.",
            )
        existing = instance.keys.get(name)
        if existing is not None:
            return existing

        problem = behaviour.key_problem(self.world, instance, uri)
        if problem is not None:
            raise ArmError(problem.status, problem.code, problem.message)
        version = vault.keys[parsed.key_name].version(parsed.version)
        assert version is not None
        return InstanceKey(
            name=name,
            uri=f"{vault.url}/keys/{parsed.key_name}/{parsed.version}",
            thumbprint=version.thumbprint,
            created=self.world.clock.now(),
        )

    async def delete_key(self, request: Request) -> Response:
        instance = self.instance(request)
        name = request.path_params["key"]
        key = next((k for k in instance.keys.values() if same(k.name, name)), None)
        if key is None:
            return Response(status_code=204)
        if same(instance.protector.server_key_name, key.name):
            raise ArmError(
                409,
                "AzureKeyVaultKeyInUse",
                f"The key '{key.name}' is the current TDE protector of managed "
                f"instance '{instance.name}' and cannot be removed; set another "
                "protector first.",
            )
        self._refuse_geo_primary_key(instance, key)

        def complete() -> dict[str, Any] | None:
            instance.keys.pop(key.name, None)
            return None

        return self._run(
            request,
            instance,
            "managedInstanceKey",
            "DeleteManagedServerEncryptionKeys",
            complete,
        )

    def _refuse_geo_primary_key(
        self, instance: ManagedInstance, key: InstanceKey
    ) -> None:
        """The secondary may not drop the key (the same key URI) that is the
        TDE protector of its geo-primary."""
        group = self.group_of(instance)
        if group is None or group.secondary_instance != instance.name:
            return
        primary = self.world.instances.get(group.primary_instance)
        protector = _protector_key(primary) if primary else None
        if primary is None or protector is None or not same(protector.uri, key.uri):
            return
        raise ArmError(
            400,
            "AzureKeyVaultKeyUsedOnGeoPrimary",
            f"The key '{key.name}' is the TDE protector of the geo-primary "
            f"'{primary.name}' and cannot be removed from its secondary "
            f"'{instance.name}'.",
        )

    # ------------------------------------------------------------------
    # Encryption protector

    def render_protector(self, instance: ManagedInstance) -> dict[str, Any]:
        protector = instance.protector
        props: dict[str, Any] = {
            "serverKeyName": protector.server_key_name,
            "serverKeyType": protector.server_key_type,
            "autoRotationEnabled": protector.auto_rotation_enabled,
        }
        key = _protector_key(instance)
        if key is not None:
            props["uri"] = key.uri
            props["thumbprint"] = key.thumbprint
        kind = (
            "azurekeyvault"
            if protector.server_key_type == "AzureKeyVault"
            else ("servicemanaged")
        )
        return {
            "kind": kind,
            "properties": props,
            "id": f"{instance.resource_id}/encryptionProtector/current",
            "name": "current",
            "type": f"{SQL}/managedInstances/encryptionProtector",
        }

    def _protector_name(self, request: Request) -> None:
        if request.path_params["name"] != "current":
            raise ArmError(
                400,
                "InvalidEncryptionProtectorName",
                "The encryption protector name must be 'current'.",
            )

    async def list_protectors(self, request: Request) -> Response:
        return listing([self.render_protector(self.instance(request))])

    async def get_protector(self, request: Request) -> Response:
        instance = self.instance(request)
        self._protector_name(request)
        return ok(self.render_protector(instance))

    async def put_protector(self, request: Request) -> Response:
        instance = self.instance(request)
        self._protector_name(request)
        props = properties_of(await body_of(request))
        wanted = self._validate_protector(instance, props)

        def complete() -> dict[str, Any] | None:
            instance.protector = wanted
            if wanted.server_key_type == "AzureKeyVault":
                behaviour.check_now(self.world, instance)
            return None

        return self._run(
            request,
            instance,
            "managedInstanceEncryptionProtector",
            "UpsertManagedServerEncryptionProtector",
            complete,
        )

    def _validate_protector(
        self, instance: ManagedInstance, props: dict[str, Any]
    ) -> Protector:
        key_type = props.get("serverKeyType", "AzureKeyVault")
        auto_rotation = bool(props.get("autoRotationEnabled", False))
        if key_type == "ServiceManaged":
            inaccessible = sorted(
                d.name
                for d in instance.databases.values()
                if d.status == "Inaccessible"
            )
            if inaccessible and instance.protector.server_key_type == "AzureKeyVault":
                # TODO: the sources say this switch is blocked but give no error
                # code; this one is descriptive, not recorded.
                raise ArmError(
                    400,
                    "ManagedInstanceInaccessibleDatabasesExist",
                    f"Managed instance '{instance.name}' cannot switch to a "
                    "service-managed key while databases encrypted with its "
                    "customer-managed key are inaccessible: "
                    f"{', '.join(inaccessible)}. Restore access to the key and "
                    "revalidate first.",
                )
            return Protector("ServiceManaged", "ServiceManaged", auto_rotation)
        if key_type != "AzureKeyVault":
            raise ArmError(
                400, "InvalidServerKeyType", f"Unknown serverKeyType '{key_type}'."
            )
        name = props.get("serverKeyName")
        if not isinstance(name, str) or not name:
            raise ArmError(
                400,
                "InvalidServerKeyName",
                "serverKeyName is required when serverKeyType is AzureKeyVault.",
            )
        key = self.registered(instance, name)

        parsed = behaviour.parse_key_uri(self.world, key.uri)
        vault = parsed.vault if parsed else None
        if vault is not None and not (
            vault.enable_soft_delete and vault.enable_purge_protection
        ):
            raise ArmError(
                400,
                "SecurityInvalidAzureKeyVaultRecoveryLevel",
                f"The provided Key Vault uri '{key.uri}' is not valid: vault "
                f"'{vault.name}' must have soft delete and purge protection enabled.",
            )
        problem = behaviour.key_problem(self.world, instance, key.uri)
        if problem is not None:
            raise ArmError(problem.status, problem.code, problem.message)
        self._check_geo_rules(instance, key, auto_rotation)
        return Protector("AzureKeyVault", key.name, auto_rotation)

    def _check_geo_rules(
        self, instance: ManagedInstance, key: InstanceKey, auto_rotation: bool
    ) -> None:
        partner = self.partner(instance)
        if partner is None:
            return
        if not behaviour.has_material(partner, key.thumbprint):
            raise ArmError(
                400,
                "KeyMaterialNotFoundOnRemoteServer",
                f"The key material of '{key.name}' (thumbprint {key.thumbprint}) is "
                f"not registered on the failover partner '{partner.name}'. Register "
                "a key with the same material there first.",
            )
        if auto_rotation and not any(
            same(k.uri, key.uri) for k in partner.keys.values()
        ):
            raise ArmError(
                400,
                "SameKeyUriNotFoundOnRemoteServer",
                f"With auto-rotation enabled the failover partner '{partner.name}' "
                f"must have the same key uri '{key.uri}' registered.",
            )

    async def revalidate(self, request: Request) -> Response:
        instance = self.instance(request)
        self._protector_name(request)
        if instance.protector.server_key_type != "AzureKeyVault":
            raise ArmError(
                400,
                "ManagedInstanceNoConditionToMakeDatabaseAccessible",
                f"Managed instance '{instance.name}' uses a service-managed key; "
                "there is nothing to revalidate.",
            )

        def complete() -> dict[str, Any] | None:
            if not behaviour.revalidate(self.world, instance):
                access = instance.key_access
                raise ArmError(
                    400,
                    "ManagedInstanceNoConditionToMakeDatabaseAccessible",
                    f"No usable copy of the TDE protector of '{instance.name}' is "
                    f"reachable: {access.lost_reason or 'the key is still unusable'}",
                )
            return None

        return self._run(
            request,
            instance,
            "managedInstanceEncryptionProtector",
            "RevalidateManagedServerEncryptionProtector",
            complete,
        )

    # ------------------------------------------------------------------
    # Databases

    def render_database(self, instance: ManagedInstance, name: str) -> dict[str, Any]:
        database = instance.databases[name]
        props: dict[str, Any] = {
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "status": database.status,
            "creationDate": iso(database.created),
            "earliestRestorePoint": iso(
                database.created + timedelta(minutes=2) if database.created else None
            ),
            "defaultSecondaryLocation": self._secondary_location(instance),
        }
        group = self.group_of(instance)
        if group is not None:
            props["failoverGroupId"] = self.group_id(group, instance)
        if database.status == "Inaccessible":
            props["extendedAccessibilityInfo"] = {
                "inaccessibilityReasonKind": database.inaccessibility_reason_kind,
                "inaccessibilityReasonErrorCode": database.inaccessibility_error_code,
                "inaccessibilityReasonDescription": (
                    database.inaccessibility_description
                ),
                "inaccessibilityReasonTdeKeyUri": database.inaccessibility_key_uri,
            }
        return {
            "properties": props,
            "location": instance.location,
            "id": f"{instance.resource_id}/databases/{name}",
            "name": name,
            "type": f"{SQL}/managedInstances/databases",
        }

    def _secondary_location(self, instance: ManagedInstance) -> str:
        partner = self.partner(instance)
        return partner.location if partner else instance.location

    async def list_databases(self, request: Request) -> Response:
        instance = self.instance(request)
        return listing([self.render_database(instance, n) for n in instance.databases])

    async def list_inaccessible(self, request: Request) -> Response:
        instance = self.instance(request)
        return listing(
            [
                self.render_database(instance, name)
                for name, database in instance.databases.items()
                if database.status == "Inaccessible"
            ]
        )

    async def get_database(self, request: Request) -> Response:
        instance = self.instance(request)
        name = request.path_params["db"]
        if name not in instance.databases:
            raise ArmError(
                404,
                "ResourceNotFound",
                "The requested resource of type 'Microsoft.Sql/managedInstances/"
                f"databases' with name '{name}' was not found.",
            )
        return ok(self.render_database(instance, name))

    # ------------------------------------------------------------------
    # Instance failover groups

    def group_id(self, group: FailoverGroup, side: ManagedInstance) -> str:
        return (
            f"/subscriptions/{side.subscription_id}/resourceGroups/"
            f"{side.resource_group}/providers/{SQL}/locations/"
            f"{display_location(side.location)}/instanceFailoverGroups/{group.name}"
        )

    def render_group(
        self, group: FailoverGroup, side: ManagedInstance
    ) -> dict[str, Any]:
        primary = self.world.instances[group.primary_instance]
        secondary = self.world.instances[group.secondary_instance]
        role = "Primary" if side.name == primary.name else "Secondary"
        other = secondary if side.name == primary.name else primary
        read_write: dict[str, Any] = {"failoverPolicy": group.failover_policy}
        if group.failover_policy == "Automatic":
            read_write["failoverWithDataLossGracePeriodMinutes"] = (
                group.grace_period_minutes or 60
            )
        return {
            "properties": {
                "readWriteEndpoint": read_write,
                "readOnlyEndpoint": {"failoverPolicy": group.read_only_policy},
                "replicationRole": role,
                "replicationState": group.replication_state,
                "partnerRegions": [
                    {
                        "location": other.location,
                        "replicationRole": "Secondary"
                        if role == "Primary"
                        else "Primary",
                    }
                ],
                "managedInstancePairs": [
                    {
                        "primaryManagedInstanceId": primary.resource_id,
                        "partnerManagedInstanceId": secondary.resource_id,
                    }
                ],
                "secondaryType": group.secondary_type,
            },
            "id": self.group_id(group, side),
            "name": group.name,
            "type": f"{SQL}/locations/instanceFailoverGroups",
        }

    def side(self, request: Request) -> ManagedInstance:
        """The instance a failover-group URL addresses: the one in that
        location and resource group."""
        params = request.path_params
        check_resource_group(self.world, params["sub"], params["rg"])
        location = location_key(params["loc"])
        for instance in self.world.instances.values():
            if location_key(instance.location) == location and same(
                instance.resource_group, params["rg"]
            ):
                return instance
        raise ArmError(
            404,
            "ResourceNotFound",
            f"No managed instance in location '{params['loc']}' and resource group "
            f"'{params['rg']}'.",
        )

    def group(self, request: Request) -> tuple[FailoverGroup, ManagedInstance]:
        name = request.path_params["fog"]
        side = self.side(request)
        group = self.world.failover_groups.get(name)
        if group is None or side.name not in (
            group.primary_instance,
            group.secondary_instance,
        ):
            raise ArmError(
                404,
                "ResourceNotFound",
                "The requested resource of type 'Microsoft.Sql/locations/"
                f"instanceFailoverGroups' with name '{name}' was not found.",
            )
        return group, side

    async def list_groups(self, request: Request) -> Response:
        side = self.side(request)
        return listing(
            [
                self.render_group(g, side)
                for g in self.world.failover_groups.values()
                if side.name in (g.primary_instance, g.secondary_instance)
            ]
        )

    async def get_group(self, request: Request) -> Response:
        group, side = self.group(request)
        return ok(self.render_group(group, side))

    async def put_group(self, request: Request) -> Response:
        side = self.side(request)
        name = request.path_params["fog"]
        props = properties_of(await body_of(request))
        existing = self.world.failover_groups.get(name)
        wanted = self._desired_group(name, side, props, existing)

        def complete() -> dict[str, Any] | None:
            current = self.world.failover_groups.get(name)
            if current is not None:
                wanted.primary_instance = current.primary_instance
                wanted.secondary_instance = current.secondary_instance
            self.world.failover_groups[name] = wanted
            return self.render_group(wanted, side)

        verb = "Update" if existing else "Create"
        return self._run_group(request, side, f"{verb}ManagedFailoverGroup", complete)

    def _desired_group(
        self,
        name: str,
        side: ManagedInstance,
        props: dict[str, Any],
        existing: FailoverGroup | None,
    ) -> FailoverGroup:
        read_write = props.get("readWriteEndpoint") or {}
        read_only = props.get("readOnlyEndpoint") or {}
        policy = str(read_write.get("failoverPolicy", "Manual"))
        grace = read_write.get("failoverWithDataLossGracePeriodMinutes")
        if existing is not None:
            return FailoverGroup(
                name=name,
                resource_group=existing.resource_group,
                primary_instance=existing.primary_instance,
                secondary_instance=existing.secondary_instance,
                failover_policy=policy,
                grace_period_minutes=int(grace) if grace is not None else None,
                read_only_policy=str(read_only.get("failoverPolicy", "Disabled")),
                secondary_type=str(props.get("secondaryType", existing.secondary_type)),
            )
        primary, secondary = self._pair(side, props)
        for instance in (primary, secondary):
            if self.group_of(instance) is not None:
                raise ArmError(
                    409,
                    "FailoverGroupAlreadyExists",
                    f"Managed instance '{instance.name}' is already in a failover "
                    "group; an instance can be in one failover group only.",
                )
        _require_material(
            primary, secondary, "it could not take over as primary after a failover"
        )
        return FailoverGroup(
            name=name,
            resource_group=primary.resource_group,
            primary_instance=primary.name,
            secondary_instance=secondary.name,
            failover_policy=policy,
            grace_period_minutes=int(grace) if grace is not None else None,
            read_only_policy=str(read_only.get("failoverPolicy", "Disabled")),
            secondary_type=str(props.get("secondaryType", "Geo")),
        )

    def _pair(
        self, side: ManagedInstance, props: dict[str, Any]
    ) -> tuple[ManagedInstance, ManagedInstance]:
        pairs = props.get("managedInstancePairs") or []
        if not pairs or not isinstance(pairs[0], dict):
            raise ArmError(
                400,
                "InvalidFailoverGroupRequest",
                "managedInstancePairs must name the primary and partner instances.",
            )
        found = []
        for field_name in ("primaryManagedInstanceId", "partnerManagedInstanceId"):
            resource_id = str(pairs[0].get(field_name, ""))
            match = next(
                (
                    i
                    for i in self.world.instances.values()
                    if same(i.resource_id, resource_id)
                ),
                None,
            )
            if match is None:
                raise ArmError(
                    404,
                    "ResourceNotFound",
                    f"The managed instance '{resource_id}' was not found.",
                )
            found.append(match)
        if found[0].name != side.name:
            raise ArmError(
                400,
                "InvalidFailoverGroupRequest",
                "A failover group is created in the primary instance's location.",
            )
        return found[0], found[1]

    def _run_group(
        self,
        request: Request,
        side: ManagedInstance,
        name: str,
        complete: Complete,
        duration: float | None = None,
    ) -> Response:
        """As `_run`, for a failover group: its monitors live at subscription
        scope, in the location the request addressed."""
        operation = lro.start(self.world, name, complete, duration=duration)
        return lro.sql_accepted(
            request,
            operation,
            location=side.location,
            kind="instanceFailoverGroup",
            resource_group=None,
            subscription_id=side.subscription_id,
        )

    async def delete_group(self, request: Request) -> Response:
        name = request.path_params["fog"]
        side = self.side(request)
        group = self.world.failover_groups.get(name)
        if group is None or side.name not in (
            group.primary_instance,
            group.secondary_instance,
        ):
            return Response(status_code=204)

        def complete() -> dict[str, Any] | None:
            self.world.failover_groups.pop(name, None)
            return None

        return self._run_group(request, side, "DropManagedFailoverGroup", complete)

    async def failover(self, request: Request) -> Response:
        return await self._failover(request, forced=False)

    async def force_failover(self, request: Request) -> Response:
        return await self._failover(request, forced=True)

    async def _failover(self, request: Request, *, forced: bool) -> Response:
        group, side = self.group(request)
        if group.pending_switch is not None:
            raise ArmError(
                409,
                "ConflictingServerOperation",
                f"A failover of '{group.name}' is already in progress.",
            )
        if side.name != group.primary_instance and not forced:
            self._check_planned_failover(group, side)
        duration = self.world.timers.role_switch
        if side.name == group.primary_instance:
            duration = self.world.timers.lro_duration
        else:
            group.pending_switch = (
                side.name,
                self.world.clock.now() + timedelta(seconds=duration),
            )

        def complete() -> dict[str, Any] | None:
            behaviour.switch_roles(self.world, group)
            return self.render_group(group, side)

        return self._run_group(
            request, side, "FailoverManagedFailoverGroup", complete, duration
        )

    def _check_planned_failover(
        self, group: FailoverGroup, new_primary: ManagedInstance
    ) -> None:
        old_primary = self.world.instances[group.primary_instance]
        _require_material(
            old_primary, new_primary, "it could not open the databases after a failover"
        )
        inaccessible = [
            d.name
            for instance in (old_primary, new_primary)
            for d in instance.databases.values()
            if d.status == "Inaccessible"
        ]
        if inaccessible:
            # TODO: the sources do not give the service's exact code for this
            # refusal; the one used here is descriptive, not recorded.
            raise ArmError(
                400,
                "FailoverDatabasesInaccessible",
                f"A planned failover of '{group.name}' needs every database "
                f"accessible; inaccessible: {', '.join(sorted(set(inaccessible)))}.",
            )


def _protector_key(instance: ManagedInstance) -> InstanceKey | None:
    """The registered key that is the instance's customer-managed protector."""
    if instance.protector.server_key_type != "AzureKeyVault":
        return None
    return instance.keys.get(instance.protector.server_key_name)


def _require_material(
    primary: ManagedInstance, partner: ManagedInstance, consequence: str
) -> None:
    """Refuse when `partner` has no key with the material of `primary`'s
    protector (`consequence`: why that matters for this request)."""
    key = _protector_key(primary)
    if key is not None and not behaviour.has_material(partner, key.thumbprint):
        raise ArmError(
            400,
            "KeyMaterialNotFoundOnRemoteServer",
            f"'{partner.name}' has no key with the material of the TDE protector "
            f"'{key.name}' of '{primary.name}'; {consequence}. Register a key "
            f"with that material on '{partner.name}' first.",
        )


def routes(world: World) -> list[BaseRoute]:
    sql = SqlProvider(world)
    rg = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Sql"
    mi = rg + "/managedInstances/{mi}"
    fog = rg + "/locations/{loc}/instanceFailoverGroups"
    return [
        Route(
            "/subscriptions/{sub}/providers/Microsoft.Sql/managedInstances",
            sql.list_instances,
            methods=["GET"],
        ),
        Route(rg + "/managedInstances", sql.list_instances, methods=["GET"]),
        Route(mi, sql.get_instance, methods=["GET"]),
        Route(mi, sql.update_instance, methods=["PUT", "PATCH"]),
        Route(mi + "/keys", sql.list_keys, methods=["GET"]),
        Route(mi + "/keys/{key}", sql.get_key, methods=["GET"]),
        Route(mi + "/keys/{key}", sql.put_key, methods=["PUT"]),
        Route(mi + "/keys/{key}", sql.delete_key, methods=["DELETE"]),
        Route(mi + "/encryptionProtector", sql.list_protectors, methods=["GET"]),
        Route(mi + "/encryptionProtector/{name}", sql.get_protector, methods=["GET"]),
        Route(mi + "/encryptionProtector/{name}", sql.put_protector, methods=["PUT"]),
        Route(
            mi + "/encryptionProtector/{name}/revalidate",
            sql.revalidate,
            methods=["POST"],
        ),
        Route(mi + "/databases", sql.list_databases, methods=["GET"]),
        Route(mi + "/databases/{db}", sql.get_database, methods=["GET"]),
        Route(
            mi + "/inaccessibleManagedDatabases", sql.list_inaccessible, methods=["GET"]
        ),
        Route(fog, sql.list_groups, methods=["GET"]),
        Route(fog + "/{fog}", sql.get_group, methods=["GET"]),
        Route(fog + "/{fog}", sql.put_group, methods=["PUT"]),
        Route(fog + "/{fog}", sql.delete_group, methods=["DELETE"]),
        Route(fog + "/{fog}/failover", sql.failover, methods=["POST"]),
        Route(
            fog + "/{fog}/forceFailoverAllowDataLoss",
            sql.force_failover,
            methods=["POST"],
        ),
    ]
