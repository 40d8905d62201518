"""The token listener: OpenID discovery and the client-credentials grant.

Just enough of Microsoft Entra ID for `azure-identity`'s ClientSecretCredential
(through MSAL) to obtain tokens: the discovery document MSAL reads first, then
the token endpoint, which checks the client id and secret against the World's
principals. Errors use Entra's OAuth shape (`error`, `error_description`,
`error_codes`), because that is what MSAL parses.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from azuresim.auth import TOKEN_LIFETIME_SECONDS, audience_of_scope, issue_token
from azuresim.state import World

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def token_app(
    get_world: Callable[[], World], authority: Callable[[], str]
) -> Starlette:
    async def discovery(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        base = f"{authority()}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "response_types_supported": ["code", "id_token", "token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "NA",
            }
        )

    async def jwks(request: Request) -> Response:
        return JSONResponse({"keys": []})

    async def token(request: Request) -> Response:
        world = get_world()
        tenant = request.path_params["tenant"]
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if tenant not in (world.tenant_id, "organizations", "common"):
            return _oauth_error(
                400,
                "invalid_request",
                90002,
                f"AADSTS90002: Tenant '{tenant}' not found.",
            )
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                70003,
                "AADSTS70003: The simulator supports only the client_credentials "
                "grant.",
            )
        client_id = form.get("client_id", "")
        principal = next(
            (p for p in world.principals.values() if p.client_id == client_id), None
        )
        if principal is None or not client_id:
            return _oauth_error(
                400,
                "unauthorized_client",
                700016,
                f"AADSTS700016: Application with identifier '{client_id}' was not "
                f"found in the directory '{tenant}'.",
            )
        if form.get("client_secret") != principal.client_secret:
            return _oauth_error(
                401,
                "invalid_client",
                7000215,
                "AADSTS7000215: Invalid client secret provided. Ensure the secret "
                f"being sent in the request is the client secret value, not the "
                f"client secret ID, for a secret added to app '{client_id}'.",
            )
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "ext_expires_in": TOKEN_LIFETIME_SECONDS,
                "access_token": issue_token(
                    world, principal, audience_of_scope(form.get("scope", ""))
                ),
            }
        )

    async def unknown(request: Request) -> Response:
        return _oauth_error(
            404,
            "invalid_request",
            90010,
            f"AADSTS90010: The simulator's token endpoint does not serve "
            f"{request.method} {request.url.path}.",
        )

    return Starlette(
        routes=[
            Route("/{tenant}/v2.0/.well-known/openid-configuration", discovery),
            Route("/{tenant}/discovery/v2.0/keys", jwks),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/{path:path}", unknown, methods=ALL_METHODS),
        ]
    )


def _oauth_error(status: int, error: str, code: int, description: str) -> Response:
    return JSONResponse(
        {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code),
        },
        status_code=status,
    )
