"""pytest plugin (entry point ``pytest11``): fixtures that run the Toloka emulator in process.

* ``toloka_emulator`` — a :class:`TolokaEmulator` with default options, started for one test::

      def test_my_dag(toloka_emulator):
          client = MyClient(url=toloka_emulator.url, token=toloka_emulator.token)

* ``toloka_emulator_factory`` — call it with ``TolokaEmulator`` options to start as many as needed; all are
  stopped at teardown::

      def test_with_faults(toloka_emulator_factory):
          emu = toloka_emulator_factory(faults="500=0.1", seed=3, crowd=5)

The plugin imports the emulator lazily, so that loading it costs nothing in test runs that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def toloka_emulator_factory() -> Iterator[Callable[..., Any]]:
    from toloka_provider.emulator.server import TolokaEmulator

    started: list[TolokaEmulator] = []

    def start(**options: Any) -> TolokaEmulator:
        emulator = TolokaEmulator(**options)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in reversed(started):
        emulator.stop()


@pytest.fixture
def toloka_emulator(toloka_emulator_factory: Callable[..., Any]) -> Any:
    return toloka_emulator_factory()
