"""The Key Vault data plane (keys), one Starlette app per vault listener.

Routing matches path segments against a small table of its own (ROUTES)
rather than Starlette's router, because the SDK's paths are awkward for a
pattern router: `/keys/{name}/` (trailing slash) is the latest version,
`/keys/{name}//wrapkey` (an empty version) happens when CryptographyClient
falls back to remote operations, and `create`, `versions`, `rotate`,
`backup`, `rotationpolicy` must win over a version id.

The vault does not enforce its own network rules (public network access,
firewall): the operator's calls are treated as coming from an allowed
network. Whether an *instance* reaches a vault is the reachability model's
question (azuresim.reachability), not this module's.

RSA key generation runs in a worker thread, so a 4096-bit key does not stall
every listener; a handler re-checks the World after that wait. Every other
step runs on the event loop, which is what keeps the World free of locks.

Every call authenticates first (the SDK's first request carries neither a
token nor a body) and then checks the caller's key permissions on the vault,
from RBAC or access policies as the vault is configured. State decides every
error: a disabled key refuses unwrap because it is disabled, not because a
fault was injected.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from azuresim import backup
from azuresim.auth import Caller, vault_caller
from azuresim.errors import AzureError, VaultError
from azuresim.permissions import key_permissions
from azuresim.state import (
    DeletedKey,
    Key,
    KeyVersion,
    RotationPolicy,
    Vault,
    World,
    generate_rsa,
    new_version,
)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
DEFAULT_KEY_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
RSA_SIZES = (2048, 3072, 4096)
KEY_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_PAGE = 25
SERVICE_VERSION = "1.9.2714.1"
DEFAULT_NOTIFY = {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}

# Access-policy permission -> the RBAC data action Azure names in a 403.
DATA_ACTIONS = {
    "get": "Microsoft.KeyVault/vaults/keys/read",
    "list": "Microsoft.KeyVault/vaults/keys/read",
    "create": "Microsoft.KeyVault/vaults/keys/create/action",
    "update": "Microsoft.KeyVault/vaults/keys/write",
    "import": "Microsoft.KeyVault/vaults/keys/import/action",
    "delete": "Microsoft.KeyVault/vaults/keys/delete",
    "recover": "Microsoft.KeyVault/vaults/keys/recover/action",
    "backup": "Microsoft.KeyVault/vaults/keys/backup/action",
    "restore": "Microsoft.KeyVault/vaults/keys/restore/action",
    "purge": "Microsoft.KeyVault/vaults/deletedKeys/delete",
    "rotate": "Microsoft.KeyVault/vaults/keys/rotate/action",
    "getrotationpolicy": "Microsoft.KeyVault/vaults/keyrotationpolicies/read",
    "setrotationpolicy": "Microsoft.KeyVault/vaults/keyrotationpolicies/write",
    "wrapKey": "Microsoft.KeyVault/vaults/keys/wrap/action",
    "unwrapKey": "Microsoft.KeyVault/vaults/keys/unwrap/action",
    "encrypt": "Microsoft.KeyVault/vaults/keys/encrypt/action",
    "decrypt": "Microsoft.KeyVault/vaults/keys/decrypt/action",
}

# Crypto path segment -> (permission and key_ops name, needs the private key).
CRYPTO_OPERATIONS = {
    "wrapkey": ("wrapKey", False),
    "unwrapkey": ("unwrapKey", True),
    "encrypt": ("encrypt", False),
    "decrypt": ("decrypt", True),
    "sign": ("sign", True),
    "verify": ("verify", False),
}
SIGNATURE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


class Call:
    """One data-plane request, authenticated, with its vault and caller."""

    def __init__(
        self, request: Request, world: World, vault: Vault, caller: Caller
    ) -> None:
        self.request = request
        self.world = world
        self.vault = vault
        self.caller = caller
        self.now = world.clock.now()

    def require(self, permission: str, target: str = "") -> None:
        granted = key_permissions(
            self.world, self.vault, self.caller.principal.object_id
        )
        if permission in granted:
            return
        raise forbidden(self, permission, target)

    async def body(self) -> dict[str, Any]:
        raw = await self.request.body()
        if not raw.strip():
            return {}
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            raise VaultError(
                400, "BadParameter", "The request body is not valid JSON."
            ) from exc
        if not isinstance(parsed, dict):
            raise VaultError(400, "BadParameter", "The request body must be an object.")
        return parsed

    def kid(self, name: str, version: str | None = None) -> str:
        base = f"{self.vault.url}/keys/{name}"
        return base if version is None else f"{base}/{version}"


def vault_app(
    get_world: Callable[[], World], vault_name: str, authority: Callable[[], str]
) -> Starlette:
    """The data-plane app of the vault named `vault_name`."""

    async def endpoint(request: Request) -> Response:
        world = get_world()
        vault = world.vaults.get(vault_name)
        try:
            if vault is None:
                raise VaultError(404, "NotFound", f"Vault {vault_name} does not exist.")
            caller = vault_caller(
                world,
                request.headers.get("authorization"),
                authority(),
                vault.tenant_id,
            )
            if not request.query_params.get("api-version"):
                raise VaultError(
                    400,
                    "BadParameter",
                    "The 'api-version' query parameter is missing.",
                )
            call = Call(request, world, vault, caller)
            purge_expired(call)
            handler, args = route(request.method, request.url.path)
            response = await handler(call, *args)
        except AzureError as error:
            response = JSONResponse(
                error.body(), status_code=error.status, headers=error.headers
            )
        if vault is not None:
            _add_service_headers(response, request, vault)
        return response

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=ALL_METHODS)])


# --------------------------------------------------------------------------
# Routing


Endpoint = Callable[..., Awaitable[Response]]
NAME, VERSION, OPERATION = "{name}", "{version}", "{operation}"


def route(method: str, path: str) -> tuple[Endpoint, tuple[str, ...]]:
    """The handler for a request and its path arguments; the first pattern
    that matches the path decides (404 if none, 405 for a wrong method)."""
    parts = tuple(path.lstrip("/").split("/"))
    for pattern, handlers in ROUTES:
        args = _match(pattern, parts)
        if args is None:
            continue
        if method not in handlers:
            raise VaultError(
                405,
                "MethodNotAllowed",
                f"The method {method} is not allowed on {path}.",
            )
        return handlers[method], args
    raise VaultError(
        404, "NotFound", f"The simulator's Key Vault does not serve {method} {path}."
    )


def _match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> tuple[str, ...] | None:
    if len(pattern) != len(parts):
        return None
    args: list[str] = []
    for expected, part in zip(pattern, parts, strict=True):
        # An empty version segment means the latest version.
        if (expected == NAME and part) or expected == VERSION:
            args.append(part)
        elif expected == OPERATION and part.lower() in CRYPTO_OPERATIONS:
            args.append(part.lower())
        elif expected != part:
            return None
    return tuple(args)


# --------------------------------------------------------------------------
# Keys


async def create_key(call: Call, name: str) -> Response:
    _check_name(name)
    call.require("create", name)
    body = await call.body()
    kty = body.get("kty", "")
    # TODO: EC and oct keys are refused; TDE protectors are RSA, so nothing in
    # tdemesh needs them, but a generic Key Vault client would.
    if kty not in ("RSA", "RSA-HSM"):
        raise VaultError(
            400,
            "BadParameter",
            f"Key type '{kty}' is not supported by the simulator; use RSA or RSA-HSM.",
        )
    size = body.get("key_size") or 2048
    if size not in RSA_SIZES:
        raise VaultError(
            400,
            "BadParameter",
            f"Invalid key size {size}. RSA keys must be 2048, 3072 or 4096 bits.",
        )
    exponent = body.get("public_exponent") or 65537
    if exponent != 65537:
        raise VaultError(
            400, "BadParameter", "Only the public exponent 65537 is supported."
        )
    _refuse_if_deleted(call, name)

    private_key = await asyncio.to_thread(generate_rsa, size)
    _refuse_if_deleted(call, name)  # the World may have moved on meanwhile
    version = _new_version(call, private_key, kty, body)
    return JSONResponse(key_bundle(call, _append_version(call, name, version), version))


async def import_key(call: Call, name: str) -> Response:
    _check_name(name)
    call.require("import", name)
    body = await call.body()
    jwk = body.get("key")
    if not isinstance(jwk, dict):
        raise VaultError(400, "BadParameter", "Property 'key' is required.")
    if jwk.get("kty") not in ("RSA", "RSA-HSM"):
        raise VaultError(
            400, "BadParameter", "The simulator imports only RSA keys (kty RSA)."
        )
    _refuse_if_deleted(call, name)

    private_key = _private_key_from_jwk(jwk)
    kty = "RSA-HSM" if body.get("Hsm") or jwk.get("kty") == "RSA-HSM" else "RSA"
    spec = {**body, "key_ops": jwk.get("key_ops") or body.get("key_ops")}
    version = _new_version(call, private_key, kty, spec)
    return JSONResponse(key_bundle(call, _append_version(call, name, version), version))


async def get_key(call: Call, name: str, version: str = "") -> Response:
    call.require("get", name)
    key, key_version = _find(call, name, version)
    return JSONResponse(key_bundle(call, key, key_version))


async def update_key(call: Call, name: str, version: str = "") -> Response:
    call.require("update", name)
    body = await call.body()
    key, key_version = _find(call, name, version)
    attributes = body.get("attributes") or {}
    if "enabled" in attributes and attributes["enabled"] is not None:
        key_version.enabled = bool(attributes["enabled"])
    if "nbf" in attributes:
        key_version.not_before = _from_unix(attributes["nbf"])
    if "exp" in attributes:
        key_version.expires = _from_unix(attributes["exp"])
    if body.get("key_ops") is not None:
        key_version.key_ops = _key_ops(body["key_ops"])
    if body.get("tags") is not None:
        key_version.tags = dict(body["tags"])
    key_version.updated = call.now
    return JSONResponse(key_bundle(call, key, key_version))


async def rotate_key(call: Call, name: str) -> Response:
    call.require("rotate", name)
    _, latest = _find(call, name, "")
    private_key = await asyncio.to_thread(generate_rsa, latest.key_size)
    key, latest = _find(call, name, "")  # the World may have moved on meanwhile
    version = KeyVersion(
        version=new_version(),
        private_key=private_key,
        kty=latest.kty,
        key_ops=list(latest.key_ops),
        enabled=True,
        created=call.now,
        updated=call.now,
        tags=dict(latest.tags),
        exportable=latest.exportable,
    )
    if key.rotation_policy and key.rotation_policy.expiry_time:
        version.expires = call.now + iso_duration(key.rotation_policy.expiry_time)
    key.versions.append(version)
    call.world.event(
        "key_rotated", vault=call.vault.name, key=name, version=version.version
    )
    return JSONResponse(key_bundle(call, key, version))


async def list_keys(call: Call) -> Response:
    call.require("list")
    items = [
        _item(call, key, key.latest, call.kid(key.name))
        for key in sorted(call.vault.keys.values(), key=lambda k: k.name.lower())
    ]
    return JSONResponse(_page(call, items))


async def list_versions(call: Call, name: str) -> Response:
    call.require("list", name)
    key, _ = _find(call, name, "")
    versions = sorted(key.versions, key=lambda v: v.version)
    items = [_item(call, key, v, call.kid(name, v.version)) for v in versions]
    return JSONResponse(_page(call, items))


# --------------------------------------------------------------------------
# Rotation policy


async def get_rotation_policy(call: Call, name: str) -> Response:
    call.require("getrotationpolicy", name)
    key, _ = _find(call, name, "")
    return JSONResponse(_policy_body(call, key))


async def set_rotation_policy(call: Call, name: str) -> Response:
    call.require("setrotationpolicy", name)
    body = await call.body()
    key, _ = _find(call, name, "")
    actions = [a for a in body.get("lifetimeActions") or [] if isinstance(a, dict)]
    for action in actions:
        kind = str((action.get("action") or {}).get("type", ""))
        if kind.lower() not in ("rotate", "notify"):
            raise VaultError(400, "BadParameter", f"Unknown lifetime action '{kind}'.")
    if not any(
        str((a.get("action") or {}).get("type", "")).lower() == "notify"
        for a in actions
    ):
        actions.append(json.loads(json.dumps(DEFAULT_NOTIFY)))
    expiry = (body.get("attributes") or {}).get("expiryTime")
    if expiry is not None:
        iso_duration(expiry)  # refuse a malformed duration now, not at rotation

    created = key.rotation_policy.created if key.rotation_policy else call.now
    key.rotation_policy = RotationPolicy(actions, expiry, created, call.now)
    return JSONResponse(_policy_body(call, key))


def _policy_body(call: Call, key: Key) -> dict[str, Any]:
    policy = key.rotation_policy
    body: dict[str, Any] = {"id": f"{call.kid(key.name)}/rotationpolicy"}
    if policy is None:
        body["lifetimeActions"] = [DEFAULT_NOTIFY]
        body["attributes"] = {}
        return body
    body["lifetimeActions"] = [
        {"trigger": a.get("trigger", {}), "action": a.get("action", {})}
        for a in policy.lifetime_actions
    ]
    attributes: dict[str, Any] = {}
    if policy.expiry_time:
        attributes["expiryTime"] = policy.expiry_time
    attributes["created"] = _unix(policy.created)
    attributes["updated"] = _unix(policy.updated)
    body["attributes"] = attributes
    return body


# --------------------------------------------------------------------------
# Backup and restore


async def backup_key(call: Call, name: str) -> Response:
    call.require("backup", name)
    key, _ = _find(call, name, "")
    blob = backup.seal(key, call.vault.subscription_id, call.vault.geography)
    return JSONResponse({"value": b64url(blob)})


async def restore_key(call: Call) -> Response:
    call.require("restore")
    body = await call.body()
    try:
        opened = backup.open_blob(b64url_decode(str(body.get("value", ""))))
    except (backup.BackupUnreadable, VaultError, ValueError) as exc:
        raise cannot_decrypt() from exc
    if (
        opened.subscription_id != call.vault.subscription_id
        or opened.geography != call.vault.geography
    ):
        raise cannot_decrypt()

    key = opened.key
    if key.name in call.vault.keys or key.name in call.vault.deleted_keys:
        raise VaultError(
            409,
            "Conflict",
            f"There was a conflict restoring the key "
            f"'{call.kid(key.name, key.latest.version)}'. This can happen if either: "
            "a second key with the same name was created after the first key was "
            "deleted; thus trying to restore a key whose name is already in use. To "
            "fix this, rename the second key to something else so that the restore "
            "works. The second probable cause of this exception is when multiple "
            "operations are performed in parallel against the key. To avoid this "
            "error, perform operations against a key in a sequential manner.",
        )
    call.vault.keys[key.name] = key
    call.world.event("key_restored", vault=call.vault.name, key=key.name)
    return JSONResponse(key_bundle(call, key, key.latest))


def cannot_decrypt() -> VaultError:
    return VaultError(
        400,
        "BadParameter",
        "Cannot decrypt backup blob. A key backup restores only into a vault in "
        "the same subscription and the same Azure geography as the vault it was "
        "taken from.",
    )


# --------------------------------------------------------------------------
# Delete, recover, purge


async def delete_key(call: Call, name: str) -> Response:
    call.require("delete", name)
    key, _ = _find(call, name, "")
    del call.vault.keys[name]
    call.world.event("key_deleted", vault=call.vault.name, key=name)
    if not call.vault.enable_soft_delete:
        return JSONResponse(key_bundle(call, key, key.latest))
    days = call.vault.soft_delete_retention_days
    deleted = DeletedKey(key, call.now, call.now + timedelta(days=days))
    call.vault.deleted_keys[name] = deleted
    return JSONResponse(deleted_bundle(call, deleted))


async def get_deleted_key(call: Call, name: str) -> Response:
    call.require("get", name)
    return JSONResponse(deleted_bundle(call, _find_deleted(call, name)))


async def list_deleted_keys(call: Call) -> Response:
    call.require("list")
    items = []
    for name in sorted(call.vault.deleted_keys, key=str.lower):
        deleted = call.vault.deleted_keys[name]
        item = _item(call, deleted.key, deleted.key.latest, call.kid(name))
        items.append({**_deleted_fields(call, deleted), **item})
    return JSONResponse(_page(call, items))


async def recover_deleted_key(call: Call, name: str) -> Response:
    call.require("recover", name)
    deleted = _find_deleted(call, name)
    del call.vault.deleted_keys[name]
    call.vault.keys[name] = deleted.key
    call.world.event("key_recovered", vault=call.vault.name, key=name)
    return JSONResponse(key_bundle(call, deleted.key, deleted.key.latest))


async def purge_deleted_key(call: Call, name: str) -> Response:
    call.require("purge", name)
    _find_deleted(call, name)
    if call.vault.enable_purge_protection:
        raise VaultError(
            403,
            "Forbidden",
            'Operation "purge" is not allowed because purge protection is enabled '
            "for this vault. Key Vault service will automatically purge it after "
            "the retention period has passed.",
        )
    del call.vault.deleted_keys[name]
    call.world.event("key_purged", vault=call.vault.name, key=name)
    return Response(status_code=204)


def purge_expired(call: Call) -> None:
    """Soft-deleted keys past their scheduled purge date are gone."""
    for name, deleted in list(call.vault.deleted_keys.items()):
        if deleted.scheduled_purge <= call.now:
            del call.vault.deleted_keys[name]
            call.world.event("key_purged", vault=call.vault.name, key=name)


# --------------------------------------------------------------------------
# Cryptographic operations


async def crypto_operation(
    call: Call, name: str, version: str, operation: str
) -> Response:
    permission, private = CRYPTO_OPERATIONS[operation]
    call.require(permission, name)
    body = await call.body()
    key, key_version = _find(call, name, version)
    if private and not key_version.enabled:
        raise VaultError(
            403,
            "Forbidden",
            f"Operation {permission} is not allowed on a disabled key.",
            inner_code="KeyDisabled",
        )
    # TODO: the inner codes KeyNotYetValid, KeyExpired and KeyOperationForbidden
    # are not from a recording; a client matching on them may differ on Azure.
    if key_version.not_before and call.now < key_version.not_before:
        raise VaultError(
            403,
            "Forbidden",
            f"Operation {permission} is not allowed on a key that is not yet valid.",
            inner_code="KeyNotYetValid",
        )
    if key_version.expires and call.now >= key_version.expires:
        raise VaultError(
            403,
            "Forbidden",
            f"Operation {permission} is not allowed on an expired key.",
            inner_code="KeyExpired",
        )
    if permission not in key_version.key_ops:
        raise VaultError(
            403,
            "Forbidden",
            f"Operation {permission} is not permitted on this key: its key_ops are "
            f"{', '.join(key_version.key_ops) or 'empty'}.",
            inner_code="KeyOperationForbidden",
        )

    if operation in ("sign", "verify"):
        return _signature(call, name, key_version, operation, body)
    scheme = _padding(str(body.get("alg", "")))
    value = b64url_decode(str(body.get("value", "")))
    if private:
        try:
            result = key_version.private_key.decrypt(value, scheme)
        except ValueError as exc:
            raise VaultError(
                400, "BadParameter", f"{permission} failed: the value does not decrypt."
            ) from exc
    else:
        try:
            result = key_version.private_key.public_key().encrypt(value, scheme)
        except ValueError as exc:
            raise VaultError(
                400, "BadParameter", f"{permission} failed: the value is too long."
            ) from exc
    return JSONResponse(
        {"kid": call.kid(name, key_version.version), "value": b64url(result)}
    )


def _signature(
    call: Call, name: str, version: KeyVersion, operation: str, body: dict[str, Any]
) -> Response:
    """RS256/384/512 (PKCS#1 v1.5) and PS256/384/512 (PSS) over a digest."""
    alg = str(body.get("alg", ""))
    if alg[:2] not in ("RS", "PS") or alg[2:] not in SIGNATURE_HASHES:
        raise VaultError(
            400, "BadParameter", f"Algorithm '{alg}' is not supported for RSA keys."
        )
    digest_hash = SIGNATURE_HASHES[alg[2:]]()
    scheme: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if alg.startswith("RS")
        else padding.PSS(padding.MGF1(digest_hash), digest_hash.digest_size)
    )
    prehashed = Prehashed(digest_hash)
    if operation == "sign":
        digest = b64url_decode(str(body.get("value", "")))
        try:
            signature = version.private_key.sign(digest, scheme, prehashed)
        except ValueError as exc:
            raise VaultError(
                400, "BadParameter", f"The digest does not fit {alg}."
            ) from exc
        return JSONResponse(
            {"kid": call.kid(name, version.version), "value": b64url(signature)}
        )
    digest = b64url_decode(str(body.get("digest", "")))
    signature = b64url_decode(str(body.get("value", "")))
    try:
        version.private_key.public_key().verify(signature, digest, scheme, prehashed)
        valid = True
    except (InvalidSignature, ValueError):
        valid = False
    return JSONResponse({"value": valid})


