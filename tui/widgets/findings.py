"""The findings, worst first, each with what is wrong, why, and the fix."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from mesh.assessment import Finding, Severity
from tui.widgets.marks import BAD, DIM, GOOD, WARN, coloured

SEVERITY_COLOUR = {Severity.CRITICAL: BAD, Severity.WARNING: WARN, Severity.INFO: DIM}


def finding_text(finding: Finding) -> str:
    colour = SEVERITY_COLOUR[finding.severity]
    head = coloured(finding.severity.value.upper(), colour, bold=True)
    return (
        f"{head} {escape(finding.what)} {coloured(f'[{finding.code}]', DIM)}\n"
        f"  {escape(finding.why)}\n"
        f"  [b]Fix:[/b] {escape(finding.fix)}"
    )


def by_code(findings: list[Finding]) -> list[list[Finding]]:
    """Findings of one code together (four inaccessible databases are one
    story), in the order their first member appears."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.code, []).append(finding)
    return list(groups.values())


def grouped_text(group: list[Finding]) -> str:
    text = finding_text(group[0])
    if len(group) > 1:
        more = len(group) - 1
        text += "\n  " + coloured(f"(+{more} more {group[0].code})", DIM)
    return text


class FindingsList(Vertical):
    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, classes="findings")
        self.border_title = "Findings"

    def compose(self) -> ComposeResult:
        yield Static("", classes="findings-body")

    def show(self, findings: tuple[Finding, ...]) -> None:
        ordered = sorted(findings, key=lambda f: -f.severity.rank)
        self.border_title = f"Findings ({len(ordered)})"
        if not ordered:
            text = coloured("✓ nothing to fix", GOOD)
        else:
            text = "\n".join(grouped_text(group) for group in by_code(ordered))
        self.query_one(".findings-body", Static).update(text)
