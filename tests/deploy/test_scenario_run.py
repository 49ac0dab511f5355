"""``deploy/stack.py``'s ``scenario_run``: how the deployment scripts end a scenario.

Whatever the body does (passes, fails a check, is interrupted, raises), the stack is stopped, the outcome is
printed rather than raised, and with ``check_left`` a process of the stack that outlives ``stop()`` fails the run.
The stacks here are stand-ins; the real ones run in ``make test-deploy-oldest`` and ``make test-deploy-faults``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

STACK_FILE = Path(__file__).resolve().parents[2] / "deploy" / "stack.py"


@pytest.fixture(scope="module")
def stack_module():
    spec = importlib.util.spec_from_file_location("deploy_stack_under_test", STACK_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeProc:
    def __init__(self, name: str, popen) -> None:
        self.name = name
        self.popen = popen

    def tail(self, lines: int = 30) -> str:
        return f"last line of {self.name}"


class FakeStack:
    """Procs with real pids; ``stop()`` kills them unless told to leave them running."""

    def __init__(self, root: Path, popens: dict, kill_on_stop: bool = True) -> None:
        self.root = root
        self.procs = [FakeProc(name, popen) for name, popen in popens.items()]
        self.kill_on_stop = kill_on_stop
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1
        if self.kill_on_stop:
            for proc in self.procs:
                proc.popen.kill()
                proc.popen.wait(timeout=10)
        self.procs.clear()


@pytest.fixture
def sleeper():
    started = []

    def start():
        popen = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        started.append(popen)
        return popen

    yield start
    for popen in started:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)


def test_a_clean_body_is_ok_and_stops_the_stack(stack_module, tmp_path, sleeper, capsys):
    stack = FakeStack(tmp_path, {"scheduler": sleeper()})
    with stack_module.scenario_run(stack, check_left=True) as run:
        pass
    assert (run.ok, stack.stopped) == (True, 1)
    err = capsys.readouterr().err
    assert "FAILED" not in err and "last line of" not in err


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (lambda m: m.CheckFailed("labels missing"), "FAILED: labels missing"),
        (lambda m: KeyboardInterrupt(), "Interrupted."),
        (lambda m: RuntimeError("api-server exited"), "FAILED: RuntimeError('api-server exited')"),
    ],
)
def test_a_failing_body_is_reported_with_the_components_tails_and_the_stack_stopped(
    stack_module, tmp_path, sleeper, capsys, raised, said
):
    stack = FakeStack(tmp_path, {"scheduler": sleeper(), "triggerer": sleeper()})
    with stack_module.scenario_run(stack) as run:
        raise raised(stack_module)
    assert (run.ok, stack.stopped) == (False, 1)
    err = capsys.readouterr().err
    assert said in err
    assert "--- scheduler (last lines) ---\nlast line of scheduler" in err
    assert "--- triggerer (last lines) ---\nlast line of triggerer" in err


def test_a_process_left_after_stop_fails_the_run(stack_module, tmp_path, sleeper, capsys):
    left = sleeper()
    stack = FakeStack(tmp_path, {"scheduler": left}, kill_on_stop=False)
    with stack_module.scenario_run(stack, check_left=True) as run:
        pass
    assert (run.ok, stack.stopped, left.poll()) == (False, 1, None)
    err = capsys.readouterr().err
    assert "FAILED: no process left after the stack stopped (" in err and f"{left.pid}: b" in err


def test_a_process_left_is_not_looked_for_unless_asked(stack_module, tmp_path, sleeper):
    stack = FakeStack(tmp_path, {"scheduler": sleeper()}, kill_on_stop=False)
    with stack_module.scenario_run(stack) as run:
        pass
    assert run.ok is True
