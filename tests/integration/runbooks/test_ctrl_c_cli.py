"""Ctrl-C at `tdemesh run`, as an operator presses it: the run stops, is
marked interrupted, a drill is put back, and the command says how to resume."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

from azuresim.process import SimProcess
from runbooks.journal import read
from runbooks.paths import StateDirs


def _wait_for(dirs: StateDirs, step_prefix: str, child: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert child.poll() is None, "the run ended before Ctrl-C"
        for path in dirs.journal.glob("*.jsonl"):
            try:
                records = read(path)
            except Exception:  # a line half written
                continue
            if any(
                r["type"] == "step_started" and r["step"].startswith(step_prefix)
                for r in records
            ):
                return
        time.sleep(0.1)
    raise AssertionError(f"no step {step_prefix}* started")


def test_ctrl_c_during_an_azure_call_interrupts_restores_and_says_how_to_resume(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    # The cut's call hangs long enough for the operator to press Ctrl-C.
    simulator.add_fault(
        "latency", listener="arm", operation="GET securityRules", delay_seconds=8,
        remaining=3,
    )  # fmt: skip
    child = subprocess.Popen(
        [
            sys.executable, "-m", "tdemesh", "run", "vault-loss", "--yes",
            "--confirm", "nsg-sqlmi-eastus2", "--config",
            str(simulator.config_path), "--data-dir", str(dirs.root),
        ],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    _wait_for(dirs, "cut-", child)
    time.sleep(1.0)
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=180)

    assert child.returncode == 130, out[-3000:]
    assert "unexpected error" not in out and "Traceback" not in out
    (journal,) = dirs.journal.glob("*.jsonl")
    assert f"resume with: tdemesh run vault-loss --resume {journal.stem}" in out
    records = read(Path(journal))
    cut = [
        r
        for r in records
        if r["type"] == "step_result" and r["step"].startswith("cut-")
    ]
    assert cut and cut[0]["state"] == "interrupted", out[-3000:]
    restored = [
        r
        for r in records
        if r["type"] == "step_result" and r["step"].startswith("uncut-")
    ]
    assert restored, out[-3000:]  # the restore ran once
    assert records[-1]["type"] == "run_finished"
    assert records[-1]["outcome"] == "interrupted"


def test_ctrl_c_at_a_confirmation_prompt_is_an_interruption(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    """At a real terminal (a pty): Ctrl-C at `Go ahead? [y/N]` stops the run
    with exit 130 and the resume command, without a traceback."""
    import os
    import pty
    import select

    argv = [
        sys.executable, "-m", "tdemesh", "run", "rotation",
        "--config", str(simulator.config_path), "--data-dir", str(dirs.root),
    ]  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, at a terminal
        os.execv(sys.executable, argv)
    seen, pressed, status = b"", False, None
    deadline = time.monotonic() + 300  # a loaded machine starts slowly
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                with contextlib.suppress(OSError):  # the child has gone
                    seen += os.read(fd, 4096)
            if not pressed and seen.endswith(b"Go ahead? [y/N] "):
                # As a person would, a moment after the prompt: Ctrl-C before
                # the prompt waits for a key can be missed (CPython's readline
                # then waits for the next key).
                time.sleep(1.0)
                os.write(fd, b"\x03")  # Ctrl-C, as the terminal sends it
                pressed = True
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = code
                break
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)

    text = seen.decode(errors="replace")
    assert pressed, text[-2000:]
    assert status is not None and os.WEXITSTATUS(status) == 130, text[-2000:]
    assert "Traceback" not in text and "unexpected error" not in text
    assert "resume with: tdemesh run rotation --resume" in text
