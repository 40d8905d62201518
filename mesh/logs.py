"""Logging to a rotating file in the user log directory, one line per event.

The gateway logs each Azure call (operation, resource, outcome, duration);
nothing logs request bodies, so key material and tokens never reach the log.
A filter redacts anything that still looks like a bearer token or a secret.
"""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

LOGGER = "tdemesh"
_SECRETS = (
    re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"),
    re.compile(
        r"(?i)((?:client_secret|secret|password|access_token|authorization)"
        r"[\"']?\s*[=:]\s*[\"']?)(?!bearer\b)(?!<redacted>)[^\s,;\"']+"
    ),
)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern in _SECRETS:
            redacted = pattern.sub(r"\1<redacted>", redacted)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir("tdemesh"))


def configure_logging(directory: Path | None = None, level: int = logging.INFO) -> Path:
    """Send the `tdemesh` loggers to `<log dir>/tdemesh.log` (rotating)."""
    directory = directory or log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tdemesh.log"
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    for handler in logger.handlers:
        if getattr(handler, "baseFilename", None) == str(path):
            return path
    handler = RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(RedactSecrets())
    logger.addHandler(handler)
    logger.propagate = False
    # The SDKs' own warnings (a refused token, ...) belong in the same file,
    # not on the operator's terminal: tdemesh says what failed, once.
    azure = logging.getLogger("azure")
    azure.setLevel(logging.WARNING)
    azure.addHandler(handler)
    azure.propagate = False
    return path
