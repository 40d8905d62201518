"""Which Key Vault key permissions a principal holds on a vault.

A vault authorises its data plane one of two ways, never both: Azure RBAC
(role assignments at the vault's scope or any scope enclosing it) when
`enable_rbac_authorization` is set, else the vault's access policies. Both are
reduced here to the access-policy permission names, so the data plane and the
instances' behaviour ask one question the same way.
"""

from __future__ import annotations

from azuresim.state import (
    ROLE_KEY_VAULT_ADMINISTRATOR,
    ROLE_KEY_VAULT_CRYPTO_OFFICER,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER,
    ROLE_KEY_VAULT_CRYPTO_USER,
    ROLE_KEY_VAULT_READER,
    Vault,
    World,
)

KEY_MANAGEMENT = frozenset(
    {
        "get",
        "list",
        "create",
        "update",
        "import",
        "delete",
        "recover",
        "backup",
        "restore",
        "purge",
        "rotate",
        "getrotationpolicy",
        "setrotationpolicy",
    }
)
CRYPTOGRAPHIC = frozenset(
    {"encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify"}
)
ALL_KEY_PERMISSIONS = KEY_MANAGEMENT | CRYPTOGRAPHIC

# Built-in role -> the key permissions its data actions grant.
ROLE_KEY_PERMISSIONS: dict[str, frozenset[str]] = {
    ROLE_KEY_VAULT_ADMINISTRATOR: ALL_KEY_PERMISSIONS,
    ROLE_KEY_VAULT_CRYPTO_OFFICER: ALL_KEY_PERMISSIONS,
    ROLE_KEY_VAULT_CRYPTO_USER: frozenset({"get", "list"}) | CRYPTOGRAPHIC,
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: frozenset(
        {"get", "wrapKey", "unwrapKey"}
    ),
    ROLE_KEY_VAULT_READER: frozenset({"get", "list"}),
}

# Access policies are case-insensitive on the wire ("wrapkey", "WrapKey").
_CANONICAL = {name.lower(): name for name in ALL_KEY_PERMISSIONS}


def key_permissions(world: World, vault: Vault, object_id: str) -> set[str]:
    """The key permissions `object_id` holds on `vault`, as the vault is
    configured (RBAC or access policies)."""
    if vault.enable_rbac_authorization:
        return _from_role_assignments(world, vault, object_id)
    return _from_access_policies(vault, object_id)


def scope_encloses(scope: str, resource_id: str) -> bool:
    """True when an assignment at `scope` applies to `resource_id`: the same
    resource or an ancestor (resource group, subscription, management root)."""
    outer = scope.rstrip("/").lower()
    inner = resource_id.rstrip("/").lower()
    return outer == "" or inner == outer or inner.startswith(outer + "/")


def role_definition_guid(role_definition_id: str) -> str:
    """The GUID at the end of a role definition id (or the GUID itself)."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def _from_role_assignments(world: World, vault: Vault, object_id: str) -> set[str]:
    granted: set[str] = set()
    for assignment in world.role_assignments.values():
        if assignment.principal_id != object_id:
            continue
        if not scope_encloses(assignment.scope, vault.resource_id):
            continue
        role = role_definition_guid(assignment.role_definition_id)
        granted |= ROLE_KEY_PERMISSIONS.get(role, frozenset())
    return granted


def _from_access_policies(vault: Vault, object_id: str) -> set[str]:
    granted: set[str] = set()
    for policy in vault.access_policies:
        if policy.object_id != object_id or policy.tenant_id != vault.tenant_id:
            continue
        for name in policy.key_permissions:
            if name.lower() == "all":
                granted |= ALL_KEY_PERMISSIONS
            elif name.lower() in _CANONICAL:
                granted.add(_CANONICAL[name.lower()])
    return granted
