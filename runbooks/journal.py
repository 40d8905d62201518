"""The journal: one append-only JSONL file per run, hash-chained.

Each record carries the SHA-256 of the record before it and its own hash
over its canonical JSON, so changing, inserting, dropping or reordering any
record breaks the chain where it happened. Values are redacted before they
are written: the journal is shown to auditors, and key material, tokens and
secrets must never reach it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbooks.errors import JournalError

GENESIS = "0" * 64
REDACTED = "[redacted]"
_SECRET_WORDS = (
    "secret",
    "password",
    "token",
    "credential",
    "private_key",
    "backup_blob",
    "key_material",
    "pem_text",
)
# The private parts of a JSON Web Key.
_JWK_PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "k", "t"}


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _JWK_PRIVATE or any(w in lowered for w in _SECRET_WORDS)


def redact(value: Any, name: str = "") -> Any:
    """A copy of `value` safe to write down: secrets become a marker."""
    if name and _is_secret_name(name) and not isinstance(value, bool | None):
        return REDACTED
    if isinstance(value, bytes | bytearray):
        return f"[{len(value)} bytes redacted]"
    if isinstance(value, str) and "PRIVATE KEY" in value:
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _digest(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class Journal:
    """Appends records to one run's file, continuing an existing chain."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self._prev = GENESIS
        self._seq = 0
        if path.exists():
            records = read(path)
            problems = check_chain(records)
            if problems:
                raise JournalError(
                    "The journal was changed",
                    f"{path}: {problems[0]}",
                    "Do not resume a run whose journal fails verification; "
                    "start a new run.",
                )
            if records:
                self._prev = str(records[-1]["hash"])
                self._seq = int(records[-1]["seq"]) + 1

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "seq": self._seq,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run": self.run_id,
            "type": kind,
            **redact(data),
            "prev": self._prev,
        }
        record["hash"] = _digest(record)
        line = json.dumps(record, sort_keys=True, ensure_ascii=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._prev = record["hash"]
        self._seq += 1
        return record


def read(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file, in order."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise JournalError(
            "No such run", f"there is no journal at {path}", "Check the run id."
        ) from error
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise JournalError(
                "The journal is damaged",
                f"{path} line {number} is not JSON ({error.msg})",
                "The file was edited or truncated; it cannot be trusted.",
            ) from error
    return records


def check_chain(records: list[dict[str, Any]]) -> list[str]:
    """What is wrong with a chain of records, or nothing."""
    problems: list[str] = []
    prev = GENESIS
    expected = 0  # the next sequence number
    for index, record in enumerate(records):
        where = f"record {index + 1}"
        seq = record.get("seq")
        gap = seq - expected if isinstance(seq, int) and seq > expected else 0
        if gap:  # one problem for the gap, not one for every record after it
            problems.append(f"{_missing(expected, gap)} missing")
        elif seq != expected:
            problems.append(f"{where}: sequence {seq} out of order")
        if record.get("prev") != prev and not gap:
            problems.append(f"{where}: does not follow the record before it")
        if record.get("hash") != _digest(record):
            problems.append(f"{where}: its content does not match its hash")
        prev = str(record.get("hash"))
        expected += gap + 1
    return problems


def _missing(first_seq: int, count: int) -> str:
    """Records are numbered from 1 for people and from 0 in `seq`."""
    first = first_seq + 1
    return f"record {first}" if count == 1 else f"records {first}-{first + count - 1}"


@dataclass(frozen=True)
class Verification:
    path: Path
    records: int
    problems: list[str] = field(default_factory=list)
    finished: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path, anchor: tuple[int, str] | None = None) -> Verification:
    """Check the chain; with `anchor` (records, last hash) as a report wrote
    them down, also that no record was cut off the end."""
    try:
        records = read(path)
    except JournalError as error:
        return Verification(path, 0, [error.message])
    problems = check_chain(records)
    if records and records[0].get("type") != "run_started":
        problems.append("record 1: a journal must begin with the run's start")
    if anchor is not None:
        count, last = anchor
        if len(records) < count:
            problems.append(
                f"{count - len(records)} record(s) cut off the end "
                f"(its report counted {count})"
            )
        elif count and records[count - 1].get("hash") != last:
            problems.append(f"record {count} is not the one its report names")
    finished = bool(records) and records[-1].get("type") == "run_finished"
    return Verification(path, len(records), problems, finished)


def iter_runs(journal_dir: Path) -> Iterator[Path]:
    yield from sorted(journal_dir.glob("*.jsonl"))
