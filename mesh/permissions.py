"""Which Key Vault key permissions a principal holds on a vault, from what
a probe read: role assignments (RBAC vaults) or access policies.

Only Azure's built-in Key Vault roles are known by their GUIDs; a custom role
grants nothing we can vouch for, so it is reported as unknown, not as
granted.
"""

from __future__ import annotations

from mesh.snapshot import Vault

ROLE_KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
ROLE_KEY_VAULT_CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
ROLE_KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
ROLE_KEY_VAULT_READER = "21090545-7ca7-4776-b22c-e363652d74d2"

ROLE_NAMES = {
    ROLE_KEY_VAULT_ADMINISTRATOR: "Key Vault Administrator",
    ROLE_KEY_VAULT_CRYPTO_OFFICER: "Key Vault Crypto Officer",
    ROLE_KEY_VAULT_CRYPTO_USER: "Key Vault Crypto User",
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: (
        "Key Vault Crypto Service Encryption User"
    ),
    ROLE_KEY_VAULT_READER: "Key Vault Reader",
}

_CRYPTO = frozenset({"encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify"})
_MANAGE = frozenset(
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
ROLE_KEY_PERMISSIONS: dict[str, frozenset[str]] = {
    ROLE_KEY_VAULT_ADMINISTRATOR: _CRYPTO | _MANAGE,
    ROLE_KEY_VAULT_CRYPTO_OFFICER: _CRYPTO | _MANAGE,
    ROLE_KEY_VAULT_CRYPTO_USER: _CRYPTO | {"get", "list"},
    ROLE_KEY_VAULT_CRYPTO_SERVICE_ENCRYPTION_USER: frozenset(
        {"get", "wrapkey", "unwrapkey"}
    ),
    ROLE_KEY_VAULT_READER: frozenset({"get", "list"}),
}

# What an instance needs on its protector's vault.
TDE_PERMISSIONS = ("get", "wrapKey", "unwrapKey")


def scope_encloses(scope: str, resource_id: str) -> bool:
    outer = scope.rstrip("/").lower()
    inner = resource_id.rstrip("/").lower()
    return outer == "" or inner == outer or inner.startswith(outer + "/")


def role_guid(role_definition_id: str) -> str:
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def key_permissions(vault: Vault, principal_id: str) -> frozenset[str] | None:
    """Lower-case key permissions of `principal_id` on `vault`; None if the
    vault's authorisation could not be read."""
    if vault.rbac_authorization is None:
        return None
    wanted = principal_id.lower()
    if vault.rbac_authorization:
        if vault.role_assignments is None:
            return None
        granted: set[str] = set()
        for assignment in vault.role_assignments:
            if assignment.principal_id.lower() != wanted:
                continue
            if not scope_encloses(assignment.scope, vault.resource_id):
                continue
            granted |= ROLE_KEY_PERMISSIONS.get(
                role_guid(assignment.role_definition_id), frozenset()
            )
        return frozenset(granted)
    granted = set()
    for policy in vault.access_policies:
        if policy.object_id.lower() == wanted:
            names = {p.lower() for p in policy.key_permissions}
            granted |= (_CRYPTO | _MANAGE) if "all" in names else names
    return frozenset(granted)


def missing_tde_permissions(vault: Vault, principal_id: str) -> tuple[str, ...] | None:
    """Which of get, wrapKey, unwrapKey are missing; None when unknown."""
    granted = key_permissions(vault, principal_id)
    if granted is None:
        return None
    return tuple(p for p in TDE_PERMISSIONS if p.lower() not in granted)


def grant_fix(vault: Vault, principal_id: str) -> str:
    """The words that tell an operator how to grant TDE access on `vault`."""
    if vault.rbac_authorization:
        return (
            "assign the role 'Key Vault Crypto Service Encryption User' to "
            f"principal {principal_id} at the scope of vault {vault.name} "
            "(az role assignment create --role 'Key Vault Crypto Service "
            f"Encryption User' --assignee-object-id {principal_id} --scope "
            f"{vault.resource_id})"
        )
    return (
        f"add an access policy on vault {vault.name} for object id "
        f"{principal_id} with key permissions get, wrapKey, unwrapKey "
        f"(az keyvault set-policy -n {vault.name} --object-id {principal_id} "
        "--key-permissions get wrapKey unwrapKey)"
    )
