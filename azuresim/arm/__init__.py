"""The simulated Azure Resource Manager resource providers.

`routes(world)` is what the ARM listener mounts (after it has authenticated
the caller): Microsoft.Sql managed instances, Microsoft.Network private
endpoints and security groups, Microsoft.KeyVault vaults, Microsoft.Authorization
role assignments, and the monitors of their long-running operations.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from azuresim import lro
from azuresim.arm import authorization, keyvault_mgmt, network, sql
from azuresim.state import World


def routes(world: World) -> list[BaseRoute]:
    # Role assignments match any scope prefix, so they go last.
    return [
        *lro.routes(world),
        *sql.routes(world),
        *network.routes(world),
        *keyvault_mgmt.routes(world),
        *authorization.routes(world),
    ]
