"""An Assessment for people (plain text) and for programs (JSON)."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

from mesh.assessment import Assessment, Deadline, KeyPath, Severity, Verdict
from mesh.snapshot import Snapshot

EXIT_CODES = {Verdict.HEALTHY: 0, Verdict.DEGRADED: 1, Verdict.CRITICAL: 2}
EXIT_UNKNOWN = 3
_CHECKS = (
    ("reachable", "unreachable"),
    ("key_registered", "key not registered"),
    ("same_thumbprint", "other thumbprint"),
    ("permission", "no permission"),
    ("key_usable", "key unusable"),
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(assessment: Assessment, snapshot: Snapshot | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mesh": assessment.mesh,
        "taken_at": assessment.taken_at.isoformat(),
        # The clock the deadlines count down from: Azure's (the simulator's
        # on the simulator), else this machine's at the probe.
        "now": assessment.now.isoformat(),
        "verdict": assessment.verdict.value,
        "exit_code": EXIT_CODES[assessment.verdict],
        "paths": [
            {**_plain(dataclasses.asdict(p)), "usable": p.usable}
            for p in assessment.paths
        ],
        "findings": [_plain(dataclasses.asdict(f)) for f in assessment.findings],
        "deadlines": [
            {
                **_plain(dataclasses.asdict(d)),
                "remaining_seconds": round(d.remaining_seconds(assessment.now)),
            }
            for d in assessment.deadlines
        ],
    }
    if snapshot is not None:
        data["probe"] = {
            "calls": snapshot.calls,
            "duration_seconds": round(snapshot.duration_seconds, 3),
            "azure_time": snapshot.azure_time.isoformat()
            if snapshot.azure_time
            else None,
        }
    return data


def _countdown(deadline: Deadline, now: datetime) -> str:
    minutes = round(deadline.remaining_seconds(now) / 60)
    if minutes > 0:
        return f"in {minutes} min"
    return "now" if minutes == 0 else f"{-minutes} min ago"


def cell(path: KeyPath | None) -> str:
    if path is None:
        return "-"
    if path.usable:
        return "ok"
    failed = [label for name, label in _CHECKS if getattr(path, name) is False]
    unknown = [name for name, _ in _CHECKS if getattr(path, name) is None]
    if failed:
        return ", ".join(failed)
    return "unknown (" + ", ".join(unknown) + ")"


def to_text(assessment: Assessment, snapshot: Snapshot | None = None) -> str:
    lines = [
        f"mesh {assessment.mesh}: {assessment.verdict.value.upper()}"
        f"  ({assessment.now:%Y-%m-%d %H:%M:%SZ})",
        "",
        "key paths (instance -> vault):",
    ]
    instances = list(dict.fromkeys(p.instance for p in assessment.paths))
    vaults = list(dict.fromkeys(p.vault for p in assessment.paths))
    width = max((len(i) for i in instances), default=8) + 2
    column = max([len(v) for v in vaults] + [18]) + 2
    lines.append(" " * width + "".join(v.ljust(column) for v in vaults))
    for instance in instances:
        row = instance.ljust(width)
        for vault in vaults:
            row += cell(assessment.path(instance, vault)).ljust(column)
        lines.append(row.rstrip())
    if assessment.deadlines:
        lines += ["", "deadlines:"]
        for deadline in assessment.deadlines:
            lines.append(
                f"  {deadline.kind.value:<13} {deadline.resource}: "
                f"{deadline.at:%H:%M:%SZ}, {_countdown(deadline, assessment.now)} "
                f"({deadline.basis})"
            )
    shown = [f for f in assessment.findings if f.severity is not Severity.INFO]
    notes = [f for f in assessment.findings if f.severity is Severity.INFO]
    lines += [
        "",
        f"findings: {len(shown)}" + (f" (+{len(notes)} notes)" if notes else ""),
    ]
    for finding in shown + notes:
        lines += [
            f"  [{finding.severity.value}] {finding.code}  {finding.resource}",
            f"      what: {finding.what}",
            f"      why:  {finding.why}",
            f"      fix:  {finding.fix}",
        ]
    if snapshot is not None:
        lines += [
            "",
            f"probe: {snapshot.calls} calls in {snapshot.duration_seconds:.2f}s",
        ]
    return "\n".join(lines)
