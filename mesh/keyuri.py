"""Key Vault key URIs, in the forms operators paste, judged as MI judges them.

Operators copy key ids from the portal, from `Get-AzKeyVaultKey` (which adds
`:443`), from a chat window (whitespace, a line break), or type them (upper
case, a trailing slash, no version). Key Vault tolerates most of that; a
managed instance does not accept a versionless URI at all. This module turns
any of those forms into one canonical versioned id, says what it tidied, and
says what Managed Instance would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_KEY_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Fa-f]{32}$")
MAX_VAULT_AND_KEY_NAME = 94


class KeyUriError(ValueError):
    """A key URI that cannot be read at all; says why and the fix."""

    def __init__(self, text: str, problem: str, fix: str) -> None:
        self.text = text
        self.problem = problem
        self.fix = fix
        super().__init__(f"key URI {text!r}: {problem}; fix: {fix}")


@dataclass(frozen=True)
class KeyUri:
    raw: str
    host: str  # lower case
    port: int | None  # None when absent or the default 443
    name: str
    version: str | None  # lower case; None when versionless
    # What was tidied on the way: "whitespace", "port 443", "trailing slash",
    # "upper case", "query string".
    tidied: tuple[str, ...] = ()

    @property
    def vault_url(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"https://{self.host}{port}"

    @property
    def versionless(self) -> bool:
        return self.version is None

    @property
    def canonical(self) -> str:
        """`https://host[:port]/keys/name[/version]`, as Key Vault writes kid."""
        tail = f"/{self.version}" if self.version else ""
        return f"{self.vault_url}/keys/{self.name}{tail}"

    def with_version(self, version: str) -> KeyUri:
        return KeyUri(
            self.raw, self.host, self.port, self.name, version.lower(), self.tidied
        )

    def same_key(self, other: KeyUri) -> bool:
        """Same vault, same key name (Key Vault names are case-insensitive)."""
        return (
            self.host == other.host
            and self.port == other.port
            and self.name.lower() == other.name.lower()
        )

    def same_version(self, other: KeyUri) -> bool:
        return self.same_key(other) and self.version == other.version


def parse_key_uri(text: str) -> KeyUri:
    """Read a pasted key id; raise KeyUriError if it is not a key id at all."""
    tidied: list[str] = []
    compact = re.sub(r"\s+", "", text)
    if compact != text:
        tidied.append("whitespace")
    if not compact:
        raise KeyUriError(text, "it is empty", "paste the key identifier")

    parts = urlsplit(compact)
    if parts.scheme.lower() != "https":
        raise KeyUriError(
            text,
            "it is not an https URL",
            "use the key identifier as the vault shows it, "
            "https://<vault>.vault.azure.net/keys/<name>/<version>",
        )
    if parts.query or parts.fragment:
        tidied.append("query string")
    host = parts.hostname or ""
    if not host:
        raise KeyUriError(text, "it names no vault host", "include the vault host")
    try:
        port = parts.port
    except ValueError as error:
        raise KeyUriError(text, "its port is not a number", "remove it") from error
    if port == 443:
        tidied.append("port 443")
        port = None
    raw_host = parts.netloc.rsplit("@", 1)[-1].split(":")[0]

    path = parts.path
    if path.endswith("/"):
        tidied.append("trailing slash")
        path = path.rstrip("/")
    segments = path.split("/")[1:] if path.startswith("/") else []
    if len(segments) not in (2, 3) or segments[0].lower() != "keys":
        raise KeyUriError(
            text,
            "the path is not /keys/<name>[/<version>]",
            "copy the key identifier (kid) of a key version, not a vault, "
            "secret or certificate URL",
        )
    name = segments[1]
    version = segments[2] if len(segments) == 3 else None
    if not _KEY_NAME.match(name):
        raise KeyUriError(
            text,
            f"{name!r} is not a key name (1-127 letters, digits and dashes)",
            "check the key name",
        )
    if version is not None and not _VERSION.match(version):
        raise KeyUriError(
            text,
            f"{version!r} is not a key version (32 hexadecimal characters)",
            "copy the version from the key's list of versions",
        )
    if (
        raw_host != raw_host.lower()
        or segments[0] != "keys"
        or (version is not None and version != version.lower())
    ):
        tidied.append("upper case")
    return KeyUri(
        raw=text,
        host=host.lower(),
        port=port,
        name=name,
        version=version.lower() if version else None,
        tidied=tuple(tidied),
    )


def managed_instance_problems(uri: KeyUri) -> tuple[str, ...]:
    """What a managed instance would refuse in this URI (empty: accepted)."""
    problems: list[str] = []
    if uri.versionless:
        problems.append(
            "the URI has no version; Managed Instance accepts only a versioned "
            "key URI (versionless URIs are an Azure SQL Database feature)"
        )
    return tuple(problems)


def server_key_name(vault: str, key: str, version: str) -> str:
    """The name an instance gives a registered key: `{vault}_{key}_{version}`."""
    return f"{vault}_{key}_{version}"


def parse_server_key_name(name: str) -> tuple[str, str, str] | None:
    """(vault, key, version) from `{vault}_{key}_{version}`, if it is one."""
    parts = name.split("_")
    if len(parts) < 3:
        return None
    version = parts[-1]
    if not _VERSION.match(version):
        return None
    # Vault and key names contain no underscores; be lenient anyway.
    return parts[0], "_".join(parts[1:-1]), version.lower()


def name_length_ok(vault: str, key: str) -> bool:
    return len(vault) + len(key) <= MAX_VAULT_AND_KEY_NAME


def same_vault_url(vault_url: str, key_id: str) -> bool:
    """Whether a key id lives on the vault at `vault_url` (host and port)."""
    a = urlsplit(vault_url.strip())
    b = urlsplit(re.sub(r"\s+", "", key_id))
    try:
        ports = (a.port or 443, b.port or 443)
    except ValueError:
        return False
    return (a.hostname or "").lower() == (b.hostname or "").lower() and (
        ports[0] == ports[1]
    )
