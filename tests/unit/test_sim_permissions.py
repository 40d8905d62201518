"""Key permissions follow the vault's authorisation model: RBAC role
assignments at an enclosing scope, or access policies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from azuresim.clock import SimClock
from azuresim.permissions import (
    ALL_KEY_PERMISSIONS,
    ROLE_KEY_PERMISSIONS,
    key_permissions,
)
from azuresim.state import (
    ROLE_KEY_VAULT_ADMINISTRATOR,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_KEY_VAULT_CRYPTO_USER,
    ROLE_KEY_VAULT_READER,
    AccessPolicy,
    RoleAssignment,
    Vault,
    World,
)

PRINCIPAL = "aaaaaaaa-0000-0000-0000-000000000001"


def a_world(rbac: bool = True) -> tuple[World, Vault]:
    world = World(clock=SimClock())
    vault = Vault("kv-a", "rg-a", "eastus2", enable_rbac_authorization=rbac)
    world.vaults[vault.name] = vault
    return world, vault


def assign(world: World, scope: str, role: str) -> None:
    name = f"ra-{len(world.role_assignments)}"
    world.role_assignments[name] = RoleAssignment(
        name=name,
        scope=scope,
        role_definition_id=f"/providers/Microsoft.Authorization/roleDefinitions/{role}",
        principal_id=PRINCIPAL,
    )


def test_no_assignment_grants_nothing() -> None:
    world, vault = a_world()
    assert key_permissions(world, vault, PRINCIPAL) == set()


def test_service_encryption_user_at_vault_scope_grants_get_wrap_unwrap() -> None:
    world, vault = a_world()
    assign(world, vault.resource_id, ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER)
    assert key_permissions(world, vault, PRINCIPAL) == {"get", "wrapKey", "unwrapKey"}


def test_resource_group_and_subscription_scopes_enclose_the_vault() -> None:
    world, vault = a_world()
    assign(
        world,
        f"/subscriptions/{vault.subscription_id}/resourceGroups/rg-a",
        ROLE_KEY_VAULT_READER,
    )
    assert key_permissions(world, vault, PRINCIPAL) == {"get", "list"}
    assign(world, f"/subscriptions/{vault.subscription_id}", ROLE_KEY_VAULT_CRYPTO_USER)
    assert {"unwrapKey", "decrypt", "list"} <= key_permissions(world, vault, PRINCIPAL)
    assert "delete" not in key_permissions(world, vault, PRINCIPAL)


def test_a_sibling_scope_does_not_apply() -> None:
    world, vault = a_world()
    assign(
        world,
        f"/subscriptions/{vault.subscription_id}/resourceGroups/rg-ab",
        ROLE_KEY_VAULT_ADMINISTRATOR,
    )
    assign(world, vault.resource_id + "x", ROLE_KEY_VAULT_ADMINISTRATOR)
    assert key_permissions(world, vault, PRINCIPAL) == set()


def test_administrator_holds_every_key_permission() -> None:
    world, vault = a_world()
    assign(world, vault.resource_id, ROLE_KEY_VAULT_ADMINISTRATOR)
    assert key_permissions(world, vault, PRINCIPAL) == set(ALL_KEY_PERMISSIONS)


def test_rbac_vault_ignores_access_policies_and_vice_versa() -> None:
    world, vault = a_world(rbac=True)
    vault.access_policies.append(AccessPolicy(PRINCIPAL, vault.tenant_id, ["get"]))
    assert key_permissions(world, vault, PRINCIPAL) == set()

    world, vault = a_world(rbac=False)
    assign(world, vault.resource_id, ROLE_KEY_VAULT_ADMINISTRATOR)
    assert key_permissions(world, vault, PRINCIPAL) == set()


def test_access_policy_names_are_case_insensitive() -> None:
    world, vault = a_world(rbac=False)
    vault.access_policies.append(
        AccessPolicy(PRINCIPAL, vault.tenant_id, ["Get", "wrapkey", "UnwrapKey"])
    )
    assert key_permissions(world, vault, PRINCIPAL) == {"get", "wrapKey", "unwrapKey"}


def test_access_policy_of_another_tenant_does_not_apply() -> None:
    world, vault = a_world(rbac=False)
    vault.access_policies.append(AccessPolicy(PRINCIPAL, "other-tenant", ["get"]))
    assert key_permissions(world, vault, PRINCIPAL) == set()


SCOPES = {
    "subscription": "/subscriptions/00000000-0000-0000-0000-000000000000",
    "group": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-a",
    "vault": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
    "rg-a/providers/Microsoft.KeyVault/vaults/kv-a",
    "other-group": "/subscriptions/00000000-0000-0000-0000-000000000000/"
    "resourceGroups/rg-b",
    "other-vault": "/subscriptions/00000000-0000-0000-0000-000000000000/"
    "resourceGroups/rg-a/providers/Microsoft.KeyVault/vaults/kv-b",
}
ENCLOSING = {"subscription", "group", "vault"}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(SCOPES)),
            st.sampled_from(sorted(ROLE_KEY_PERMISSIONS)),
            st.booleans(),  # for this principal or someone else
        ),
        max_size=6,
    )
)
def test_rbac_grants_the_union_of_roles_at_enclosing_scopes(
    assignments: list[tuple[str, str, bool]],
) -> None:
    world, vault = a_world()
    expected: set[str] = set()
    for index, (scope, role, mine) in enumerate(assignments):
        principal = PRINCIPAL if mine else "someone-else"
        world.role_assignments[str(index)] = RoleAssignment(
            str(index), SCOPES[scope], role, principal
        )
        if mine and scope in ENCLOSING:
            expected |= ROLE_KEY_PERMISSIONS[role]
    assert key_permissions(world, vault, PRINCIPAL) == expected