def _padding(alg: str) -> padding.AsymmetricPadding:
    if alg == "RSA-OAEP":
        return padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    if alg == "RSA-OAEP-256":
        return padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    raise VaultError(
        400,
        "BadParameter",
        f"Algorithm '{alg}' is not supported; use RSA-OAEP, RSA-OAEP-256 or RSA1_5.",
    )


# --------------------------------------------------------------------------
# Rendering


def key_bundle(call: Call, key: Key, version: KeyVersion) -> dict[str, Any]:
    numbers = version.private_key.public_key().public_numbers()
    bundle: dict[str, Any] = {
        "key": {
            "kid": call.kid(key.name, version.version),
            "kty": version.kty,
            "key_ops": list(version.key_ops),
            "n": b64url(_int_bytes(numbers.n)),
            "e": b64url(_int_bytes(numbers.e)),
        },
        "attributes": attributes(call.vault, version),
    }
    if version.tags:
        bundle["tags"] = dict(version.tags)
    if key.managed:
        bundle["managed"] = True
    return bundle


def deleted_bundle(call: Call, deleted: DeletedKey) -> dict[str, Any]:
    return {
        **_deleted_fields(call, deleted),
        **key_bundle(call, deleted.key, deleted.key.latest),
    }


def attributes(vault: Vault, version: KeyVersion) -> dict[str, Any]:
    result: dict[str, Any] = {"enabled": version.enabled}
    if version.not_before is not None:
        result["nbf"] = _unix(version.not_before)
    if version.expires is not None:
        result["exp"] = _unix(version.expires)
    result["created"] = _unix(version.created)
    result["updated"] = _unix(version.updated)
    result["recoveryLevel"] = recovery_level(vault)
    if vault.enable_soft_delete:
        result["recoverableDays"] = vault.soft_delete_retention_days
    result["exportable"] = version.exportable
    result["hsmPlatform"] = "2" if version.kty.endswith("-HSM") else "0"
    result["key_size"] = version.key_size  # recorded from 2026 on
    return result


