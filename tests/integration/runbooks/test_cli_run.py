"""`tdemesh run` and `tdemesh journal verify` against the simulator, as an
operator types them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from azuresim.process import SimProcess
from mesh.assessment import Verdict
from runbooks.paths import StateDirs
from tdemesh.cli import _register, cli
from tests.integration.runbooks.runbook_helpers import assessment_of, estate_of


def tdemesh(*args: str) -> tuple[int, str]:
    _register()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def b64(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_plan_prints_every_call_and_changes_nothing(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    config = str(simulator.config_path)
    before = simulator.state()["instances"]

    code, out = tdemesh(
        "run", "rotation", "--plan", "--config", config, "--data-dir", str(dirs.root)
    )

    assert code == 0, out
    assert "keys.create_rsa_key on kv-tde-eastus2/keys/tde-protector--" in out
    assert "sql.managed_instance_encryption_protectors.begin_create_or_update" in out
    assert simulator.state()["instances"] == before
    assert list(dirs.journal.iterdir()) == []


def test_setup_from_an_hsm_export_on_the_command_line(
    greenfield: SimProcess, dirs: StateDirs, tmp_path: Path
) -> None:
    numbers = rsa.generate_private_key(65537, 3072).private_numbers()
    export = tmp_path / "hsm-export.json"
    export.write_text(
        json.dumps(
            {
                "kty": "RSA-HSM",
                "n": b64(numbers.public_numbers.n),
                "e": b64(numbers.public_numbers.e),
                "d": b64(numbers.d),
                "p": b64(numbers.p),
                "q": b64(numbers.q),
                "dp": b64(numbers.dmp1),
                "dq": b64(numbers.dmq1),
                "qi": b64(numbers.iqmp),
            }
        )
    )
    common = ["--config", str(greenfield.config_path), "--data-dir", str(dirs.root)]

    code, out = tdemesh(
        "run", "setup", "--yes", "-p", "route=hsm", "-p", f"key_file={export}",
        *common,
    )  # fmt: skip

    assert code == 0, out
    assert "[   done] Import the key material into kv-tde-centralus" in out
    assert "Run succeeded" in out
    assert assessment_of(estate_of(greenfield)).verdict is Verdict.HEALTHY
    code, out = tdemesh("journal", "verify", "--data-dir", str(dirs.root))
    assert code == 0 and out.startswith("ok")


def test_a_refusal_is_explained_without_a_traceback(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    code, out = tdemesh(
        "run", "rotation", "--yes", "-p", "retire_old=delete",
        "--config", str(simulator.config_path), "--data-dir", str(dirs.root),
    )  # fmt: skip

    assert code == 1
    assert "Old versions are never disabled or deleted" in out
    assert "Traceback" not in out


def test_at_a_terminal_the_operator_types_the_name_and_a_reason(
    simulator: SimProcess, dirs: StateDirs
) -> None:
    """The drill asks at a real terminal (a pty) and records the answers."""
    import os
    import pty
    import select
    import sys
    import time

    answers = {
        b"go ahead: ": b"nsg-sqlmi-eastus2\n",
        b"(recorded in the journal): ": b"quarterly drill\n",
    }
    argv = [
        sys.executable, "-m", "tdemesh", "run", "vault-loss",
        "--config", str(simulator.config_path), "--data-dir", str(dirs.root),
    ]  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, at a terminal
        os.execv(sys.executable, argv)
    seen, answered = b"", 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and b"Report:" not in seen:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
            for prompt, answer in answers.items():
                if seen.endswith(prompt):
                    os.write(fd, answer)
                    answered += 1
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)

    text = seen.decode(errors="replace")
    assert answered == 2, text[-2000:]
    assert "Run succeeded" in text, text[-2000:]
    (journal,) = dirs.journal.glob("*.jsonl")
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    (confirmation,) = [r for r in records if r["type"] == "confirmation"]
    assert confirmation["typed"] == "nsg-sqlmi-eastus2"
    assert confirmation["reason"] == "quarterly drill"
