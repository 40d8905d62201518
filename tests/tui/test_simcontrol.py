"""The console's simulator controls when the simulator is gone."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from azuresim.tls import ensure_certificates
from tui.simcontrol import SimControl, SimError


def a_closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_simulator_that_does_not_answer_is_a_sim_error(tmp_path: Path) -> None:
    tls = ensure_certificates(tmp_path)
    control = SimControl(f"https://127.0.0.1:{a_closed_port()}/_sim", str(tls.ca), ())

    with pytest.raises(SimError, match="no answer"):
        control.state()
