"""The 2x2 key-path matrix: each instance against each vault, one mark each.

A path is usable only when every check holds (reachable, key registered,
same thumbprint, permission, key usable); the first failing check is named
in the cell so the cause reads without opening anything.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.markup import escape
from textual.widgets import Static

from mesh.assessment import Assessment, KeyPath
from tui.widgets.marks import BAD, DIM, GOOD, WARN, coloured

FAILED_WORD = {
    "reachable": "unreachable",
    "key registered": "key not registered",
    "same thumbprint": "other thumbprint",
    "permission": "no permission",
    "key usable": "key unusable",
}
CHECK_NAMES = (
    "reachable",
    "key registered",
    "same thumbprint",
    "permission",
    "key usable",
)


def path_mark(path: KeyPath | None) -> tuple[str, str]:
    """(headline, detail) for one cell; the headline carries word and colour."""
    if path is None:
        return coloured("? NOT ASSESSED", WARN), ""
    if path.usable:
        return coloured("✓ OK", GOOD, bold=True), "home" if path.home else "fallback"
    failed = [n for n, c in zip(CHECK_NAMES, path.checks, strict=True) if c is False]
    if failed:
        return coloured("✗ CUT", BAD, bold=True), ", ".join(
            FAILED_WORD[f] for f in failed
        )
    unknown = [n for n, c in zip(CHECK_NAMES, path.checks, strict=True) if c is None]
    return coloured("? UNKNOWN", WARN, bold=True), f"{unknown[0]} unknown"


class KeyPathMatrix(Grid):
    """Rows are instances, columns are vaults; the home paths on the diagonal."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, classes="matrix")
        self.border_title = "Key paths (instance → vault)"

    def compose(self) -> ComposeResult:
        for index in range(9):
            yield Static("", classes="matrix-cell", id=f"cell-{index}")

    def show(self, assessment: Assessment, regions: tuple[str, ...]) -> None:
        instances = self._ordered(assessment, regions, by_instance=True)
        vaults = self._ordered(assessment, regions, by_instance=False)
        cells = [""] + [f"[b]{escape(v)}[/b]" for v in vaults]
        for instance in instances:
            cells.append(f"[b]{escape(instance)}[/b]")
            for vault in vaults:
                path = assessment.path(instance, vault)
                head, detail = path_mark(path)
                if path is not None and self._fallback_in_use(assessment, path):
                    detail = coloured("fallback IN USE", WARN, bold=True)
                else:
                    detail = coloured(detail, DIM) if detail else ""
                cells.append(f"{head}\n{detail}" if detail else head)
        for index, text in enumerate(cells[:9]):
            self.query_one(f"#cell-{index}", Static).update(text)

    @staticmethod
    def _fallback_in_use(assessment: Assessment, path: KeyPath) -> bool:
        """The instance's home path is cut and this other one carries it."""
        if path.home or not path.usable:
            return False
        home = [p for p in assessment.paths if p.instance == path.instance and p.home]
        return bool(home) and not home[0].usable

    def _ordered(
        self, assessment: Assessment, regions: tuple[str, ...], by_instance: bool
    ) -> list[str]:
        """Names in the order of the mesh's regions, so the diagonal is home."""
        found: dict[str, str] = {}
        for path in assessment.paths:
            if by_instance:
                found.setdefault(path.instance_region, path.instance)
            else:
                found.setdefault(path.vault_region, path.vault)
        ordered = [found[r] for r in regions if r in found]
        return ordered + [n for r, n in found.items() if r not in regions]
