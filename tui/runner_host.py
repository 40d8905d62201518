"""Placeholder."""

from __future__ import annotations


class RunbookHost:
    def catalogue(self) -> list[tuple[str, str, str]]:
        return []
