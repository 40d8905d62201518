"""Assessment: what a Snapshot means, as a verdict, key paths and findings.

These are the types every front end reads; `mesh.assess.assess` is the pure
function that builds them. A finding says what is wrong, with which
resource, why it matters and the fix, so the TUI, `tdemesh check` and the
runbook preflights speak with one voice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Verdict(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]


_VERDICT_RANK = {Verdict.HEALTHY: 0, Verdict.DEGRADED: 1, Verdict.CRITICAL: 2}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Finding:
    code: str  # stable, e.g. "KEY_DISABLED"; tests and runbooks match on it
    severity: Severity
    resource: str  # the resource to act on (a name or an ARM id)
    what: str  # what is wrong
    why: str  # why it matters
    fix: str  # what to do
    region: str | None = None


@dataclass(frozen=True)
class KeyPath:
    """One instance x vault path. Each check is True, False or None (unknown)."""

    instance: str
    vault: str
    instance_region: str
    vault_region: str
    reachable: bool | None  # endpoint Approved, no NSG cut, vault answering
    key_registered: bool | None  # a key of this vault is registered on it
    same_thumbprint: bool | None  # that key has the protector's thumbprint
    permission: bool | None  # the instance identity may get/wrap/unwrap
    key_usable: bool | None  # enabled, active, not expired, RSA 2048/3072
    reasons: tuple[str, ...] = ()  # why a check failed, in words

    @property
    def checks(self) -> tuple[bool | None, ...]:
        return (
            self.reachable,
            self.key_registered,
            self.same_thumbprint,
            self.permission,
            self.key_usable,
        )

    @property
    def usable(self) -> bool:
        """The instance can unwrap its protector through this path."""
        return all(check is True for check in self.checks)

    @property
    def home(self) -> bool:
        """The vault in the instance's own region (its primary key source)."""
        return self.instance_region == self.vault_region


class DeadlineKind(StrEnum):
    KEY_CHECK = "key_check"  # the instance's next 10-minute key check
    INACCESSIBLE = "inaccessible"  # databases refuse connections (~10 min)
    AUTO_HEAL = "auto_heal"  # after this, recovery needs revalidation (30 min)


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    resource: str  # the instance (or database) it applies to
    at: datetime
    basis: str  # which Azure timestamp it was computed from, in words

    def remaining_seconds(self, now: datetime) -> float:
        return (self.at - now).total_seconds()


@dataclass(frozen=True)
class Assessment:
    mesh: str
    taken_at: datetime
    verdict: Verdict
    paths: tuple[KeyPath, ...]
    findings: tuple[Finding, ...]
    deadlines: tuple[Deadline, ...] = ()
    # Azure's clock at the probe (Snapshot.now); None: this machine's taken_at.
    azure_time: datetime | None = None

    @property
    def now(self) -> datetime:
        """The moment the deadlines count down from."""
        return self.azure_time or self.taken_at

    def path(self, instance: str, vault: str) -> KeyPath | None:
        for path in self.paths:
            if path.instance == instance and path.vault == vault:
                return path
        return None

    def codes(self) -> frozenset[str]:
        return frozenset(finding.code for finding in self.findings)

    def by_code(self, code: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code == code)
