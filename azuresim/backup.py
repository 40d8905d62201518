"""Key backup blobs: opaque to clients, bound to a subscription and geography.

Azure seals a key backup so that only Key Vault, in the same subscription and
the same geography, can open it. The simulator seals the blob with AES-GCM
under a key only this simulator process knows (kept in its state directory
when it has one), and records the source subscription and geography inside
the sealed payload; restore opens it and enforces both.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from azuresim.state import Key, KeyVersion, RotationPolicy

PREFIX = b"&AzureSimKeyBackupV1.azuresim.local"
SEALING_KEY_FILE = "backup-sealing.key"
_AAD = b"azuresim key backup"

_sealing_key: bytes = AESGCM.generate_key(bit_length=256)


class BackupUnreadable(Exception):
    """The blob was not made by this simulator, or was altered."""


@dataclass(frozen=True)
class OpenedBackup:
    subscription_id: str
    geography: str
    key: Key


def load_sealing_key(state_dir: Path) -> None:
    """Use (or create) the sealing key kept in `state_dir`, so blobs survive a
    restart of the simulator."""
    global _sealing_key
    path = state_dir / SEALING_KEY_FILE
    if path.exists() and len(path.read_bytes()) == 32:
        _sealing_key = path.read_bytes()
        return
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(_sealing_key)


def seal(key: Key, subscription_id: str, geography: str) -> bytes:
    payload = {
        "subscription_id": subscription_id,
        "geography": geography,
        "name": key.name,
        "managed": key.managed,
        "versions": [_version_to_json(v) for v in key.versions],
        "rotation_policy": _policy_to_json(key.rotation_policy),
    }
    nonce = os.urandom(12)
    sealed = AESGCM(_sealing_key).encrypt(nonce, json.dumps(payload).encode(), _AAD)
    return PREFIX + nonce + sealed


def open_blob(blob: bytes) -> OpenedBackup:
    if not blob.startswith(PREFIX) or len(blob) < len(PREFIX) + 28:
        raise BackupUnreadable("not a key backup")
    body = blob[len(PREFIX) :]
    try:
        plain = AESGCM(_sealing_key).decrypt(body[:12], body[12:], _AAD)
    except InvalidTag as exc:
        raise BackupUnreadable("the blob does not open with this sealing key") from exc
    payload: dict[str, Any] = json.loads(plain)
    key = Key(
        name=payload["name"],
        versions=[_version_from_json(v) for v in payload["versions"]],
        rotation_policy=_policy_from_json(payload.get("rotation_policy")),
        managed=bool(payload.get("managed", False)),
    )
    return OpenedBackup(payload["subscription_id"], payload["geography"], key)


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _version_to_json(version: KeyVersion) -> dict[str, Any]:
    pem = version.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "version": version.version,
        "private_key": base64.b64encode(pem).decode(),
        "kty": version.kty,
        "key_ops": version.key_ops,
        "enabled": version.enabled,
        "created": _ts(version.created),
        "updated": _ts(version.updated),
        "not_before": _ts(version.not_before),
        "expires": _ts(version.expires),
        "tags": version.tags,
        "exportable": version.exportable,
    }


def _version_from_json(data: dict[str, Any]) -> KeyVersion:
    private_key = serialization.load_pem_private_key(
        base64.b64decode(data["private_key"]), password=None
    )
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise BackupUnreadable("the blob holds a key type the simulator cannot use")
    created = _dt(data["created"])
    updated = _dt(data["updated"])
    assert created is not None and updated is not None
    return KeyVersion(
        version=data["version"],
        private_key=private_key,
        kty=data["kty"],
        key_ops=list(data["key_ops"]),
        enabled=bool(data["enabled"]),
        created=created,
        updated=updated,
        not_before=_dt(data.get("not_before")),
        expires=_dt(data.get("expires")),
        tags=dict(data.get("tags") or {}),
        exportable=bool(data.get("exportable", False)),
    )


def _policy_to_json(policy: RotationPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "lifetime_actions": policy.lifetime_actions,
        "expiry_time": policy.expiry_time,
        "created": _ts(policy.created),
        "updated": _ts(policy.updated),
    }


def _policy_from_json(data: dict[str, Any] | None) -> RotationPolicy | None:
    if not data:
        return None
    created = _dt(data["created"])
    updated = _dt(data["updated"])
    assert created is not None and updated is not None
    return RotationPolicy(
        lifetime_actions=list(data["lifetime_actions"]),
        expiry_time=data.get("expiry_time"),
        created=created,
        updated=updated,
    )
