"""Key material and the three routes that put one key into both vaults.

Created in the primary vault and copied by backup and restore (same
subscription and geography only), imported from an HSM export (a JSON Web
Key file), or imported from a PEM file the operator made with OpenSSL.
Private key material is read from the operator's file when a step needs it
and dropped right after; it is never remembered, logged or journaled.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mesh.snapshot import Snapshot
from runbooks.errors import Refused
from runbooks.estate import GEOGRAPHY, Estate, thumbprint_of

ROUTES = ("backup-restore", "hsm", "pem")
SIZES = (2048, 3072)
ALTERNATIVES = (
    "import the same material into both vaults instead: route=pem with a key "
    "made by `openssl genrsa -out tde.pem 3072`, or route=hsm with your HSM's "
    "export; or let both instances use one vault"
)


def load_private_key(route: str, path: str) -> rsa.RSAPrivateKey:
    """The RSA private key in an operator's file, checked for TDE's needs."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as error:
        raise Refused(
            "Key file unreadable",
            f"cannot read {file} ({error.strerror})",
            "Give the path of the key file with -p key_file=PATH.",
        ) from error
    key = _from_jwk(data, file) if route == "hsm" else _from_pem(data, file)
    if key.key_size not in SIZES:
        raise Refused(
            "Key size not accepted",
            f"{file} holds an RSA {key.key_size}-bit key; Managed Instance "
            "accepts RSA 2048 or 3072 only",
            "Make a 2048- or 3072-bit RSA key.",
        )
    return key


def _from_pem(data: bytes, file: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise Refused(
            "Not a PEM private key",
            f"{file} is not an unencrypted PEM private key",
            "Make one with `openssl genrsa -out tde.pem 3072` (or convert it "
            "with `openssl pkey -in key.pem -out tde.pem`).",
        ) from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Refused(
            "Not an RSA key",
            f"{file} holds a {type(key).__name__}",
            "The TDE protector must be an RSA key.",
        )
    return key


def _from_jwk(data: bytes, file: Path) -> rsa.RSAPrivateKey:
    # TODO: real HSM exports (.byok) wrap the key under a key-exchange key
    # that only Key Vault can open; we accept the HSM's plain JSON Web Key
    # export, so a .byok transfer still has to be done with the vendor tool.
    try:
        jwk: Mapping[str, Any] = json.loads(data)
        numbers = rsa.RSAPrivateNumbers(
            p=_int(jwk["p"]),
            q=_int(jwk["q"]),
            d=_int(jwk["d"]),
            dmp1=_int(jwk["dp"]),
            dmq1=_int(jwk["dq"]),
            iqmp=_int(jwk["qi"]),
            public_numbers=rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])),
        )
        return numbers.private_key()
    except (ValueError, KeyError, TypeError) as error:
        raise Refused(
            "Not an HSM key export",
            f"{file} is not a JSON Web Key with an RSA private key (kty, n, e, "
            "d, p, q, dp, dq, qi)",
            "Export the key from the HSM as a JSON Web Key.",
        ) from error


def _int(text: str) -> int:
    padded = text + "=" * (-len(text) % 4)
    return int.from_bytes(base64.urlsafe_b64decode(padded), "big")


def file_thumbprint(route: str, path: str) -> str:
    return thumbprint_of(load_private_key(route, path).public_key())


def check_copy_route(estate: Estate, snapshot: Snapshot, source: str) -> None:
    """Refuse backup and restore when the two vaults differ in subscription
    or geography: Key Vault cannot restore the blob there."""
    target = estate.other(source)
    vaults = [snapshot.vault(estate.vault(r)) for r in (source, target)]
    locations = [
        (v.location if v and v.location else r).lower().replace(" ", "")
        for v, r in zip(vaults, (source, target), strict=True)
    ]
    geographies = [GEOGRAPHY.get(loc, loc) for loc in locations]
    subscriptions = [
        v.resource_id.split("/")[2].lower() if v and v.resource_id else "?"
        for v in vaults
    ]
    reasons = []
    if geographies[0] != geographies[1]:
        reasons.append(
            f"vault {estate.vault(source)} is in {locations[0]} "
            f"({geographies[0]}) and {estate.vault(target)} in {locations[1]} "
            f"({geographies[1]}): a backup restores only within one geography"
        )
    if subscriptions[0] != subscriptions[1]:
        reasons.append(
            "the vaults are in different subscriptions: a backup restores "
            "only within one subscription"
        )
    if reasons:
        raise Refused(
            "Backup and restore cannot copy this key",
            "; ".join(reasons),
            ALTERNATIVES[0].upper() + ALTERNATIVES[1:] + ".",
        )
