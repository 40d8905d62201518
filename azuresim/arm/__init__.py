"""The simulated Azure Resource Manager resource providers.

`routes(world)` is what the ARM listener mounts (after it has authenticated
the caller): Microsoft.Sql managed instances, Microsoft.Network private
endpoints and security groups, Microsoft.KeyVault vaults, Microsoft.Authorization
role assignments, and the monitors of their long-running operations.

ARM matches provider namespaces and resource-type segments in any case
(`microsoft.sql/managedinstances`, `resourcegroups`; recorded ids carry both
spellings), so every route's literal segments match case-insensitively. The
handlers render ids from the stored resources, in the canonical case, never
from the request's spelling.
"""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, Route

from azuresim import lro
from azuresim.arm import authorization, keyvault_mgmt, network, sql
from azuresim.state import World


def routes(world: World) -> list[BaseRoute]:
    # Role assignments match any scope prefix, so they go last.
    found = [
        *lro.routes(world),
        *sql.routes(world),
        *network.routes(world),
        *keyvault_mgmt.routes(world),
        *authorization.routes(world),
    ]
    for route in found:
        if isinstance(route, Route):
            route.path_regex = re.compile(route.path_regex.pattern, re.IGNORECASE)
    return found
