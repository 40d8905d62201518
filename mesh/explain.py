"""Azure's error answers, explained: what is missing and the fix.

Pure functions from (operation, resource, status, code, message) to a
`GatewayError`. The SQL error codes are the ones the Managed Instance key and
protector operations document; the Key Vault inner codes are those the data
plane sends with a 403.
"""

from __future__ import annotations

from mesh.errors import (
    AccessDenied,
    Conflict,
    GatewayError,
    NotAuthenticated,
    NotFound,
    Rejected,
)

TDE_GRANT = (
    "grant the instance's managed identity get, wrapKey and unwrapKey on the "
    "vault: on an RBAC vault the role 'Key Vault Crypto Service Encryption "
    "User' at the vault's scope, on an access-policy vault an access policy "
    "with key permissions get, wrapKey, unwrapKey"
)

_SQL_FIXES: dict[str, tuple[str, str]] = {
    "AkvKeyOperationNotAllowed": (
        "the instance identity may not use the key",
        TDE_GRANT,
    ),
    "AkvKeyAccessDenied": ("the instance identity may not use the key", TDE_GRANT),
    "AkvKeyOperationNotAllowedByRBAC": (
        "the instance identity lacks get, wrapKey or unwrapKey (RBAC)",
        TDE_GRANT,
    ),
    "AzureKeyVaultMissingPermissions": (
        "the instance identity lacks get, wrapKey or unwrapKey on the vault",
        TDE_GRANT,
    ),
    "AzureKeyVaultNoServerIdentity": (
        "the instance has no managed identity",
        "assign a system-assigned identity to the instance, then grant it "
        "access to the vault",
    ),
    "AkvKeyOperationNotAllowedByFirewall": (
        "the vault's firewall refused the instance",
        "reach the vault over an Approved private endpoint, or allow trusted "
        "Microsoft services",
    ),
    "AkvHostNotResolvingFromNode": (
        "the instance cannot resolve or reach the vault's host",
        "check the private endpoint (Approved), its DNS record in "
        "privatelink.vaultcore.azure.net, and the subnet's NSG (outbound 443)",
    ),
    "AkvEndpointNotReachableFromNode": (
        "the instance cannot reach the vault",
        "check the private endpoint (Approved) and the subnet's NSG (outbound "
        "443 to the endpoint's address)",
    ),
    "AzureKeyVaultConnectionFailed": (
        "the instance could not connect to the vault",
        "check the private endpoint, DNS and NSG, then retry",
    ),
    "AkvKeyDisabled": ("the key is disabled", "enable the key version"),
    "AzureKeyVaultKeyDisabled": ("the key is disabled", "enable the key version"),
    "AkvKeyDeleted": (
        "the key is deleted",
        "recover the key (soft delete keeps it for the retention period)",
    ),
    "AzureKeyVaultRsaKeyNotSupported": (
        "the key is not an RSA key of 2048 or 3072 bits",
        "use an RSA or RSA-HSM key of 2048 or 3072 bits",
    ),
    "AzureKeyVaultInvalidExpirationDate": (
        "the key has expired or its dates make it unusable",
        "extend or clear the key's expiry",
    ),
    "SecurityInvalidAzureKeyVaultRecoveryLevel": (
        "the vault lacks soft delete or purge protection",
        "enable soft delete and purge protection on the vault "
        "(az keyvault update --enable-purge-protection true)",
    ),
    "AzureKeyVaultMalformedVaultUri": (
        "the key URI is not a versioned Key Vault key identifier",
        "use https://<vault>.vault.azure.net/keys/<name>/<version>",
    ),
    "InvalidKeyName": (
        "the key's name does not match its URI",
        "name the key {vault}_{key}_{version} as in its URI",
    ),
    "SecurityAzureKeyVaultInvalidKeyName": (
        "the vault name and key name exceed 94 characters together",
        "use a shorter key name",
    ),
    "KeyMaterialNotFoundOnRemoteServer": (
        "the failover partner does not hold this key material",
        "register the key on the partner instance first (secondary first)",
    ),
    "SameKeyMaterialNotFoundOnRemoteServer": (
        "the failover partner does not hold this key material",
        "register the key on the partner instance first (secondary first)",
    ),
    "SameKeyUriNotFoundOnRemoteServer": (
        "with auto-rotation the partner must hold the same key URI",
        "register the same key URI on the partner instance, then retry",
    ),
    "AzureKeyVaultKeyInUse": (
        "the key is the instance's current protector",
        "set another protector first, then remove the key",
    ),
    "AzureKeyVaultKeyUsedOnGeoPrimary": (
        "the key protects the geo-primary's databases",
        "keep the key registered while the geo-primary uses it",
    ),
    "ServerKeyNotFound": (
        "the key is not registered on the instance",
        "register the key on the instance before setting it as protector",
    ),
    "ServerKeyNameAlreadyExists": (
        "a key of that name is already registered",
        "nothing to do if it is the same URI; otherwise remove it first",
    ),
    "ServerKeyUriAlreadyExists": (
        "that key URI is already registered",
        "nothing to do: the key is registered",
    ),
    "OldGenerationOfAKVKeyBeingUsedError": (
        "the protector must use the latest version of the key",
        "use the key's latest version",
    ),
    "ManagedInstanceNoConditionToMakeDatabaseAccessible": (
        "the instance still has no usable copy of its protector",
        "fix the key path (permission, key state, network) before revalidating",
    ),
    "FailoverDatabasesInaccessible": (
        "databases are Inaccessible, so a planned failover cannot start",
        "fix the key paths and revalidate the protector first",
    ),
    "PrivateEndpointConnectionRejected": (
        "a rejected private endpoint connection cannot be approved",
        "recreate the private endpoint in the instance's network, then approve "
        "its new connection on the vault",
    ),
    "ConflictingServerOperation": (
        "another operation on the resource is in progress",
        "wait for it to finish, then retry",
    ),
}

