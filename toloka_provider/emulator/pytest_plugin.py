"""pytest plugin: the ``toloka_emulator`` fixture (filled in by the emulator issue)."""
