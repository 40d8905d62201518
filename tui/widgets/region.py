"""One region of the mesh: its instance, protector, keys, vault, endpoints.

Takes mesh's Snapshot and the region's name and renders only what the probe
saw; a part that could not be read says so, with the read error's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from tui.widgets.marks import (
    BAD,
    DIM,
    GOOD,
    WARN,
    coloured,
    expiry_text,
    key_in_vault,
    on_off,
    short_thumbprint,
    short_version,
    state_word,
)

if TYPE_CHECKING:
    from mesh.snapshot import (
        Endpoint,
        Instance,
        ReadError,
        Snapshot,
        Vault,
        VaultKey,
    )

DATABASE_GOOD = {"online"}
DATABASE_BAD = {"inaccessible", "offline", "shutdown", "stopped"}
ENDPOINT_GOOD = {"approved"}
ENDPOINT_BAD = {"rejected", "disconnected"}


def read_failure(errors: tuple[ReadError, ...]) -> str:
    if not errors:
        return ""
    first = errors[0]
    status = f" ({first.status})" if first.status else ""
    return coloured(f"  could not read{status}: {first.message}", BAD)


class RegionPanel(Vertical):
    """A bordered column for one region; rebuilt from each new Snapshot."""

    def __init__(self, region: str, id: str | None = None) -> None:
        super().__init__(id=id, classes="region")
        self.region_name = region
        self.border_title = region

    def compose(self) -> ComposeResult:
        yield Static("waiting for the first look…", classes="region-body")

    def show(self, snapshot: Snapshot) -> None:
        instance = snapshot.instance_in(self.region_name)
        role = self._role(snapshot, instance)
        self.border_title = f"{self.region_name} · {role}"
        self.set_class(role == "PRIMARY", "-primary")
        lines = (
            self._instance_lines(snapshot, instance)
            + self._vault_lines(snapshot, snapshot.vault_in(self.region_name))
            + self._endpoint_lines(snapshot)
        )
        self.query_one(".region-body", Static).update("\n".join(lines))

    def _role(self, snapshot: Snapshot, instance: Instance | None) -> str:
        group = snapshot.failover_group
        if instance is None or group is None:
            return "role unknown"
        return (group.role_of(instance.name) or "not in the group").upper()

    def _instance_lines(
        self, snapshot: Snapshot, instance: Instance | None
    ) -> list[str]:
        if instance is None:
            return [coloured("no instance in this region", BAD, bold=True)]
        lines = [
            f"[b]Instance[/b] {escape(instance.name)}",
            f"  state {state_word(instance.state, {'ready'}, {'failed'})}",
        ]
        failure = read_failure(instance.errors)
        if failure:
            lines.append(failure)
        lines.append(self._databases(instance))
        lines += self._protector_lines(snapshot, instance)
        lines += self._registered_lines(snapshot, instance)
        return lines

    def _databases(self, instance: Instance) -> str:
        if instance.databases is None:
            return "  databases " + coloured("unknown", WARN)
        online = sum(1 for d in instance.databases if d.status.lower() == "online")
        lost = [d.name for d in instance.databases if d.inaccessible]
        text = f"  databases {coloured(f'{online} online', GOOD)}"
        if lost:
            names = ", ".join(lost)
            return (
                text + ", " + coloured(f"{len(lost)} INACCESSIBLE: {names}", BAD, True)
            )
        return text + ", " + coloured("0 inaccessible", DIM)

    def _protector_lines(self, snapshot: Snapshot, instance: Instance) -> list[str]:
        protector = instance.protector
        if protector is None:
            return ["[b]Protector[/b] " + coloured("unknown", WARN)]
        if not protector.customer_managed:
            return ["[b]Protector[/b] " + coloured("service-managed", WARN)]
        vault = snapshot.vault_of_url(protector.uri) if protector.uri else None
        rotation = "on" if protector.auto_rotation_enabled else "off"
        return [
            f"[b]Protector[/b] in {escape(vault.name if vault else '(unknown vault)')}",
            f"  key {escape(key_in_vault(protector.uri))}",
            f"  thumbprint {short_thumbprint(protector.thumbprint)}",
            f"  auto-rotation {rotation}",
        ]

    def _registered_lines(self, snapshot: Snapshot, instance: Instance) -> list[str]:
        if instance.keys is None:
            return ["[b]Registered keys[/b] " + coloured("unknown", WARN)]
        managed = [k for k in instance.keys if k.server_key_type == "AzureKeyVault"]
        lines = [f"[b]Registered keys[/b] ({len(managed)})"]
        protector_name = (
            instance.protector.server_key_name if instance.protector else ""
        )
        for key in managed:
            vault = snapshot.vault_of_url(key.uri) if key.uri else None
            role = "protector" if key.name == protector_name else "fallback"
            mark = "◆" if role == "protector" else "◇"
            vault_name = vault.name if vault else "(unknown vault)"
            lines.append(f"  {mark} {escape(vault_name)} {coloured(f'({role})', DIM)}")
            lines.append(f"    {escape(key_in_vault(key.uri))}")
        return lines

    def _vault_lines(self, snapshot: Snapshot, vault: Vault | None) -> list[str]:
        if vault is None:
            return [coloured("no vault in this region", BAD, bold=True)]
        reach: dict[bool | None, str] = {
            True: coloured("reachable", GOOD),
            False: coloured("UNREACHABLE", BAD, True),
            None: coloured("unknown", WARN),
        }
        # The operator's own reach, not the instances' (the matrix has those).
        lines = [
            f"[b]Vault[/b] {escape(vault.name)}",
            f"  from this console: {reach[vault.operator_reachable]}",
            f"  soft delete {on_off(vault.soft_delete)}"
            f" · purge protect {on_off(vault.purge_protection)}",
        ]
        failure = read_failure(vault.errors)
        if failure:
            lines.append(failure)
        for key in vault.keys:
            lines += self._vault_key_lines(snapshot, key)
        return lines

    def _vault_key_lines(self, snapshot: Snapshot, key: VaultKey) -> list[str]:
        name, versions, exists = key.name, key.versions, key.exists
        if exists is None:
            return [f"  key {escape(name)}: " + coloured("could not be read", WARN)]
        if not exists:
            return [f"  key {escape(name)}: " + coloured("MISSING", BAD, bold=True)]
        latest = max(versions, key=lambda v: v.created or snapshot.now, default=None)
        lines = [f"  key {escape(name)}: {len(versions)} version(s)"]
        if latest is not None:
            enabled = (
                coloured("enabled", GOOD)
                if latest.enabled
                else coloured("DISABLED", BAD, True)
            )
            lines.append(f"    latest {short_version(latest.version)} {enabled}")
            lines.append(f"    {expiry_text(latest.expires, snapshot.now)}")
        return lines

    def _endpoint_lines(self, snapshot: Snapshot) -> list[str]:
        endpoints = [e for e in snapshot.endpoints if e.region == self.region_name]
        lines = ["[b]Endpoints[/b]"]
        for endpoint in sorted(endpoints, key=lambda e: e.vault):
            lines.append(self._endpoint_line(endpoint))
        if not endpoints:
            lines.append(coloured("  none found", WARN))
        return lines

    def _endpoint_line(self, endpoint: Endpoint) -> str:
        if endpoint.exists is False:
            state = coloured("MISSING", BAD, bold=True)
        else:
            state = state_word(endpoint.connection_status, ENDPOINT_GOOD, ENDPOINT_BAD)
        return f"  → {escape(endpoint.vault)} {state}\n  {coloured(endpoint.name, DIM)}"
