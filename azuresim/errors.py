"""Errors the simulator answers with, shaped as Azure shapes them.

ARM: ``{"error": {"code", "message"}}``. Key Vault: the same with an
``innererror`` where the real service sends one. Raise these from handlers;
the listeners turn them into responses.
"""

from __future__ import annotations

from typing import Any


class AzureError(Exception):
    """An error response: HTTP status, Azure error code, message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}


class ArmError(AzureError):
    """An error from Azure Resource Manager or a resource provider."""


class VaultError(AzureError):
    """An error from a Key Vault data-plane endpoint."""


def not_found(resource_type: str, name: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' was not found.",
    )
