"""A local Toloka emulator: a Toloka-compatible HTTP server on 127.0.0.1 with a simulated crowd and faults.

Use it in process (``with TolokaEmulator() as emu: ... emu.url``), as a command
(``python -m toloka_provider.emulator``) or through the pytest fixtures ``toloka_emulator`` and
``toloka_emulator_factory``. It imports neither Airflow nor ``toloka_provider.client``.

The layout: ``state.py`` holds the world (objects, ids, clock, balance, the modules' books); ``router.py`` and
``server.py`` serve HTTP; ``api_v1``, ``bulk``, ``listing``, ``validation``, ``aggregation``, ``analytics``,
``apps``, ``quality``, ``messages``, ``webhooks``, ``export`` and ``project_check`` add routes; ``crowd.py``
(with ``workers.py`` and ``truth.py``) is the one actor that changes the world on its own; ``control.py`` holds
the ``/_emulator/*`` endpoints, which read and switch.
"""

from __future__ import annotations

from toloka_provider.emulator.server import TolokaEmulator
from toloka_provider.emulator.state import EmulatorOptions

__all__ = ["EmulatorOptions", "TolokaEmulator"]
