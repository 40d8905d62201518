"""Where runs live on disk: the user data directory, or an override."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

DATA_DIR_ENV = "TDEMESH_DATA_DIR"


@dataclass(frozen=True)
class StateDirs:
    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def journal_file(self, run_id: str) -> Path:
        return self.journal / f"{run_id}.jsonl"

    def ensure(self) -> StateDirs:
        self.journal.mkdir(parents=True, exist_ok=True)
        self.reports.mkdir(parents=True, exist_ok=True)
        return self


def state_dirs(override: str | Path | None = None) -> StateDirs:
    """The flag wins, then the environment, then platformdirs."""
    chosen = override or os.environ.get(DATA_DIR_ENV)
    root = Path(chosen) if chosen else Path(platformdirs.user_data_dir("tdemesh"))
    return StateDirs(root.expanduser().resolve())


def new_run_id(runbook: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{runbook}-{secrets.token_hex(3)}"
