"""Microsoft.Authorization through the real AuthorizationManagementClient:
role assignments at vault, resource group and subscription scope."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from simclients import Sdk

from azuresim.process import SimProcess

SUB = "00000000-0000-0000-0000-000000000000"
VAULT_SCOPE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2/providers/"
    "Microsoft.KeyVault/vaults/kv-tde-eastus2"
)
CRYPTO_SERVICE_USER = (
    f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
    "e147488a-f6f5-4113-8e2d-b22465e65bf6"
)


def body(principal: str, role: str = CRYPTO_SERVICE_USER) -> dict[str, object]:
    return {
        "properties": {
            "roleDefinitionId": role,
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    }


def instance_principal(sdk: Sdk) -> str:
    instance = sdk.sql().managed_instances.get("rg-tde-eastus2", "sqlmi-tde-eastus2")
    return str(instance.identity.principal_id)


def test_list_at_a_vault_scope_includes_the_instance_grants(sdk: Sdk) -> None:
    principal = instance_principal(sdk)
    assignments = list(
        sdk.authorization().role_assignments.list_for_scope(
            VAULT_SCOPE, filter=f"principalId eq '{principal}'"
        )
    )
    assert [a.role_definition_id for a in assignments] == [CRYPTO_SERVICE_USER]
    assert assignments[0].scope == VAULT_SCOPE


def test_create_get_delete_a_role_assignment(sdk: Sdk, simulator: SimProcess) -> None:
    auth = sdk.authorization()
    principal = simulator.add_principal("reader-app")["object_id"]
    name = str(uuid.uuid4())

    created = auth.role_assignments.create(VAULT_SCOPE, name, body(principal))
    assert created.name == name
    assert created.principal_id == principal
    assert (
        created.id
        == f"{VAULT_SCOPE}/providers/Microsoft.Authorization/roleAssignments/{name}"
    )
    assert auth.role_assignments.get(VAULT_SCOPE, name).principal_id == principal

    deleted = auth.role_assignments.delete(VAULT_SCOPE, name)
    assert deleted is not None and deleted.name == name
    with pytest.raises(ResourceNotFoundError):
        auth.role_assignments.get(VAULT_SCOPE, name)


def test_the_same_role_twice_at_one_scope_is_a_conflict(sdk: Sdk) -> None:
    principal = instance_principal(sdk)
    with pytest.raises(HttpResponseError) as conflict:
        sdk.authorization().role_assignments.create(
            VAULT_SCOPE, str(uuid.uuid4()), body(principal)
        )
    assert conflict.value.status_code == 409
    assert conflict.value.error.code == "RoleAssignmentExists"


def test_unknown_principal_is_refused(sdk: Sdk) -> None:
    with pytest.raises(HttpResponseError) as refused:
        sdk.authorization().role_assignments.create(
            VAULT_SCOPE, str(uuid.uuid4()), body(str(uuid.uuid4()))
        )
    assert refused.value.error.code == "PrincipalNotFound"


def test_group_scope_assignment_grants_the_vault(
    sdk: Sdk, simulator: SimProcess
) -> None:
    auth = sdk.authorization()
    principal = simulator.add_principal("group-app")["object_id"]
    group_scope = f"/subscriptions/{SUB}/resourceGroups/rg-tde-eastus2"
    name = str(uuid.uuid4())
    auth.role_assignments.create(group_scope, name, body(principal))

    at_vault = list(
        auth.role_assignments.list_for_scope(
            VAULT_SCOPE, filter=f"principalId eq '{principal}'"
        )
    )
    at_subscription = list(
        auth.role_assignments.list_for_scope(
            f"/subscriptions/{SUB}", filter="atScope()"
        )
    )
    assert [a.name for a in at_vault] == [name]
    assert name not in {a.name for a in at_subscription}


def test_role_definition_lookup_by_name(sdk: Sdk) -> None:
    definitions = list(
        sdk.authorization().role_definitions.list(
            f"/subscriptions/{SUB}",
            filter="roleName eq 'Key Vault Crypto Service Encryption User'",
        )
    )
    assert [d.id for d in definitions] == [CRYPTO_SERVICE_USER]
