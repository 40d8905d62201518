"""F1: every key the console knows, where it works, and its id for remapping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

KeyArea = tuple[str, Iterable[Binding]]


def key_rows(
    areas: Iterable[KeyArea], keymap: Mapping[str, str]
) -> list[tuple[str, str, str, str]]:
    """(area, keys, what it does, id) for every binding, remaps applied."""
    rows = []
    for area, bindings in areas:
        for binding in bindings:
            if binding.system or not binding.description:
                continue
            keys = keymap.get(binding.id or "", binding.key)
            what = binding.tooltip or binding.description
            rows.append((area, keys, what, binding.id or ""))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,f1", "close", "Close", id="help.close", tooltip="Close help"),
    ]

    def __init__(self, rows: list[tuple[str, str, str, str]]) -> None:
        super().__init__(classes="help")
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Keys (F1)"
            yield DataTable(id="help-keys", cursor_type="row", zebra_stripes=True)
            yield Static(
                'ctrl+p opens the command palette ("runbook: …", "view: …", '
                '"sim: …"). Remap a key in console.toml: \\[keymap] id = "keys". '
                "Escape closes.",
                classes="dialog-detail",
            )

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill)

    def _fill(self) -> None:
        """Every row whole: the description wraps to the table's width."""
        table = self.query_one("#help-keys", DataTable)
        table.clear(columns=True)
        what_width = max(20, table.content_region.width - 10 - 7 - 14 - 8 - 2)
        table.add_column("Where", width=10)
        table.add_column("Keys", width=7)
        table.add_column("Id", width=14)
        table.add_column("What it does", width=what_width)
        for area, keys, what, binding_id in self.rows:
            table.add_row(area, keys, binding_id, Text(what), height=None)

    def action_close(self) -> None:
        self.dismiss(None)
