"""Async triggers of the Toloka provider, used by the deferrable sensors and operators."""
