"""The console's own settings: refresh interval, key remaps, screenshot folder.

They live in `console.toml` beside the tdemesh config (the user config
directory), not in the mesh config, because they describe a person's
terminal rather than an estate; `TDEMESH_CONSOLE_CONFIG` names another file.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

ENV_VAR = "TDEMESH_CONSOLE_CONFIG"


class SettingsError(Exception):
    def __init__(self, file: Path, what: str, fix: str) -> None:
        super().__init__(f"{file}: {what}; fix: {fix}")
        self.title = "The console settings cannot be used"
        self.what = f"{file}: {what}"
        self.fix = fix


def default_screenshot_dir() -> Path:
    return platformdirs.user_data_path("tdemesh") / "screenshots"


@dataclass(frozen=True)
class ConsoleSettings:
    refresh_seconds: float = 5.0
    """Pause between the end of one look at the estate and the start of the next."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id -> keys, e.g. {"mesh.refresh": "ctrl+r"}."""
    screenshot_dir: Path = field(default_factory=default_screenshot_dir)


def settings_path() -> Path:
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env)
    return platformdirs.user_config_path("tdemesh") / "console.toml"


def load_settings(path: Path | None = None) -> ConsoleSettings:
    path = path or settings_path()
    if not path.exists():
        return ConsoleSettings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(path, f"cannot be read ({error})", "correct it") from error
    refresh = data.get("refresh_seconds", 5.0)
    if not isinstance(refresh, int | float) or refresh < 0.5:
        raise SettingsError(
            path, f"refresh_seconds = {refresh!r}", "give a number of seconds >= 0.5"
        )
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict) or not all(
        isinstance(v, str) for v in keymap.values()
    ):
        raise SettingsError(path, '[keymap] is not id = "keys"', "see F1 for ids")
    folder = data.get("screenshot_dir")
    return ConsoleSettings(
        refresh_seconds=float(refresh),
        keymap=dict(keymap),
        screenshot_dir=Path(folder).expanduser()
        if folder
        else default_screenshot_dir(),
    )
