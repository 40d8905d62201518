"""Microsoft.Authorization: role assignments at any scope, and the built-in
role definitions the TDE estate uses.

Assignments take effect on the vault data plane and on the instances'
behaviour immediately (through `azuresim.permissions`). As in Azure, one
principal cannot hold the same role twice at one scope (409
RoleAssignmentExists) and an assignment cannot be changed in place.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from azuresim.arm.common import body_of, iso, listing, ok, properties_of
from azuresim.errors import ArmError
from azuresim.permissions import role_definition_guid, scope_encloses
from azuresim.state import (
    ROLE_KEY_VAULT_ADMINISTRATOR,
    ROLE_KEY_VAULT_CRYPTO_OFFICER,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_KEY_VAULT_CRYPTO_USER,
    ROLE_KEY_VAULT_READER,
    RoleAssignment,
    World,
)

AUTH = "Microsoft.Authorization"
ROLE_NAMES = {
    ROLE_KEY_VAULT_ADMINISTRATOR: "Key Vault Administrator",
    ROLE_KEY_VAULT_CRYPTO_OFFICER: "Key Vault Crypto Officer",
    ROLE_KEY_VAULT_CRYPTO_USER: "Key Vault Crypto User",
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: (
        "Key Vault Crypto Service Encryption User"
    ),
    ROLE_KEY_VAULT_READER: "Key Vault Reader",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _scope(request: Request) -> str:
    return "/" + str(request.path_params["scope"]).strip("/")


class AuthorizationProvider:
    def __init__(self, world: World) -> None:
        self.world = world

    def definition_id(self, guid: str) -> str:
        return (
            f"/subscriptions/{self.world.subscription_id}/providers/{AUTH}/"
            f"roleDefinitions/{guid}"
        )

    def render(self, assignment: RoleAssignment) -> dict[str, Any]:
        now = iso(self.world.clock.now())
        return {
            "properties": {
                "roleDefinitionId": self.definition_id(
                    role_definition_guid(assignment.role_definition_id)
                ),
                "principalId": assignment.principal_id,
                "principalType": assignment.principal_type,
                "scope": assignment.scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": now,
                "updatedOn": now,
                "createdBy": None,
                "updatedBy": None,
                "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
            "id": (
                f"{assignment.scope}/providers/{AUTH}/roleAssignments/{assignment.name}"
            ),
            "type": f"{AUTH}/roleAssignments",
            "name": assignment.name,
        }

    async def put(self, request: Request) -> Response:
        scope = _scope(request)
        name = request.path_params["name"]
        if not _GUID.match(name):
            raise ArmError(
                400,
                "InvalidRoleAssignmentId",
                f"The role assignment ID '{name}' is not valid. The role assignment "
                "ID must be a GUID.",
            )
        props = properties_of(await body_of(request))
        role = role_definition_guid(str(props.get("roleDefinitionId") or ""))
        principal = str(props.get("principalId") or "")
        if not _GUID.match(role):
            raise ArmError(
                400,
                "RoleDefinitionDoesNotExist",
                f"The specified role definition with ID '{role}' does not exist.",
            )
        if principal not in self.world.principals:
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal.replace('-', '')} does not exist in the "
                f"directory {self.world.tenant_id}.",
            )
        wanted = RoleAssignment(
            name=name,
            scope=scope,
            role_definition_id=role,
            principal_id=principal,
            principal_type=str(props.get("principalType") or "ServicePrincipal"),
        )
        self._refuse_duplicates(wanted)
        self.world.role_assignments[name] = wanted
        return ok(self.render(wanted), status=201)

    def _refuse_duplicates(self, wanted: RoleAssignment) -> None:
        current = self.world.role_assignments.get(wanted.name)
        if current is not None and (
            current.scope.lower() != wanted.scope.lower()
            or current.principal_id != wanted.principal_id
            or role_definition_guid(current.role_definition_id)
            != wanted.role_definition_id
        ):
            raise ArmError(
                409,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed "
                "to be updated.",
            )
        for other in self.world.role_assignments.values():
            if other.name == wanted.name:
                continue
            if (
                other.scope.lower() == wanted.scope.lower()
                and other.principal_id == wanted.principal_id
                and role_definition_guid(other.role_definition_id)
                == wanted.role_definition_id
            ):
                raise ArmError(
                    409, "RoleAssignmentExists", "The role assignment already exists."
                )

    def assignment(self, request: Request) -> RoleAssignment | None:
        scope = _scope(request)
        found = self.world.role_assignments.get(request.path_params["name"])
        if found is None or found.scope.lower() != scope.lower():
            return None
        return found

    async def get(self, request: Request) -> Response:
        found = self.assignment(request)
        if found is None:
            raise ArmError(
                404,
                "RoleAssignmentNotFound",
                f"The role assignment '{request.path_params['name']}' is not found.",
            )
        return ok(self.render(found))

    async def delete(self, request: Request) -> Response:
        found = self.assignment(request)
        if found is None:
            return Response(status_code=204)
        del self.world.role_assignments[found.name]
        return ok(self.render(found))

    async def list_for_scope(self, request: Request) -> Response:
        scope = _scope(request)
        query = request.query_params.get("$filter", "")
        at_scope = "atscope()" in query.lower().replace(" ", "")
        principal = re.search(r"principalId\s+eq\s+'([^']+)'", query, re.IGNORECASE)
        if "assignedTo(" in query:
            principal = re.search(r"assignedTo\('([^']+)'\)", query)
        items = []
        for assignment in self.world.role_assignments.values():
            above = scope_encloses(assignment.scope, scope)
            below = scope_encloses(scope, assignment.scope)
            if not (above or (below and not at_scope)):
                continue
            if principal and assignment.principal_id != principal.group(1):
                continue
            items.append(self.render(assignment))
        return listing(items)

    # Role definitions: enough to look a role up by name or id.

    def render_definition(self, guid: str) -> dict[str, Any]:
        return {
            "id": self.definition_id(guid),
            "type": f"{AUTH}/roleDefinitions",
            "name": guid,
            "properties": {
                "roleName": ROLE_NAMES[guid],
                "type": "BuiltInRole",
                "description": ROLE_NAMES[guid],
                "assignableScopes": ["/"],
                "permissions": [],
            },
        }

    async def get_definition(self, request: Request) -> Response:
        guid = request.path_params["name"].lower()
        if guid not in ROLE_NAMES:
            raise ArmError(
                404,
                "RoleDefinitionDoesNotExist",
                f"The specified role definition with ID '{guid}' does not exist.",
            )
        return ok(self.render_definition(guid))

    async def list_definitions(self, request: Request) -> Response:
        query = request.query_params.get("$filter", "")
        wanted = re.search(r"roleName\s+eq\s+'([^']+)'", query, re.IGNORECASE)
        return listing(
            [
                self.render_definition(guid)
                for guid, name in ROLE_NAMES.items()
                if wanted is None or name.lower() == wanted.group(1).lower()
            ]
        )


def routes(world: World) -> list[BaseRoute]:
    auth = AuthorizationProvider(world)
    assignments = "/{scope:path}/providers/Microsoft.Authorization/roleAssignments"
    definitions = "/{scope:path}/providers/Microsoft.Authorization/roleDefinitions"
    return [
        Route(assignments, auth.list_for_scope, methods=["GET"]),
        Route(assignments + "/{name}", auth.get, methods=["GET"]),
        Route(assignments + "/{name}", auth.put, methods=["PUT"]),
        Route(assignments + "/{name}", auth.delete, methods=["DELETE"]),
        Route(definitions, auth.list_definitions, methods=["GET"]),
        Route(definitions + "/{name}", auth.get_definition, methods=["GET"]),
    ]