# Key Vault data-plane operation -> the access-policy permission it needs.
KEY_PERMISSION = {
    "keys.list": "list",
    "keys.list_versions": "list",
    "keys.get": "get",
    "keys.create": "create",
    "keys.import": "import",
    "keys.update": "update",
    "keys.backup": "backup",
    "keys.restore": "restore",
    "keys.rotate": "rotate",
    "keys.delete": "delete",
    "keys.recover": "recover",
    "keys.get_rotation_policy": "getrotationpolicy",
    "keys.set_rotation_policy": "setrotationpolicy",
    "keys.wrap": "wrapKey",
    "keys.unwrap": "unwrapKey",
}

# ARM operation prefix -> the built-in role an operator needs for it.
ARM_ROLE = {
    "sql.": "SQL Managed Instance Contributor",
    "network.": "Network Contributor",
    "vaults.": "Key Vault Contributor",
    "role_assignments.": "User Access Administrator (or Role Based Access "
    "Control Administrator)",
}


def explain(
    operation: str,
    resource: str,
    status: int | None,
    code: str | None,
    message: str,
) -> GatewayError:
    """The domain error for an Azure 4xx answer."""
    code = code or ""

    def build(cls: type[GatewayError], what: str, fix: str) -> GatewayError:
        return cls(
            what,
            resource,
            fix,
            operation=operation,
            status=status,
            code=code,
            message=message,
        )

    if code in _SQL_FIXES:
        what, fix = _SQL_FIXES[code]
        cls: type[GatewayError] = AccessDenied if "identity" in what else Rejected
        if status == 409:
            cls = Conflict
        return build(cls, f"{operation}: {what} ({code}: {message})", fix)
    if status == 401:
        return build(
            NotAuthenticated,
            f"{operation}: Azure did not accept the credential ({message})",
            "sign in again (az login), or check the client id and secret",
        )
    if status == 403:
        return build(
            AccessDenied,
            f"{operation}: access denied ({code or 'Forbidden'}: {message})",
            _forbidden_fix(operation, resource, code, message),
        )
    if status == 404:
        return build(
            NotFound,
            f"{operation}: {resource} was not found ({message})",
            "check the name in the config (tdemesh discover rebuilds it), or "
            "create the resource",
        )
    if status == 409:
        return build(
            Conflict,
            f"{operation}: conflict ({code}: {message})",
            "the resource exists already or is busy; check its state and retry",
        )
    return build(
        Rejected,
        f"{operation}: Azure refused the request ({status} {code}: {message})",
        "correct the request as the message says",
    )


def _forbidden_fix(operation: str, resource: str, code: str, message: str) -> str:
    text = f"{code} {message}".lower()
    if "firewall" in text:
        return (
            "the vault's firewall refused this machine: reach it over its "
            "private endpoint (run tdemesh inside the network), or add your "
            "address to the vault's firewall"
        )
    if "disabled" in text:
        return "the key is disabled: enable the key version"
    if operation in KEY_PERMISSION:
        permission = KEY_PERMISSION[operation]
        return (
            f"the operator needs the key permission '{permission}' on {resource}: "
            "assign 'Key Vault Crypto Officer' (RBAC vault) or add it to the "
            "operator's access policy"
        )
    for prefix, role in ARM_ROLE.items():
        if operation.startswith(prefix):
            return f"the operator needs the role '{role}' on {resource} or its group"
    return "grant the operator the role this operation needs on the resource"
