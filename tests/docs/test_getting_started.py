"""The getting-started page works as written: its blocks, run top to bottom in an empty folder, defer and succeed.

The page's ``bash`` blocks are joined into one script (one shell, as a reader pastes them) and its titled block
is saved under its title; the script runs with the installed ``airflow`` and ``python`` first on PATH, in a
temporary folder, with no ``AIRFLOW_*`` variable of this test session. The one change made to the page's text:
its emulator port, 40123, becomes a free port (so parallel runs cannot collide).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from docs_blocks import getting_started_steps

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

PAGE_PORT = "40123"
SCRIPT_TIMEOUT = 540


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def _clean_env(folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "TOLOKA_", "_AIRFLOW"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["HOME"] = str(folder)  # nothing from the user's ~/airflow
    return env


def test_getting_started_runs_top_to_bottom(tmp_path):
    port = _free_port()
    script = ["set -euo pipefail"]
    for block in getting_started_steps():
        text = block.text.replace(PAGE_PORT, port)
        if block.title:
            target = tmp_path / block.title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        else:
            script.append(text)
    (tmp_path / "page.sh").write_text("\n".join(script), encoding="utf-8")

    # Output to a file, not a pipe: the emulator the page starts in the background inherits it, and a pipe
    # would stay open after a failed script (the page stops the emulator only on its way to success).
    with open(tmp_path / "page.out", "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            ["bash", "page.sh"], cwd=tmp_path, env=_clean_env(tmp_path), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            process.wait(timeout=SCRIPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass  # reported below: no return code
        finally:
            # Whatever the page left in its session (the emulator after a failure) is stopped here.
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
    output = (tmp_path / "page.out").read_text(encoding="utf-8")
    run_log = (tmp_path / "run.log").read_text(encoding="utf-8") if (tmp_path / "run.log").exists() else ""
    shown = f"script output:\n{output[-4000:]}\nrun.log tail:\n{run_log[-4000:]}"

    assert process.returncode == 0, shown
    assert "Connection success" in output, shown
    assert "running trigger in line" in output, shown  # the sensor deferred (the page greps it)
    assert "state=success" in output, shown  # DagRun Finished: ... state=success
    [labels] = list((tmp_path / "airflow_home" / "out").glob("*/labels.jsonl"))
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and {row["output_values"]["positive"] for row in rows} <= {"yes", "no"}