def recovery_level(vault: Vault) -> str:
    if not vault.enable_soft_delete:
        return "Purgeable"
    level = (
        "Recoverable"
        if vault.soft_delete_retention_days >= 90
        else "CustomizedRecoverable"
    )
    return level if vault.enable_purge_protection else f"{level}+Purgeable"


def _deleted_fields(call: Call, deleted: DeletedKey) -> dict[str, Any]:
    return {
        "recoveryId": f"{call.vault.url}/deletedkeys/{deleted.key.name}",
        "deletedDate": _unix(deleted.deleted),
        "scheduledPurgeDate": _unix(deleted.scheduled_purge),
    }


def _item(call: Call, key: Key, version: KeyVersion, kid: str) -> dict[str, Any]:
    item: dict[str, Any] = {"kid": kid, "attributes": attributes(call.vault, version)}
    if version.tags:
        item["tags"] = dict(version.tags)
    if key.managed:
        item["managed"] = True
    return item


def _page(call: Call, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of `items`, with an absolute nextLink as Key Vault gives it."""
    query = call.request.query_params
    size = MAX_PAGE
    if query.get("maxresults"):
        try:
            size = int(query["maxresults"])
        except ValueError as exc:
            raise VaultError(
                400, "BadParameter", "maxresults must be a number."
            ) from exc
        if not 1 <= size <= MAX_PAGE:
            raise VaultError(
                400, "BadParameter", f"maxresults must be between 1 and {MAX_PAGE}."
            )
    start = _skip(query.get("$skiptoken"))
    page = items[start : start + size]
    next_link = None
    if start + size < len(items):
        token = b64url(json.dumps({"offset": start + size}).encode())
        next_link = (
            f"{call.vault.url}{call.request.url.path}?api-version="
            f"{query.get('api-version')}&$skiptoken={token}"
        )
        if query.get("maxresults"):
            next_link += f"&maxresults={size}"
    return {"value": page, "nextLink": next_link}


def _skip(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(b64url_decode(token))["offset"]
    except (ValueError, KeyError, TypeError, VaultError) as exc:
        raise VaultError(400, "BadParameter", "The $skiptoken is not valid.") from exc
    return max(0, int(offset))


def _add_service_headers(response: Response, request: Request, vault: Vault) -> None:
    client = request.client.host if request.client else "127.0.0.1"
    response.headers["x-ms-keyvault-region"] = vault.location
    response.headers["x-ms-keyvault-service-version"] = SERVICE_VERSION
    response.headers["x-ms-keyvault-network-info"] = (
        f"conn_type=Ipv4;addr={client};act_addr_fam=InterNetwork;"
    )
    response.headers["x-ms-request-id"] = str(uuid.uuid4())
    if response.status_code != 204 and "content-type" in response.headers:
        response.headers["content-type"] = "application/json; charset=utf-8"


# --------------------------------------------------------------------------
# Helpers


def forbidden(call: Call, permission: str, target: str) -> VaultError:
    principal = call.caller.principal
    who = (
        f"appid={principal.client_id or principal.object_id};oid={principal.object_id};"
        f"iss=https://sts.windows.net/{call.vault.tenant_id}/"
    )
    where = f"{call.vault.name};location={call.vault.location}"
    if call.vault.enable_rbac_authorization:
        resource = call.vault.resource_id + (f"/keys/{target}" if target else "")
        return VaultError(
            403,
            "Forbidden",
            "Caller is not authorized to perform action on resource.\r\n"
            "If role assignments, deny assignments or role definitions were changed "
            "recently, please observe propagation time.\r\n"
            f"Caller: {who}\r\nAction: '{DATA_ACTIONS[permission]}'\r\n"
            f"Resource: '{resource.lower()}'\r\nAssignment: (not found)\r\n"
            f"DenyAssignmentId: null\r\nDecisionReason: null \r\nVault: {where}\r\n"
            f"Missing key permission: {permission}\r\n",
            inner_code="ForbiddenByRbac",
        )
    return VaultError(
        403,
        "Forbidden",
        f"The user, group or application '{who}' does not have keys {permission} "
        f"permission on key vault '{where}'. For help resolving this issue, please "
        "see https://go.microsoft.com/fwlink/?linkid=2125287",
        inner_code="AccessDenied",
    )


def _check_name(name: str) -> None:
    if not KEY_NAME.match(name):
        raise VaultError(
            400,
            "BadParameter",
            f"The key name '{name}' is invalid: use 1-127 letters, digits and dashes.",
        )


def _refuse_if_deleted(call: Call, name: str) -> None:
    if name in call.vault.deleted_keys:
        raise VaultError(
            409,
            "Conflict",
            f"Key {name} is currently in a deleted but recoverable state, and its "
            "name cannot be reused; in this state, the key can only be recovered or "
            "purged.",
            inner_code="ObjectIsDeletedButRecoverable",
        )


def _find(call: Call, name: str, version: str) -> tuple[Key, KeyVersion]:
    key = call.vault.keys.get(name)
    if key is not None:
        found = key.latest if not version else key.version(version)
        if found is not None:
            return key, found
    shown = f"{name}/{version}" if version else name
    raise VaultError(
        404,
        "KeyNotFound",
        f"A key with (name/id) {shown} was not found in this key vault. If you "
        "recently deleted this key you may be able to recover it using the correct "
        "recovery command. For help resolving this issue, please see "
        "https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def _find_deleted(call: Call, name: str) -> DeletedKey:
    deleted = call.vault.deleted_keys.get(name)
    if deleted is None:
        raise VaultError(404, "KeyNotFound", f"Deleted Key not found: {name}")
    return deleted


def _new_version(
    call: Call, private_key: rsa.RSAPrivateKey, kty: str, spec: dict[str, Any]
) -> KeyVersion:
    attrs = spec.get("attributes") or {}
    enabled = attrs.get("enabled")
    return KeyVersion(
        version=new_version(),
        private_key=private_key,
        kty=kty,
        key_ops=_key_ops(spec.get("key_ops") or DEFAULT_KEY_OPS),
        enabled=True if enabled is None else bool(enabled),
        created=call.now,
        updated=call.now,
        not_before=_from_unix(attrs.get("nbf")),
        expires=_from_unix(attrs.get("exp")),
        tags=dict(spec.get("tags") or {}),
        exportable=bool(attrs.get("exportable", False)),
    )


def _append_version(call: Call, name: str, version: KeyVersion) -> Key:
    key = call.vault.keys.get(name)
    if key is None:
        key = Key(name=name, versions=[])
        call.vault.keys[name] = key
    key.versions.append(version)
    return key


def _key_ops(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(op, str) for op in value):
        raise VaultError(400, "BadParameter", "key_ops must be a list of strings.")
    return list(value)


def _private_key_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPrivateKey:
    try:
        n, e, d, p, q = (_jwk_int(jwk[f]) for f in ("n", "e", "d", "p", "q"))
        dp = _jwk_int(jwk["dp"]) if jwk.get("dp") else rsa.rsa_crt_dmp1(d, p)
        dq = _jwk_int(jwk["dq"]) if jwk.get("dq") else rsa.rsa_crt_dmq1(d, q)
        qi = _jwk_int(jwk["qi"]) if jwk.get("qi") else rsa.rsa_crt_iqmp(p, q)
        public = rsa.RSAPublicNumbers(e, n)
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public).private_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise VaultError(
            400,
            "BadParameter",
            "The key to import must be a complete RSA private key "
            "(n, e, d, p, q, dp, dq, qi).",
        ) from exc


def _jwk_int(value: Any) -> int:
    return int.from_bytes(b64url_decode(str(value)), "big")


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise VaultError(400, "BadParameter", "The value is not base64url.") from exc


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _from_unix(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise VaultError(400, "BadParameter", f"Invalid time value {value!r}.") from exc


_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)


def iso_duration(text: str) -> timedelta:
    """An ISO 8601 duration as Key Vault policies use it (P90D, P1Y, P2M)."""
    match = _DURATION.match(str(text))
    if not match or text in ("P", "PT"):
        raise VaultError(400, "BadParameter", f"Invalid ISO 8601 duration '{text}'.")
    years, months, weeks, days, hours, minutes, seconds = (
        int(g) if g else 0 for g in match.groups()
    )
    return timedelta(
        days=years * 365 + months * 30 + weeks * 7 + days,
        hours=hours,
        minutes=minutes,
        seconds=seconds,
    )


# Literal segments first: `create`, `versions` ... win over a version id.
ROUTES: list[tuple[tuple[str, ...], dict[str, Endpoint]]] = [
    (("keys",), {"GET": list_keys}),
    (("keys", ""), {"GET": list_keys}),
    (("keys", "restore"), {"POST": restore_key}),
    (
        ("keys", NAME),
        {"PUT": import_key, "DELETE": delete_key, "GET": get_key, "PATCH": update_key},
    ),
    (("keys", NAME, "create"), {"POST": create_key}),
    (("keys", NAME, "versions"), {"GET": list_versions}),
    (("keys", NAME, "rotate"), {"POST": rotate_key}),
    (("keys", NAME, "backup"), {"POST": backup_key}),
    (
        ("keys", NAME, "rotationpolicy"),
        {"GET": get_rotation_policy, "PUT": set_rotation_policy},
    ),
    (("keys", NAME, VERSION), {"GET": get_key, "PATCH": update_key}),
    (("keys", NAME, VERSION, OPERATION), {"POST": crypto_operation}),
    (("deletedkeys",), {"GET": list_deleted_keys}),
    (("deletedkeys", NAME), {"GET": get_deleted_key, "DELETE": purge_deleted_key}),
    (("deletedkeys", NAME, "recover"), {"POST": recover_deleted_key}),
]
