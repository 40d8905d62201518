"""Bearer tokens: the simulator issues them and every listener checks them.

Tokens are random and opaque; the World remembers which principal each one
belongs to and when it expires on the simulated clock. A request carrying a
token the simulator did not issue is refused exactly like one with none.

A client decides when to refresh a token from the real clock and the
`expires_in` it was told, so a token's lifetime on the simulated clock is
stretched by the clock's scale, and shifted when the clock is advanced by
hand (`shift_expiries`) or re-stretched when its speed changes
(`rescale_expiries`): jumping an hour ahead must not strand every client with
a token it believes is fresh.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from azuresim.errors import ArmError, VaultError
from azuresim.state import Principal, World

TOKEN_LIFETIME_SECONDS = 3599
VAULT_RESOURCE = "https://vault.azure.net"


@dataclass(frozen=True)
class Caller:
    principal: Principal
    token: str


ARM_AUDIENCES = {
    "https://management.azure.com",
    "https://management.core.windows.net",
}


def audience_of_scope(scope: str) -> str | None:
    """ "https://vault.azure.net/.default" -> "https://vault.azure.net"."""
    for item in scope.split():
        if item.endswith("/.default"):
            return item.removesuffix("/.default").rstrip("/")
    return None


def issue_token(world: World, principal: Principal, audience: str | None) -> str:
    _forget_expired(world)
    token = secrets.token_urlsafe(48)
    lifetime = TOKEN_LIFETIME_SECONDS * max(world.clock.scale, 1.0)
    expiry = world.clock.now() + timedelta(seconds=lifetime)
    world.issued_tokens[token] = (principal.object_id, expiry)
    if audience is not None:
        world.token_audiences[token] = audience
    return token


def _forget_expired(world: World) -> None:
    now = world.clock.now()
    for token, (_, expiry) in list(world.issued_tokens.items()):
        if expiry < now:
            del world.issued_tokens[token]
            world.token_audiences.pop(token, None)


def shift_expiries(world: World, seconds: float) -> None:
    """Move every token's expiry by a manual clock advance."""
    for token, (object_id, expiry) in list(world.issued_tokens.items()):
        world.issued_tokens[token] = (object_id, expiry + timedelta(seconds=seconds))


def rescale_expiries(world: World, old_scale: float, new_scale: float) -> None:
    """Keep every token's remaining real lifetime when the clock's speed changes."""
    factor = max(new_scale, 1.0) / max(old_scale, 1.0)
    if factor == 1.0:
        return
    now = world.clock.now()
    for token, (object_id, expiry) in list(world.issued_tokens.items()):
        if expiry > now:
            world.issued_tokens[token] = (object_id, now + (expiry - now) * factor)


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def token_problem(world: World, token: str | None) -> str | None:
    """Why `token` is not acceptable ("missing", "unknown", "expired"), or None."""
    if token is None:
        return "missing"
    issued = world.issued_tokens.get(token)
    if issued is None or issued[0] not in world.principals:
        return "unknown"
    if issued[1] <= world.clock.now():
        return "expired"
    return None


def principal_of(world: World, token: str) -> Principal:
    return world.principals[world.issued_tokens[token][0]]


def arm_caller(world: World, authorization: str | None) -> Caller:
    """The caller of an ARM request, or the 401 ARM answers."""
    token = bearer_token(authorization)
    problem = token_problem(world, token)
    if problem == "missing":
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            headers=_arm_challenge("missing 'Authorization' header"),
        )
    if problem is not None or token is None:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid."
            if problem == "unknown"
            else "The access token has expired.",
            headers=_arm_challenge("invalid access token"),
        )
    audience = world.token_audiences.get(token)
    if audience is not None and audience not in ARM_AUDIENCES:
        allowed = "','".join(f"{a}/','{a}" for a in sorted(ARM_AUDIENCES))
        raise ArmError(
            401,
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource "
            f"'{audience}'. It should exactly match with one of the allowed "
            f"audiences '{allowed}'.",
            headers=_arm_challenge("invalid audience"),
        )
    return Caller(principal_of(world, token), token)


def vault_caller(
    world: World, authorization: str | None, authority: str, tenant_id: str
) -> Caller:
    """The caller of a Key Vault request, or the 401 challenge the vault answers."""
    token = bearer_token(authorization)
    problem = token_problem(world, token)
    audience = world.token_audiences.get(token or "")
    if problem is None and audience not in (None, VAULT_RESOURCE):
        problem = "audience"
    if problem is None and token is not None:
        return Caller(principal_of(world, token), token)
    message = {
        "missing": "AKV10000: Request is missing a Bearer or PoP token.",
        "unknown": "AKV10032: Invalid issuer. The token was not issued by this "
        "tenant's authority.",
        "expired": "AKV10021: Token has expired.",
        "audience": f"AKV10022: Invalid audience. Expected {VAULT_RESOURCE}, "
        f"found: {audience}.",
    }[problem or "unknown"]
    challenge = (
        f'Bearer authorization="{authority}/{tenant_id}", resource="{VAULT_RESOURCE}"'
    )
    raise VaultError(
        401, "Unauthorized", message, headers={"WWW-Authenticate": challenge}
    )


def _arm_challenge(reason: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": (
            'Bearer authorization_uri="https://login.windows.net/", '
            f'error="invalid_token", error_description="The authentication '
            f'failed because of {reason}."'
        )
    }
