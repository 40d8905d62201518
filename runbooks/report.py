"""A run's report, Markdown and JSON, built from its journal alone.

Building it from the journal (not from the engine's memory) means a report
can be rebuilt for any run, and says nothing the journal does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbooks.journal import read, verify
from runbooks.paths import StateDirs


@dataclass
class _StepLine:
    step: str
    title: str = ""
    state: str = "pending"
    started: str = ""
    duration_seconds: float | None = None
    detail: str = ""


def build(dirs: StateDirs, run_id: str) -> dict[str, Any]:
    """The report's facts as a JSON-ready dict."""
    path = dirs.journal_file(run_id)
    records = read(path)
    start = records[0] if records else {}
    titles: dict[str, str] = {}
    steps: dict[str, _StepLine] = {}
    confirmations: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    estates: dict[str, Any] = {}
    measurements: dict[str, Any] = {}
    attempts = 0
    outcome = "unfinished"
    for record in records:
        kind = record["type"]
        if kind == "plan":  # the last attempt's plan: its titles and order
            titles = {a["step"]: a["title"] for a in record.get("actions", [])}
        elif kind == "run_resumed":
            attempts += 1
        elif kind == "step_started":
            line = steps.setdefault(record["step"], _StepLine(record["step"]))
            line.started = record["at"]
        elif kind == "step_result":
            line = steps.setdefault(record["step"], _StepLine(record["step"]))
            line.state = record["state"]
            line.detail = record.get("detail", "")
            line.duration_seconds = record.get("duration_seconds")
        elif kind == "confirmation":
            confirmations.append(
                _pick(
                    record, "step", "by", "when", "accepted", "typed", "reason", "how"
                )
            )
        elif kind == "sdk_call":
            calls.append(
                _pick(
                    record,
                    "step",
                    "operation",
                    "resource",
                    "outcome",
                    "request_id",
                    "duration_seconds",
                    "attempts",
                )
            )
        elif kind in ("checkpoint", "values"):
            for name, value in (record.get("values") or {}).items():
                if name.startswith("measured_"):
                    measurements[name.removeprefix("measured_")] = value
        elif kind == "estate" and record["when"] == "before":
            estates.setdefault("before", record.get("state", {}))  # the first
        elif kind == "estate":
            estates[record["when"]] = record.get("state", {})
        elif kind == "run_finished":
            outcome = record["outcome"]
    for line in steps.values():
        line.title = titles.get(line.step, line.step)
    # In plan order, not in the order the attempts first met each step: a
    # resumed drill's restore steps ran in its first attempt, before its cut.
    rank = {step: index for index, step in enumerate(titles)}
    ordered = sorted(steps.values(), key=lambda line: rank.get(line.step, len(rank)))
    check = verify(path)
    return {
        "run_id": run_id,
        "runbook": start.get("runbook"),
        "mesh": start.get("mesh"),
        "operator": start.get("operator"),
        "host": start.get("host"),
        "version": start.get("version"),
        "parameters": start.get("parameters", {}),
        "started": start.get("at"),
        "ended": records[-1]["at"] if records else None,
        "duration_seconds": _seconds(start.get("at"), records[-1]["at"])
        if records
        else None,
        "outcome": outcome,
        "resumed": attempts,
        "steps": [vars(line) for line in ordered],
        "confirmations": confirmations,
        "sdk_calls": calls,
        "measurements": measurements,
        "estate_before": estates.get("before", {}),
        "estate_after": estates.get("after", {}),
        "journal": {
            "path": str(path),
            "records": check.records,
            "last_hash": records[-1]["hash"] if records else None,
            "ok": check.ok,
        },
    }


def _pick(record: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: record.get(name) for name in names}


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds(), 3)


def markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Runbook {report['runbook']} — run {report['run_id']}",
        "",
        f"- Outcome: **{report['outcome']}**",
        f"- Mesh: {report['mesh']}",
        f"- Operator: {report['operator']} on {report['host']}"
        f" (tdemesh {report['version']})",
        f"- Started: {report['started']}; ended: {report['ended']}"
        f" ({report['duration_seconds']} s)",
        f"- Resumed: {report['resumed']} time(s)",
        f"- Journal: {report['journal']['path']} "
        f"({report['journal']['records']} records, "
        f"{'chain verified' if report['journal']['ok'] else 'CHAIN BROKEN'})",
    ]
    if report["parameters"]:
        params = ", ".join(f"{k}={v}" for k, v in report["parameters"].items())
        out.append(f"- Parameters: {params}")
    out += [
        "",
        "## Steps",
        "",
        "| Step | State | Started | Seconds | Detail |",
        "|---|---|---|---|---|",
    ]
    for step in report["steps"]:
        detail = str(step["detail"]).replace("\n", " ").replace("|", "/")
        seconds = step["duration_seconds"]
        shown = "" if seconds is None else seconds
        out.append(
            f"| {step['title']} | {step['state']} | {step['started']} | "
            f"{shown} | {detail} |"
        )
    if report["measurements"]:
        out += ["", "## Measurements", ""]
        out += [f"- {k}: {v}" for k, v in report["measurements"].items()]
    if report["confirmations"]:
        out += ["", "## Confirmations", ""]
        for c in report["confirmations"]:
            verdict = "accepted" if c["accepted"] else "declined"
            extra = (
                f", typed {c['typed']!r}, reason {c['reason']!r}" if c["typed"] else ""
            )
            out.append(
                f"- {c['step']}: {verdict} by {c['by']} at {c['when']} "
                f"({c['how']}{extra})"
            )
    out += [
        "",
        "## SDK calls",
        "",
        "| Step | Operation | Resource | Outcome | Attempts | Seconds | Request id |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report["sdk_calls"]:
        out.append(
            f"| {c['step']} | {c['operation']} | {c['resource']} | {c['outcome']} | "
            f"{c['attempts']} | {c['duration_seconds']} | {c['request_id'] or ''} |"
        )
    for when in ("before", "after"):
        out += [
            "",
            f"## Estate {when}",
            "",
            "```json",
            json.dumps(report[f"estate_{when}"], indent=2, sort_keys=True),
            "```",
        ]
    return "\n".join(out) + "\n"


def anchor(dirs: StateDirs, run_id: str) -> tuple[int, str] | None:
    """(records, last hash) as the run's JSON report wrote them, if any: a
    journal cut short after its report was written is then caught."""
    path = dirs.reports / f"{run_id}.json"
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))["journal"]
        return int(journal["records"]), str(journal["last_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_reports(dirs: StateDirs, run_id: str) -> tuple[str, ...]:
    report = build(dirs, run_id)
    dirs.reports.mkdir(parents=True, exist_ok=True)
    md = dirs.reports / f"{run_id}.md"
    js = dirs.reports / f"{run_id}.json"
    md.write_text(markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")
    return (str(md), str(js))
