"""A local Toloka emulator: a Toloka-compatible HTTP server on 127.0.0.1 with a simulated crowd and faults.

Use it in process (``with TolokaEmulator() as emu: ... emu.url``), as a command
(``python -m toloka_provider.emulator``) or through the pytest fixtures ``toloka_emulator`` and
``toloka_emulator_factory``. It imports neither Airflow nor ``toloka_provider.client``.

Module map and the plug-in points between them:

* ``state.py``   — the in-memory store (objects, ids, clock, balance, counters); its docstring is the contract.
* ``router.py``  — route templates, the request object and the handler contract.
* ``errors.py``  — ``ApiError`` and helpers that handlers raise.
* ``server.py``  — the HTTP server and ``TolokaEmulator``. At start it imports, when present,
  ``crowd``, ``analytics`` and ``apps`` from this package and calls their ``register(router, state)``;
  then, if ``crowd`` defines ``Crowd``, it builds ``crowd.Crowd(state, options)`` (``options`` is
  ``state.EmulatorOptions``) and calls ``start()``; on stop it calls ``stop()``. ``pause()`` and ``resume()``
  are called for ``/_emulator/crowd/pause`` and ``/_emulator/crowd/resume``. All four must return quickly.
* ``api_v1.py``, ``bulk.py``, ``listing.py``, ``validation.py``, ``aggregation.py`` — the ``/api/v1`` resources.
* ``faults.py``  — fault injection; ``control.py`` — ``/_emulator/*`` endpoints and the web UI pages.
"""

from __future__ import annotations

__all__ = ["EmulatorOptions", "TolokaEmulator"]


def __getattr__(name: str):
    # Lazy, so that `import toloka_provider.emulator.state` does not start importing the server.
    if name == "TolokaEmulator":
        from toloka_provider.emulator.server import TolokaEmulator

        return TolokaEmulator
    if name == "EmulatorOptions":
        from toloka_provider.emulator.state import EmulatorOptions

        return EmulatorOptions
    raise AttributeError(name)
