"""Short forms for long Azure names, and the words that stand beside colours.

Every state is written as a word and drawn in a colour: the colour helps at a
glance, the word is what a colour-blind DBA or a black-and-white screenshot
reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from textual.markup import escape

from mesh.keyuri import KeyUriError, parse_key_uri

GOOD = "$success"
WARN = "$warning"
BAD = "$error"
DIM = "$text-muted"


def short_version(version: str | None) -> str:
    return (version or "?")[:8]


def short_thumbprint(thumbprint: str | None) -> str:
    if not thumbprint:
        return "?"
    return f"{thumbprint[:6]}…{thumbprint[-4:]}"


def key_in_vault(uri: str | None) -> str:
    """`key@version8` for a key id, when the vault is said elsewhere."""
    if not uri:
        return "?"
    try:
        parsed = parse_key_uri(uri)
    except KeyUriError:
        return uri
    return f"{parsed.name}@{short_version(parsed.version)}"


def coloured(text: str, colour: str, bold: bool = False) -> str:
    """Markup for `text` in a theme colour; the text is escaped."""
    style = f"bold {colour}" if bold else colour
    return f"[{style}]{escape(text)}[/]"


def state_word(value: str | None, good: set[str], bad: set[str]) -> str:
    """A state as a coloured word: green if good, red if bad, amber otherwise."""
    if value is None:
        return coloured("unknown", WARN)
    lowered = value.lower()
    if lowered in good:
        return coloured(value, GOOD)
    if lowered in bad:
        return coloured(value, BAD, bold=True)
    return coloured(value, WARN)


def on_off(value: bool | None, good_when: bool = True) -> str:
    if value is None:
        return coloured("unknown", WARN)
    word = "on" if value else "off"
    return coloured(word, GOOD if value == good_when else BAD, bold=value != good_when)


def span(delta: timedelta) -> str:
    """12m05s, 1h02m, 3d4h: a duration an operator reads in one glance."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s"


def expiry_text(expires: datetime | None, now: datetime) -> str:
    if expires is None:
        return coloured("no expiry", GOOD)
    left = expires - now
    if left.total_seconds() <= 0:
        return coloured(f"EXPIRED {span(-left)} ago", BAD, bold=True)
    colour = WARN if left < timedelta(days=30) else GOOD
    return coloured(f"expires in {span(left)}", colour)
