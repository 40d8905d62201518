"""Errors for people: what happened, to which resource, and the fix.

Every failure that leaves `mesh` is a `MeshError`. The gateway turns Azure's
4xx answers into one (naming the missing permission or state), and a
transient fault that outlived every retry into `AzureUnavailable`.
"""

from __future__ import annotations


class MeshError(Exception):
    """A failure an operator can act on."""

    def __init__(self, what: str, resource: str, fix: str) -> None:
        self.what = what
        self.resource = resource
        self.fix = fix
        super().__init__(f"{what} [{resource}]; fix: {fix}")


class GatewayError(MeshError):
    """An Azure call failed; carries the operation, HTTP status and code."""

    def __init__(
        self,
        what: str,
        resource: str,
        fix: str,
        *,
        operation: str,
        status: int | None = None,
        code: str | None = None,
        message: str = "",
    ) -> None:
        super().__init__(what, resource, fix)
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message


class NotAuthenticated(GatewayError):
    """401, or no credential could get a token."""


class AccessDenied(GatewayError):
    """403: the caller (operator or instance identity) lacks a permission."""


class NotFound(GatewayError):
    """404: the resource does not exist."""


class Conflict(GatewayError):
    """409: the resource exists already, or is in use."""


class Rejected(GatewayError):
    """400 and other 4xx: Azure refused the request as asked."""


class AzureUnavailable(GatewayError):
    """Throttling, 5xx, connection errors or timeouts outlived every retry."""
