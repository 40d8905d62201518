"""Each runbook's parameters, checked before anything runs.

A runbook reads its parameters lazily, inside its steps, so a misspelt name
would be silently ignored and a bad value found only by Azure halfway
through a run. The names and the values each accepts are therefore listed
here once, and the engine and the CLI check them before a plan or a run.
Choices the runbook refuses with its own explanation (rotation's
`retire_old`) are left to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runbooks.errors import Refused

# Key Vault key names: 1-127 letters, digits and dashes.
KEY_NAME = re.compile(r"[A-Za-z0-9-]{1,127}")
YES_NO = ("yes", "no", "true", "false", "on", "off")


@dataclass(frozen=True)
class Parameter:
    """One parameter: what it takes, and its check (the problem, or "")."""

    takes: str
    check: Callable[[str], str]


def _choice(*options: str) -> Parameter:
    def check(value: str) -> str:
        return "" if value.lower() in options else f"choose {' or '.join(options)}"

    return Parameter("|".join(options), check)


def _key_name(value: str) -> str:
    if KEY_NAME.fullmatch(value):
        return ""
    return (
        "a Key Vault key name is 1-127 letters, digits and dashes (a name, "
        "not a key URI)"
    )


def _seconds(value: str) -> str:
    try:
        ok = float(value) >= 0
    except ValueError:
        ok = False
    return "" if ok else "a number of seconds, 0 or more"


def _anything(value: str) -> str:
    return "" if value else "give a value"


KEY = Parameter("NAME", _key_name)
FILE = Parameter("FILE", _anything)
SECONDS = Parameter("SECONDS", _seconds)
REGION = Parameter("REGION", _anything)
SIZE = _choice("2048", "3072")

PARAMETERS: dict[str, dict[str, Parameter]] = {
    "setup": {
        "route": _choice("backup-restore", "hsm", "pem"),
        "key_file": FILE,
        "key_name": KEY,
        "key_size": SIZE,
        "auto_rotation": _choice(*YES_NO),
    },
    "rotation": {
        "route": _choice("new-name", "import"),
        "key_name": KEY,
        "key_file": FILE,
        "key_format": _choice("pem", "hsm"),
        "key_size": SIZE,
        "auto_rotation": _choice("keep", *YES_NO),
        "retire_old": Parameter("none", _anything),
    },
    "vault-loss": {
        "instance": REGION,
        "vault": REGION,
        "method": _choice("nsg", "outage"),
        "second": _choice(*YES_NO),
        "extend": _choice(*YES_NO),
        "hold_seconds": SECONDS,
        "key_check_seconds": SECONDS,
        "auto_heal_seconds": SECONDS,
    },
    "failover-drill": {},
    "recover": {},
}


class BadParameters(Refused):
    """A parameter the runbook does not take, or a value it cannot use."""


def check(runbook: str, parameters: Mapping[str, str]) -> None:
    """Raise `BadParameters` naming every problem, and the valid names."""
    known = PARAMETERS.get(runbook)
    if known is None:  # a runbook this table does not know: its own checks
        return
    problems = []
    for name, value in parameters.items():
        spec = known.get(name)
        if spec is None:
            problems.append(f"{name}: not a parameter of {runbook}")
        elif problem := spec.check(value):
            problems.append(f"{name}={value!r}: {problem}")
    if not problems:
        return
    valid = ", ".join(f"{n}={p.takes}" for n, p in known.items()) or "none"
    raise BadParameters(
        "Parameters not accepted",
        "; ".join(problems),
        f"The parameters of {runbook} are: {valid}.",
    )
