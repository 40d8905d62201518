"""The runbooks by the names operators type."""

from __future__ import annotations

from types import ModuleType

from runbooks import failover_drill, recover, rotation, setup, vault_loss

RUNBOOKS: dict[str, ModuleType] = {
    setup.name: setup,
    rotation.name: rotation,
    vault_loss.name: vault_loss,
    failover_drill.name: failover_drill,
    recover.name: recover,
}
# Runbooks that change the estate on purpose and must always put it back.
RESTORING = frozenset({vault_loss.name})


def get(name: str) -> ModuleType:
    try:
        return RUNBOOKS[name]
    except KeyError:
        raise KeyError(
            f"no runbook {name!r}; choose one of {', '.join(RUNBOOKS)}"
        ) from None
